"""What a printed ticket looks like: the ticket image with the QR code the printer draws
under it, as one picture (for `queuebox ticket-preview`, the simulated kiosk and the README).

The printer draws the QR code itself from the status URL (``GS ( k``); here the `qrcode`
library (a python-escpos dependency) draws the same code at the same module size.
"""

from __future__ import annotations

import qrcode
from PIL import Image

FEED_PX = 48  # paper fed before the cut


def printed_look(ticket: Image.Image, qr_text: str, module_px: int) -> Image.Image:
    """`ticket` with the QR code of `qr_text` centred under it (none if empty), mode "1"."""
    parts = [ticket.convert("1")]
    if qr_text:
        code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=module_px, border=2)
        code.add_data(qr_text)
        code.make(fit=True)
        parts.append(code.make_image().get_image().convert("1"))
    width = ticket.width
    out = Image.new("1", (width, sum(p.height for p in parts) + FEED_PX), 1)
    y = 0
    for part in parts:
        out.paste(part, ((width - part.width) // 2, y))
        y += part.height
    return out
