"""Reading the ticket fonts from disk (the one I/O `device.ticket` leaves to its caller)."""

from __future__ import annotations

from pathlib import Path

from device.ticket import FontData
from queuebox.config import PrinterConfig
from queuebox.errors import QueueboxError


class FontError(QueueboxError, OSError):
    """A ticket font file is missing or unreadable."""


def read_fonts(printer: PrinterConfig) -> FontData:
    """The bytes of `printer.font_path` and `printer.font_bold_path`; FontError naming the key if one cannot be read."""
    data = []
    for key in ("font_path", "font_bold_path"):
        path = Path(getattr(printer, key))
        try:
            data.append(path.read_bytes())
        except OSError as exc:
            raise FontError(f"printer.{key}: cannot read the font {path}: {exc.strerror or exc} "
                            "(Debian: apt install fonts-dejavu-core)") from None
    return FontData(regular=data[0], bold=data[1], regular_name=printer.font_path, bold_name=printer.font_bold_path)
