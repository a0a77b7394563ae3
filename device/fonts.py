"""Opening the ticket fonts (the one I/O `device.ticket` leaves to its caller).

Each font is opened by its path, not from bytes in memory: Pillow copies a font given as
bytes into every size made of it (~0.7 MB each, five sizes on a ticket), while FreeType
maps a font file once and reads the glyphs it needs from the page cache (measured 3 MB
less resident memory in the kiosk).
"""

from __future__ import annotations

from pathlib import Path

from PIL import ImageFont

from device.ticket import FontData, Style
from queuebox.config_devices import PrinterConfig
from queuebox.errors import QueueboxError


class FontError(QueueboxError, OSError):
    """A ticket font file is missing, unreadable or not a font."""


def read_fonts(printer: PrinterConfig) -> FontData:
    """The fonts of `printer.font_path` and `printer.font_bold_path`, each opened once here to
    check it; FontError naming the key if one cannot be read or is not a font."""
    paths: dict[str, str] = {}
    for style, key in (("regular", "font_path"), ("bold", "font_bold_path")):
        path = Path(getattr(printer, key))
        try:
            ImageFont.truetype(str(path), 10)
        except OSError as exc:  # missing, unreadable, or "unknown file format"
            raise FontError(f"printer.{key}: cannot read the font {path}: {exc.strerror or exc} "
                            "(Debian: apt install fonts-dejavu-core)") from None
        paths[style] = str(path)

    def open_font(style: Style, size: int) -> ImageFont.FreeTypeFont:
        return ImageFont.truetype(paths[style], size, layout_engine=ImageFont.Layout.BASIC)

    return FontData(open=open_font, regular_name=printer.font_path, bold_name=printer.font_bold_path)
