"""Fixtures of the kiosk tests: the ticket fonts, a gpiozero MockFactory that is reset after each test."""

from __future__ import annotations


import pytest

from device.fonts import read_fonts
from device.printer import EscposPrinter  # first: it sets escpos's pickle folder before escpos loads
from device.ticket import FontData
from escpos.printer import Dummy
from queuebox.config_devices import PrinterConfig

FONT_FAMILIES = {
    "dejavu": PrinterConfig(),  # the defaults: DejaVu Sans and DejaVu Sans Bold
    "noto": PrinterConfig(font_path="/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
                          font_bold_path="/usr/share/fonts/truetype/noto/NotoSans-Bold.ttf"),
}


@pytest.fixture(scope="session")
def dejavu() -> FontData:
    return read_fonts(FONT_FAMILIES["dejavu"])


@pytest.fixture(scope="session", params=sorted(FONT_FAMILIES))
def font_family(request) -> FontData:
    """Each font family the ticket is documented to work with (DejaVu Sans, Noto Sans)."""
    return read_fonts(FONT_FAMILIES[request.param])


@pytest.fixture
def dummy_printer() -> EscposPrinter:
    """An 80 mm printer on escpos's Dummy connection; `.connection.output` holds its bytes."""
    return EscposPrinter(Dummy(), 576)
