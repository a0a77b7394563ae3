"""The USB 2D barcode scanner at the kiosk, read through evdev (python-evdev).

A keyboard-mode ("HID keyboard", "USB KBW") scanner types what it reads as key presses and
ends with Enter. The kiosk reads its input device directly, not a terminal, so it works under
systemd with nobody logged in, and grabs it exclusively, so the scanned text goes nowhere else
(no console, no other program).

- `KeyDecoder` turns key events into characters: a US layout with Shift; Alt held with keypad
  digits is one character, as scanners type what a US layout lacks (Vietnamese letters of a
  name or address), the way Windows reads it: a leading 0 for the Windows code page
  (cp1252, whose upper half is Latin-1: à á â ã è é ê ì í ò ó ô õ ù ú ý), else a decimal code
  point from 256 up (ă đ ơ ư ạ ả … ữ), else the old PC code page (cp437). Models that drop such letters or
  type ``?`` lose nothing the kiosk needs: the ID number and the dates are ASCII.
- `LineAssembler` gathers characters into a line until Enter; a line that stops without Enter
  for `timeout_s` (a scan cut short) comes out as partial, and so does one past `MAX_LINE`.
- `ScannerReader` runs on its own thread: it finds the device (a path, or part of its name),
  grabs it, reads, and only hands each `Scan` to a sink (the kiosk's inbox). Unplugged, it
  looks for the device again every `poll_s`; it logs once when the scanner is lost and once
  when it is back.

Nothing here logs or keeps what was scanned.
"""

from __future__ import annotations

import errno
import logging
import select
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol

logger = logging.getLogger(__name__)

POLL_S = 1.0  # how often an absent scanner is looked for
READ_WAIT_S = 0.1  # the reader wakes at least this often (a partial line's time-out, stop)
MAX_LINE = 1024  # a CCCD line is ~150 characters; anything far longer is not one
EV_KEY = 0x01
UP, DOWN = 0, 1

# evdev key codes (linux/input-event-codes.h, as evdev.ecodes names them) of a US keyboard:
# code -> (plain, shifted)
_LETTERS = dict(zip((16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 30, 31, 32, 33, 34, 35, 36, 37, 38,
                     44, 45, 46, 47, 48, 49, 50), "qwertyuiopasdfghjklzxcvbnm"))
US_KEYS: dict[int, tuple[str, str]] = {code: (ch, ch.upper()) for code, ch in _LETTERS.items()}
US_KEYS.update({
    2: ("1", "!"), 3: ("2", "@"), 4: ("3", "#"), 5: ("4", "$"), 6: ("5", "%"), 7: ("6", "^"), 8: ("7", "&"),
    9: ("8", "*"), 10: ("9", "("), 11: ("0", ")"), 12: ("-", "_"), 13: ("=", "+"), 26: ("[", "{"),
    27: ("]", "}"), 39: (";", ":"), 40: ("'", '"'), 41: ("`", "~"), 43: ("\\", "|"), 51: (",", "<"),
    52: (".", ">"), 53: ("/", "?"), 57: (" ", " "), 15: ("\t", "\t"),
    86: ("\\", "|"),  # KEY_102ND: the extra key of ISO keyboards, sent by some scanners for |
    55: ("*", "*"), 74: ("-", "-"), 78: ("+", "+"), 83: (".", "."), 98: ("/", "/"),  # keypad
})
KEYPAD_DIGITS = {82: "0", 79: "1", 80: "2", 81: "3", 75: "4", 76: "5", 77: "6", 71: "7", 72: "8", 73: "9"}
ENTER_KEYS = {28, 96}  # KEY_ENTER, KEY_KPENTER
MODIFIERS = {42: "shift", 54: "shift", 56: "alt", 100: "alt", 29: "ctrl", 97: "ctrl"}  # left and right
ENTER = "\n"


@dataclass(frozen=True)
class Scan:
    """A line the scanner typed: `complete` if it ended with Enter, else cut short (partial).
    `at` is the monotonic time of its last key. The text never shows in a repr (logs)."""
    text: str = field(repr=False)
    complete: bool
    at: float


class KeyDecoder:
    """Key events of a US-layout keyboard to characters (`ENTER` for Enter); see the module."""

    def __init__(self) -> None:
        self._held: dict[str, set[int]] = {"shift": set(), "alt": set(), "ctrl": set()}
        self._alt_digits = ""

    def feed(self, code: int, value: int) -> str | None:
        """One key event (value 1 down, 0 up, 2 auto-repeat); the character it types, if any."""
        modifier = MODIFIERS.get(code)
        if modifier is not None:
            held = self._held[modifier]
            if value == DOWN:
                held.add(code)
            elif value == UP:
                held.discard(code)
                if modifier == "alt" and not held:
                    return self._alt_character()
            return None
        if value != DOWN:
            return None
        if self._held["alt"]:
            if code in KEYPAD_DIGITS:
                self._alt_digits += KEYPAD_DIGITS[code]
            return None
        if self._held["ctrl"]:
            return None
        if code in ENTER_KEYS:
            return ENTER
        if code in KEYPAD_DIGITS:
            return KEYPAD_DIGITS[code]
        pair = US_KEYS.get(code)
        if pair is None:
            return None
        return pair[1] if self._held["shift"] else pair[0]

    def _alt_character(self) -> str | None:
        digits, self._alt_digits = self._alt_digits, ""
        if not digits:
            return None
        number = int(digits)
        if number >= 256:
            return "\ufffd" if number > 0x10FFFF or 0xD800 <= number <= 0xDFFF else chr(number)
        if number == 0:
            return None
        return bytes([number]).decode("cp1252" if digits.startswith("0") else "cp437", errors="replace")


class LineAssembler:
    """Characters into lines, ended by Enter or by `timeout_s` of silence (partial)."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._chars: list[str] = []
        self._last_at = 0.0

    def feed(self, char: str, at: float) -> Scan | None:
        """Add one character typed at `at`; a finished line, if this ended one."""
        if char == ENTER:
            if not self._chars:
                return None
            return self._take(True)
        self._chars.append(char)
        self._last_at = at
        if len(self._chars) > MAX_LINE:
            return self._take(False)
        return None

    def expire(self, at: float) -> Scan | None:
        """The line so far as partial, if nothing came for `timeout_s` before `at`."""
        if self._chars and at - self._last_at >= self.timeout_s:
            return self._take(False)
        return None

    def deadline(self) -> float | None:
        """When the line so far becomes partial; None when there is none."""
        return self._last_at + self.timeout_s if self._chars else None

    def _take(self, complete: bool) -> Scan:
        scan = Scan("".join(self._chars), complete, self._last_at)
        self._chars = []
        return scan


class InputEvent(Protocol):
    """What the reader needs of an `evdev.InputEvent`."""
    type: int
    code: int
    value: int


class ScannerDevice(Protocol):
    """An opened, grabbed scanner (`EvdevScanner`; tests give a fake one)."""
    name: str

    def read_events(self, timeout_s: float) -> Iterable[InputEvent]:
        """The events that came within `timeout_s` (maybe none); OSError when it is gone."""

    def close(self) -> None: ...


class EvdevScanner:
    """A scanner's evdev input device, grabbed for this process alone."""

    def __init__(self, device: Any) -> None:
        self.device = device
        self.name = f"{device.name} ({device.path})"
        device.grab()  # the scanned text reaches no console and no other program

    def read_events(self, timeout_s: float) -> Iterable[InputEvent]:
        ready, _, _ = select.select([self.device.fd], [], [], timeout_s)
        if not ready:
            return []
        try:
            return list(self.device.read())
        except BlockingIOError:
            return []

    def close(self) -> None:
        try:
            self.device.ungrab()
        except OSError:
            pass  # unplugged: nothing to let go of
        self.device.close()


def open_evdev(spec: str) -> ScannerDevice | None:
    """The scanner `spec` names — a device path, or a case-insensitive part of a device's name
    (the first keyboard-like one that matches) — opened and grabbed; None if it is not there.
    Raises PermissionError when the device is there but this user may not read it, OSError when
    python-evdev is missing (on a Pi it is Debian's python3-evdev: scripts/install adds it)."""
    try:
        import evdev
    except ImportError:
        raise OSError(errno.ENOENT, "python-evdev is not installed (apt install python3-evdev)") from None

    if spec.startswith("/"):
        try:
            return EvdevScanner(evdev.InputDevice(spec))
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno in (errno.ENODEV, errno.ENOENT, errno.ENXIO):
                return None
            raise
    for path in evdev.list_devices():
        try:
            device = evdev.InputDevice(path)
        except OSError:
            continue  # gone meanwhile, or not ours to read (another group's device)
        if spec.lower() in device.name.lower() and evdev.ecodes.EV_KEY in device.capabilities():
            return EvdevScanner(device)
        device.close()
    return None


class ScannerReader:
    """The scanner's own thread: find, grab, read, hand `Scan`s to `sink`; recover by itself.

    `open_device(spec)` opens the device or returns None when it is not plugged in
    (`open_evdev`; tests give a fake)."""

    def __init__(self, spec: str, sink: Callable[[Scan], None], *, timeout_s: float,
                 open_device: Callable[[str], ScannerDevice | None] = open_evdev, poll_s: float = POLL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.spec = spec
        self.sink = sink
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self.clock = clock
        self.connected = threading.Event()  # set while the scanner is open and read
        self._open_device = open_device
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scanner", daemon=True)
        self._absent_logged = False
        self._problem = ""

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            device = self._find()
            if device is None:
                self._stop.wait(self.poll_s)
                continue
            logger.info("ID card scanner ready: %s", device.name)
            self._absent_logged = False
            self.connected.set()
            try:
                self._read(device)
            except OSError as exc:
                logger.warning("ID card scanner lost (%s); looking for it every %g s", exc.strerror or exc,
                               self.poll_s)
                self._absent_logged = True
            finally:
                self.connected.clear()
                device.close()

    def _find(self) -> ScannerDevice | None:
        try:
            device = self._open_device(self.spec)
        except OSError as exc:  # no permission (not in group input), grabbed by another program
            problem = f"{type(exc).__name__}: {exc}"
            if problem != self._problem:
                hint = " (is the kiosk's user in group input?)" if isinstance(exc, PermissionError) else ""
                logger.error("cannot open the ID card scanner %r: %s%s", self.spec, problem, hint)
                self._problem = problem
            return None
        self._problem = ""
        if device is None and not self._absent_logged:
            logger.warning("ID card scanner %r not found; looking for it every %g s", self.spec, self.poll_s)
            self._absent_logged = True
        return device

    def _read(self, device: ScannerDevice) -> None:
        decoder = KeyDecoder()
        line = LineAssembler(self.timeout_s)
        while not self._stop.is_set():
            deadline = line.deadline()
            wait = READ_WAIT_S if deadline is None else max(0.0, min(READ_WAIT_S, deadline - self.clock()))
            for event in device.read_events(wait):
                if event.type != EV_KEY:
                    continue
                char = decoder.feed(event.code, event.value)
                scan = line.feed(char, self.clock()) if char is not None else None
                if scan is not None:
                    self.sink(scan)
            scan = line.expire(self.clock())
            if scan is not None:
                self.sink(scan)
