"""The ID card scanner's reader: key events to lines, partial lines, unplug and replug."""

from __future__ import annotations

import logging
import queue
import string
import threading

import pytest

from device.scanner import KeyDecoder, LineAssembler, Scan, ScannerReader, open_evdev
from tests.device.fakes import RecordedScanner, key_events

CARD = ("079052001234||Nguyễn Thị Hường|15041950|Nữ|"
        "Tổ 12, Ấp Phước Thạnh, Xã Hưng Mỹ Đông, Huyện Châu Thành, Tỉnh Trà Vinh|10082021")
WAIT_S = 5.0


def decode(events) -> list[Scan]:
    decoder, line, scans = KeyDecoder(), LineAssembler(timeout_s=0.5), []
    for event in events:
        char = decoder.feed(event.code, event.value)
        if char is not None and (scan := line.feed(char, 0.0)) is not None:
            scans.append(scan)
    return scans


@pytest.mark.parametrize("text", [
    string.ascii_letters, string.digits, string.punctuation + " ", CARD,
    "079052001234|023456789|NGUYEN VAN AN|01011950|Nam|So 7 Le Loi|10082021",
])
def test_the_text_a_us_layout_scanner_types_comes_back_whole(text):
    assert [(s.text, s.complete) for s in decode(key_events(text))] == [(text, True)]


def alt_code(digits: str) -> list:
    from evdev import InputEvent, ecodes
    events = [InputEvent(0, 0, ecodes.EV_KEY, ecodes.KEY_LEFTALT, 1)]
    for d in digits:
        code = getattr(ecodes, f"KEY_KP{d}")
        events += [InputEvent(0, 0, ecodes.EV_KEY, code, 1), InputEvent(0, 0, ecodes.EV_KEY, code, 0)]
    return events + [InputEvent(0, 0, ecodes.EV_KEY, ecodes.KEY_LEFTALT, 0)]


@pytest.mark.parametrize("digits, char", [
    ("7918", "Ữ"),  # a code point (scanners' "Unicode" Alt mode)
    ("273", "đ"),
    ("0227", "ã"),  # a leading 0: the Windows code page cp1252
    ("0128", "€"),
    ("130", "é"),  # no leading 0: the PC's old code page 437
])
def test_alt_and_keypad_digits_type_one_character(digits, char):
    scans = decode([*key_events("A", enter=False), *alt_code(digits), *key_events("B")])
    assert scans[0].text == f"A{char}B"


def test_keys_that_type_nothing_are_dropped():
    from evdev import InputEvent, ecodes
    events = [InputEvent(0, 0, ecodes.EV_KEY, ecodes.KEY_LEFTCTRL, 1), InputEvent(0, 0, ecodes.EV_KEY, ecodes.KEY_J, 1),
              InputEvent(0, 0, ecodes.EV_KEY, ecodes.KEY_J, 0), InputEvent(0, 0, ecodes.EV_KEY, ecodes.KEY_LEFTCTRL, 0),
              InputEvent(0, 0, ecodes.EV_KEY, ecodes.KEY_F5, 1), InputEvent(0, 0, ecodes.EV_KEY, ecodes.KEY_1, 2)]
    assert decode([*events, *key_events("12")])[0].text == "12"


def test_a_line_without_enter_comes_out_partial_after_the_timeout():
    line = LineAssembler(timeout_s=0.5)
    for i, ch in enumerate("0790520"):
        assert line.feed(ch, 10.0 + i * 0.001) is None
    assert line.expire(10.4) is None
    assert line.deadline() == pytest.approx(10.506)
    scan = line.expire(10.6)
    assert scan == Scan("0790520", False, pytest.approx(10.006))
    assert line.expire(20.0) is None and line.deadline() is None
    assert line.feed("\n", 20.0) is None  # a lone Enter is no line


def test_a_line_far_too_long_for_a_card_is_cut_partial():
    line = LineAssembler(timeout_s=0.5)
    scans = [s for s in (line.feed("9", 1.0) for _ in range(1025)) if s is not None]
    assert len(scans) == 1 and not scans[0].complete


def test_a_scan_never_shows_its_text_in_a_repr():
    assert "079052001234" not in repr(Scan(CARD, True, 1.0))


class Plug:
    """The USB socket: `open` gives the scanner while it is plugged in, else None."""

    def __init__(self) -> None:
        self.scanner: RecordedScanner | None = None
        self.opened = threading.Event()
        self.specs: list[str] = []

    def open(self, spec: str) -> RecordedScanner | None:
        self.specs.append(spec)
        if self.scanner is None or self.scanner.gone:
            return None
        self.opened.set()
        return self.scanner

    def plug_in(self) -> RecordedScanner:
        self.opened.clear()
        self.scanner = RecordedScanner()
        return self.scanner


@pytest.fixture
def plug():
    return Plug()


@pytest.fixture
def reader(plug):
    scans: queue.Queue[Scan] = queue.Queue()
    reader = ScannerReader("HID KBW", scans.put, timeout_s=0.3, open_device=plug.open, poll_s=0.05)
    reader.scans = scans
    yield reader
    reader.stop()


def test_the_reader_hands_each_line_to_the_sink_and_a_cut_one_as_partial(plug, reader):
    scanner = plug.plug_in()
    reader.start()
    assert plug.opened.wait(WAIT_S)
    scanner.type_text(CARD)
    assert reader.scans.get(timeout=WAIT_S) == Scan(CARD, True, pytest.approx(0, abs=1e9))
    scanner.type_text("0790520012", enter=False)
    partial = reader.scans.get(timeout=WAIT_S)
    assert (partial.text, partial.complete) == ("0790520012", False)
    assert plug.specs[0] == "HID KBW"


def test_unplugged_and_plugged_back_it_recovers_by_itself_logging_once_each_way(plug, reader, caplog):
    caplog.set_level(logging.INFO, logger="device.scanner")
    reader.start()  # not plugged in at start
    scanner = plug.plug_in()
    assert plug.opened.wait(WAIT_S) and reader.connected.wait(WAIT_S)
    scanner.type_text("1|2")
    assert reader.scans.get(timeout=WAIT_S).text == "1|2"
    scanner.unplug()
    opens = len(plug.specs)
    while len(plug.specs) < opens + 5:  # it keeps looking, every poll_s
        threading.Event().wait(0.05)
    assert scanner.closed and not reader.connected.is_set()
    again = plug.plug_in()
    assert plug.opened.wait(WAIT_S) and reader.connected.wait(WAIT_S)
    again.type_text(CARD)
    assert reader.scans.get(timeout=WAIT_S).text == CARD
    messages = [r.getMessage() for r in caplog.records]
    assert sum("not found" in m for m in messages) == 1, messages
    assert sum("lost" in m for m in messages) == 1, messages
    assert sum("ready" in m for m in messages) == 2, messages
    assert not [m for m in messages if "0790" in m or "Nguy" in m]


def test_no_permission_is_logged_once_with_the_group_to_join(reader, caplog):
    calls = []

    def refuse(spec):
        calls.append(spec)
        raise PermissionError(13, "Permission denied", "/dev/input/event3")
    reader._open_device = refuse
    reader.start()
    while len(calls) < 4:
        threading.Event().wait(0.05)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "group input" in errors[0]


def test_the_real_evdev_opener_finds_nothing_that_is_not_there(tmp_path):
    assert open_evdev(str(tmp_path / "no-such-event-kbd")) is None
    assert open_evdev("no scanner has this name 7f3a") is None
