"""Small real test doubles for the kiosk: a bus that records, a clock moved by hand, and
escpos Dummy printers that answer status queries or fail to write."""

from __future__ import annotations

import queue
import threading
from typing import Any

from escpos.printer import Dummy
from queuebox.protocol import Topics


class FakeBus:
    """The part of `queuebox.bus.Bus` the kiosk uses; `published` records (topic, payload, retain)."""

    def __init__(self, topics: Topics, client_id: str) -> None:
        self.topics = topics
        self.client_id = client_id
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.connected = threading.Event()
        self.connected.set()
        self.published: list[tuple[str, Any, bool]] = []

    def publish(self, topic: str, message: Any, *, retain: bool = False, qos: int = 1,
                expiry_s: float | None = None) -> None:
        self.published.append((topic, message, retain))


class FakeMonotonic:
    """A monotonic clock the test moves by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


class AnsweringDummy(Dummy):
    """A Dummy that answers ``DLE EOT`` status queries like a printer: `answers` maps the
    query to the reply bytes, or to an exception raised while reading. Change it any time."""

    def __init__(self, answers: dict[bytes, bytes | BaseException]) -> None:
        super().__init__()
        self.answers = answers
        self.last = b""

    def _raw(self, msg: bytes) -> None:
        self.last = msg
        super()._raw(msg)

    def _read(self) -> bytes:
        answer = self.answers[self.last]
        if isinstance(answer, BaseException):
            raise answer
        return answer


class BrokenDummy(Dummy):
    """A printer whose ticket writes fail while `error` is set (a USB write timing out on a
    jammed printer); with `jobs_only` false every write fails, status queries too."""

    def __init__(self, error: BaseException | None, *, jobs_only: bool = True) -> None:
        super().__init__()
        self.error = error
        self.jobs_only = jobs_only

    def _raw(self, msg: bytes) -> None:
        if self.error is not None and (msg.startswith(b"\x1b@") or not self.jobs_only):
            raise self.error
        super()._raw(msg)


class RecordedScanner:
    """A keyboard-mode scanner as the kiosk's reader sees it through evdev: real
    `evdev.InputEvent`s, played from a queue the test fills (`type_text`), and `unplug()`,
    after which reading fails like a removed device (ENODEV). This machine has no /dev/uinput,
    so the kernel cannot make a real virtual device for the reader."""

    def __init__(self, name: str = "SM-2D PRODUCT HID KBW") -> None:
        self.name = name
        self.events: queue.Queue[Any] = queue.Queue()
        self.gone = False
        self.closed = False

    def type_text(self, text: str, enter: bool = True) -> None:
        for event in key_events(text, enter):
            self.events.put(event)

    def read_events(self, timeout_s: float) -> list[Any]:
        if self.gone:
            raise OSError(19, "No such device")
        try:
            first = self.events.get(timeout=timeout_s)
        except queue.Empty:
            return []
        found = [first]
        while not self.events.empty():
            found.append(self.events.get_nowait())
        return found

    def unplug(self) -> None:
        self.gone = True

    def close(self) -> None:
        self.closed = True


def key_events(text: str, enter: bool = True) -> list[Any]:
    """The evdev events a US-layout keyboard-mode scanner sends for `text` (and Enter): Shift
    for capitals and symbols, and for letters outside ASCII Alt + the code point's decimal
    digits on the keypad as Windows reads them (the "Unicode" Alt mode of scanners): with a
    leading 0 for Latin-1 letters (à, ã, ô …), the code point for the others (ă, đ, ữ …)."""
    from evdev import InputEvent, ecodes

    shifted = {'!': '1', '@': '2', '#': '3', '$': '4', '%': '5', '^': '6', '&': '7', '*': '8', '(': '9', ')': '0',
               '_': 'MINUS', '+': 'EQUAL', '{': 'LEFTBRACE', '}': 'RIGHTBRACE', ':': 'SEMICOLON', '"': 'APOSTROPHE',
               '~': 'GRAVE', '|': 'BACKSLASH', '<': 'COMMA', '>': 'DOT', '?': 'SLASH'}
    plain = {'-': 'MINUS', '=': 'EQUAL', '[': 'LEFTBRACE', ']': 'RIGHTBRACE', ';': 'SEMICOLON', "'": 'APOSTROPHE',
             '`': 'GRAVE', '\\': 'BACKSLASH', ',': 'COMMA', '.': 'DOT', '/': 'SLASH', ' ': 'SPACE'}
    t = [0.0]

    def key(name: str, value: int) -> Any:
        t[0] += 0.0005
        return InputEvent(int(t[0]), int(t[0] % 1 * 1e6), ecodes.EV_KEY, getattr(ecodes, f"KEY_{name}"), value)

    def tap(name: str, *held: str) -> list[Any]:
        return [*(key(h, 1) for h in held), key(name, 1), key(name, 0), *(key(h, 0) for h in reversed(held))]

    events: list[Any] = []
    for ch in text:
        if not ch.isascii():
            events.append(key("LEFTALT", 1))
            for digit in str(ord(ch)) if ord(ch) >= 256 else f"0{ord(ch)}":
                events += tap(f"KP{digit}")
            events.append(key("LEFTALT", 0))
        elif ch.isalpha():
            events += tap(ch.upper(), *(["LEFTSHIFT"] if ch.isupper() else []))
        elif ch.isdigit():
            events += tap(ch)
        elif ch in shifted:
            name = shifted[ch]
            events += tap(name, "LEFTSHIFT")
        else:
            events += tap(plain[ch])
    if enter:
        events += tap("ENTER")
    return events
