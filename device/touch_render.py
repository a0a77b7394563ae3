"""Drawing the touch kiosk's widgets with pygame (pygame-ce), and checking that every text fits.

Each text line is drawn at its size, or smaller (down to half) and wrapped on up to its
number of lines, until the widget's lines fit its box; what still does not fit is cut with
"…" and reported by `draw`, so tests (and the log) see it rather than a citizen.
"""

from __future__ import annotations

import os
import unicodedata
from typing import Any

from device.touch_layout import Line, Widget
from queuebox.text import wrap_words

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pygame  # noqa: E402 - after the variable above

BACKGROUND = (244, 246, 248)
INK = (20, 28, 38)
TONES: dict[str, tuple[tuple[int, int, int] | None, tuple[int, int, int]]] = {  # (fill, ink)
    "plain": (None, INK),
    "normal": ((255, 255, 255), INK),
    "primary": ((0, 92, 175), (255, 255, 255)),
    "priority": ((176, 58, 0), (255, 255, 255)),
    "muted": ((214, 218, 222), (95, 102, 110)),
    "alert": ((178, 18, 30), (255, 255, 255)),
    "ok": ((10, 122, 60), (255, 255, 255)),
}
DISABLED = ((150, 160, 170), (235, 238, 240))
BORDER = (160, 170, 180)
SCALES = [1.0 - 0.06 * i for i in range(9)]  # 1.0 down to 0.52


class TouchRenderer:
    """Draws widgets on `surface` with the TrueType fonts at `regular` and `bold` (paths)."""

    def __init__(self, surface: Any, regular: str, bold: str) -> None:
        pygame.font.init()
        self.surface = surface
        self.paths = {False: regular, True: bold}
        self._fonts: dict[tuple[bool, int], Any] = {}

    def font(self, bold: bool, size: int) -> Any:
        key = (bold, max(8, size))
        if key not in self._fonts:
            self._fonts[key] = pygame.font.Font(self.paths[bold], key[1])
        return self._fonts[key]

    def draw(self, widgets: list[Widget]) -> list[str]:
        """Draw the screen; the texts that did not fit their box (cut), as "name: text"."""
        self.surface.fill(BACKGROUND)
        largest: dict[str, int] = {}  # group -> the first scale at which every widget of it fits
        for widget in widgets:
            if widget.group:
                inner = self._inner(widget)
                first = next((i for i, scale in enumerate(SCALES)
                              if self._fits(widget.lines, inner.w, inner.h, scale)), len(SCALES) - 1)
                largest[widget.group] = max(largest.get(widget.group, 0), first)
        problems = []
        for widget in widgets:
            problems += self._widget(widget, largest.get(widget.group, 0))
        return problems

    def _inner(self, widget: Widget) -> Any:
        """The box a widget's text is drawn in: its rectangle less the padding of its fill."""
        rect = pygame.Rect(widget.rect.x, widget.rect.y, widget.rect.w, widget.rect.h)
        pad = max(8, min(rect.w, rect.h) // 12) if TONES[widget.tone][0] is not None else 4
        return rect.inflate(-2 * pad, -2 * pad)

    def _fits(self, lines: tuple[Line, ...], width: int, height: int, scale: float) -> bool:
        used = 0
        for line in lines:
            font = self.font(line.bold, round(line.size * scale))
            wrapped = wrap(unicodedata.normalize("NFC", line.text), font, width)
            if len(wrapped) > line.lines:
                return False
            used += font.get_linesize() * len(wrapped)
        return used <= height

    def _widget(self, widget: Widget, first_scale: int = 0) -> list[str]:
        rect = pygame.Rect(widget.rect.x, widget.rect.y, widget.rect.w, widget.rect.h)
        fill, ink = TONES[widget.tone]
        if widget.button and not widget.enabled and widget.tone not in ("muted",):
            fill, ink = DISABLED
        radius = max(6, min(rect.w, rect.h) // 10)
        if fill is not None:
            pygame.draw.rect(self.surface, fill, rect, border_radius=radius)
            if fill == (255, 255, 255):
                pygame.draw.rect(self.surface, BORDER, rect, width=2, border_radius=radius)
        inner = self._inner(widget)
        rows, cut = self.fit(widget.lines, inner.w, inner.h, first_scale)
        total = sum(font.get_linesize() for _, font, _ in rows)
        y = inner.y + max(0, (inner.h - total) // 2)
        for text, font, _ in rows:
            image = font.render(text, True, ink)
            x = inner.x if widget.align == "left" else inner.x + (inner.w - image.get_width()) // 2
            self.surface.blit(image, (x, y))
            y += font.get_linesize()
        return [f"{widget.name or 'text'}: {t}" for t in cut]

    def fit(self, lines: tuple[Line, ...], width: int, height: int,
            first_scale: int = 0) -> tuple[list[tuple[str, Any, Line]], list[str]]:
        """The rows (text, font, line) that draw `lines` in a `width`x`height` box, at
        SCALES[first_scale] or smaller, and the texts that had to be cut to get there."""
        for scale in SCALES[first_scale:]:
            rows: list[tuple[str, Any, Line]] = []
            ok = True
            for line in lines:
                font = self.font(line.bold, round(line.size * scale))
                wrapped = wrap(unicodedata.normalize("NFC", line.text), font, width)
                if len(wrapped) > line.lines:
                    ok = False
                    break
                rows += [(text, font, line) for text in wrapped]
            if ok and sum(f.get_linesize() for _, f, _ in rows) <= height:
                return rows, []
        # the smallest size, cut to the lines allowed and to the box's height
        rows, cut, used = [], [], 0
        for line in lines:
            font = self.font(line.bold, round(line.size * SCALES[-1]))
            wrapped = wrap(unicodedata.normalize("NFC", line.text), font, width)
            if len(wrapped) > line.lines:
                wrapped = wrapped[:line.lines]
                wrapped[-1] = ellipsis(wrapped[-1], font, width)
                cut.append(line.text)
            for text in wrapped:
                if used + font.get_linesize() > height:
                    if line.text not in cut:
                        cut.append(line.text)
                    break
                rows.append((text, font, line))
                used += font.get_linesize()
        return rows, cut


def wrap(text: str, font: Any, width: int) -> list[str]:
    """`text` broken at spaces into lines no wider than `width`; a word wider than that is cut."""
    return wrap_words(text, width, lambda part: font.size(part)[0]) or [""]


def ellipsis(text: str, font: Any, width: int) -> str:
    while text and font.size(text + "…")[0] > width:
        text = text[:-1]
    return text + "…"
