"""The kiosk's composition root: the keyboard simulator, the font check, the ticket files."""

from __future__ import annotations

import io
import logging
import threading

import pytest

from device.buttons import PRIORITY, ButtonEvent
from device.fonts import FontError, read_fonts
from device.main import KioskApp, Simulator
from device.printer import EscposPrinter
from escpos.printer import Dummy
from queuebox.config_devices import PrinterConfig
from queuebox.protocol import Topics
from tests.device.fakes import FakeBus
from tests.factories import make_config

CONFIG = make_config(kiosk={"id": "k1", "buttons": {"A": 5, "B": 6, "C": 13}, "priority_button": 21,
                            "group_buttons": {"CT": 20, "KT": 16}})


@pytest.fixture
def app(mock_factory, dejavu):
    bus = FakeBus(Topics("t", "test"), "kiosk-k1")
    a = KioskApp(CONFIG, pin_factory=mock_factory, printer=EscposPrinter(Dummy(), 576), fonts=dejavu, bus=bus,
                 clock=lambda: 5.0)
    yield a
    a.panel.close()


def events(app) -> list[tuple[str, bool]]:
    found = []
    while not app.bus.inbox.empty():
        e = app.bus.inbox.get_nowait()
        if isinstance(e, ButtonEvent):
            found.append((e.button, e.pressed))
    return found


@pytest.mark.parametrize("text, pressed", [
    ("a", [("A", True), ("A", False)]),
    ("pB\n", [(PRIORITY, True), (PRIORITY, False), ("B", True), ("B", False)]),
    ("priority c", [(PRIORITY, True), (PRIORITY, False), ("C", True), ("C", False)]),
    ("ab", [("A", True), ("A", False), ("B", True), ("B", False)]),
    ("g ct a", [("group:CT", True), ("group:CT", False), ("A", True), ("A", False)]),
    ("G KT b\n", [("group:KT", True), ("group:KT", False), ("B", True), ("B", False)]),
    ("g mt a", [("A", True), ("A", False)]),  # no button for MT: warned, A still pressed
    ("x", []),
    ("", []),
])
def test_the_simulator_presses_the_mock_pins_a_text_names(app, mock_factory, text, pressed):
    Simulator(CONFIG, mock_factory).press_text(text)
    assert events(app) == pressed


def test_the_simulator_warns_about_a_button_that_does_not_exist(app, mock_factory, caplog):
    with caplog.at_level(logging.WARNING, "device.main"):
        assert Simulator(CONFIG, mock_factory).press_text("z") == []
    assert "no button 'z' (buttons: a, b, c, group:ct, group:kt, priority)" in caplog.text


def test_the_keyboard_is_read_until_q(app, mock_factory):
    stop = threading.Event()
    Simulator(CONFIG, mock_factory).read_keyboard(io.StringIO("a\nb\nq\nc\n"), stop)
    assert stop.is_set() and [b for b, down in events(app) if down] == ["A", "B"]


def test_the_end_of_the_keyboard_input_does_not_stop_the_kiosk(app, mock_factory):
    stop = threading.Event()
    Simulator(CONFIG, mock_factory).read_keyboard(io.StringIO("c\n"), stop)  # e.g. stdin is /dev/null
    assert not stop.is_set() and [b for b, down in events(app) if down] == ["C"]


def test_fonts_with_every_letter_pass_the_check(app):
    assert app.check_fonts() == []


def test_a_font_without_vietnamese_is_reported(mock_factory):
    thai = "/usr/share/fonts/truetype/noto/NotoSansThai-Regular.ttf"
    fonts = read_fonts(PrinterConfig(font_path=thai, font_bold_path=thai))
    bus = FakeBus(Topics("t", "test"), "kiosk-k1")
    app = KioskApp(CONFIG, pin_factory=mock_factory, printer=EscposPrinter(Dummy(), 576), fonts=fonts, bus=bus)
    try:
        problems = app.check_fonts()
    finally:
        app.panel.close()
    assert any("'Đất đai': no glyph for" in p and "Đ" in p for p in problems)


def test_a_missing_font_file_names_the_key(tmp_path):
    with pytest.raises(FontError, match="printer.font_bold_path: cannot read the font .*nope.ttf"):
        read_fonts(PrinterConfig(font_bold_path=str(tmp_path / "nope.ttf")))

