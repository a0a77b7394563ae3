"""Drawing a board `Layout` (display/boxes.py, made by display/layout.py) with pygame-ce.

Fonts are loaded by path (the default pygame font has no Vietnamese glyphs): `Fonts`
measures text for the layout and reports characters it has no glyph for. `Renderer`
draws a layout on a surface — the screen, or an off-screen surface for a screenshot — and
on the next call redraws only the boxes that changed (the clock, the blinking panel …),
returning the rectangles to push to the screen; an equal layout draws nothing.

Only the display's main loop calls into this module (pygame is not shared between threads).
"""

from __future__ import annotations

import functools
import logging
import os
import time
from pathlib import Path
from typing import Iterable

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # no banner on stdout at import

import pygame  # noqa: E402
import pygame.freetype  # noqa: E402

from display.boxes import Box, Layout  # noqa: E402
from queuebox.errors import QueueboxError  # noqa: E402

logger = logging.getLogger(__name__)

# High contrast, calm: white and yellow on deep blue; the newest call swaps to blue on yellow while it blinks.
PALETTE: dict[str, tuple[int, int, int]] = {
    "background": (10, 32, 72),
    "header": (5, 19, 46),
    "header_text": (255, 255, 255),
    "footer": (5, 19, 46),
    "footer_text": (226, 234, 246),
    "title": (255, 255, 255),
    "muted": (168, 190, 222),
    "text": (255, 255, 255),
    "label": (255, 214, 10),
    "counter": (255, 255, 255),
    "count": (255, 214, 10),
    "panel": (22, 62, 128),
    "highlight": (255, 214, 10),
    "highlight_text": (10, 32, 72),
    "row": (17, 47, 100),
    "row_alt": (13, 40, 88),
    "warning": (255, 128, 84),
    "badge": (255, 128, 84),  # a priority group's badge: warm, apart from the yellow of the numbers
    "badge_text": (10, 32, 72),
    "qr_light": (255, 255, 255),  # the QR code: black on white, as phones read it best
    "qr_dark": (0, 0, 0),
}
FALLBACK_COLOUR = (255, 0, 255)  # an unknown role shows up loudly in a screenshot
FULL_REDRAW_SHARE = 0.5  # redraw everything when the changed area is more than this share of the screen


class FontError(QueueboxError, OSError):
    """A board font file is missing or cannot be read."""


class Fonts:
    """The regular and bold board fonts, loaded from files, with cached text widths."""

    def __init__(self, regular_path: str | Path, bold_path: str | Path) -> None:
        if not pygame.freetype.get_init():
            pygame.freetype.init()
        self.paths = (str(regular_path), str(bold_path))
        self._fonts = tuple(self._load(p) for p in self.paths)
        self.width = functools.lru_cache(maxsize=8192)(self._width)

    @staticmethod
    def _load(path: str) -> pygame.freetype.Font:
        if not Path(path).is_file():
            raise FontError(f"font file {path} not found (install fonts-noto-core, or set display.font_path)")
        try:
            font = pygame.freetype.Font(path)
        except (OSError, pygame.error) as exc:
            raise FontError(f"cannot load font {path}: {exc}") from exc
        font.origin = True  # render_to positions the baseline, so texts of one row line up
        font.pad = False
        return font

    def font(self, bold: bool) -> pygame.freetype.Font:
        return self._fonts[1 if bold else 0]

    def _width(self, text: str, size: int, bold: bool = False) -> int:
        """Pixels from the text's origin to the right edge of its ink at `size`."""
        if not text or size < 1:
            return 0
        r = self.font(bold).get_rect(text, size=size)
        return max(r.x, 0) + r.width

    def measure(self, text: str, size: int, bold: bool = False) -> float:
        """The `display.board.Measure` of these fonts."""
        return self.width(text, int(size), bool(bold))

    def missing(self, text: str, bold: bool = False) -> list[str]:
        """The characters of `text` this font has no glyph for (whitespace aside)."""
        chars = [c for c in dict.fromkeys(text) if not c.isspace()]
        if not chars:
            return []
        metrics = self.font(bold).get_metrics("".join(chars), size=24)
        return [c for c, m in zip(chars, metrics) if m is None]


def check_glyphs(fonts: Fonts, texts: Iterable[str]) -> dict[str, list[str]]:
    """Text → characters missing from the regular or the bold font; empty when every glyph exists."""
    found = {}
    for text in texts:
        gone = sorted(set(fonts.missing(text, False)) | set(fonts.missing(text, True)))
        if gone:
            found[text] = gone
    return found


class Renderer:
    """Draws layouts on `surface`; see the module docstring."""

    def __init__(self, surface: pygame.Surface, fonts: Fonts, palette: dict[str, tuple[int, int, int]] = PALETTE):
        self.surface = surface
        self.fonts = fonts
        self.palette = palette
        self.drawn: Layout | None = None
        self.frames = 0  # draws that changed pixels
        self.last_draw_s = 0.0  # seconds the last such draw took

    def colour(self, role: str | None) -> tuple[int, int, int]:
        return self.palette.get(role or "", FALLBACK_COLOUR)

    def draw(self, layout: Layout, *, full: bool = False) -> list[pygame.Rect]:
        """Draw `layout`: everything the first time (or with `full`), else only the boxes that
        differ from the last layout drawn. Returns the rectangles that changed ([] for none)."""
        if layout == self.drawn and not full:
            return []
        start = time.perf_counter()
        screen = self.surface.get_rect()
        previous = self.drawn
        if full or previous is None or (previous.width, previous.height) != (layout.width, layout.height) \
                or previous.background != layout.background:
            dirty = [screen]
        else:
            changed = set(previous.boxes) ^ set(layout.boxes)
            dirty = _merge([pygame.Rect(b.rect).clip(screen) for b in changed])
            if sum(r.w * r.h for r in dirty) > FULL_REDRAW_SHARE * screen.w * screen.h:
                dirty = [screen]
        for area in dirty:
            self._draw_area(layout, area)
        self.surface.set_clip(None)
        self.drawn = layout
        self.frames += 1
        self.last_draw_s = time.perf_counter() - start
        return dirty

    def _draw_area(self, layout: Layout, area: pygame.Rect) -> None:
        self.surface.set_clip(area)
        self.surface.fill(self.colour(layout.background), area)
        for box in layout.boxes:
            rect = pygame.Rect(box.rect)
            if rect.colliderect(area):
                self._draw_box(box, rect, area)

    def _draw_box(self, box: Box, rect: pygame.Rect, area: pygame.Rect) -> None:
        if box.fill:
            self.surface.fill(self.colour(box.fill), rect.clip(area))
        if not box.text or box.size < 1:
            return
        font = self.fonts.font(box.bold)
        ascender = font.get_sized_ascender(box.size)
        descender = font.get_sized_descender(box.size)  # negative
        baseline = rect.y + (rect.h + ascender + descender) // 2
        width = self.fonts.width(box.text, box.size, box.bold)
        if box.align == "right":
            x = rect.right - width
        elif box.align == "center":
            x = rect.x + (rect.w - width) // 2
        else:
            x = rect.x
        self.surface.set_clip(rect.clip(area))  # a glyph never spills out of its box
        font.render_to(self.surface, (x, baseline), box.text, fgcolor=self.colour(box.colour), size=box.size)
        self.surface.set_clip(area)

    def save_png(self, path: str | Path) -> Path:
        """Write what is drawn now to a PNG file; returns its path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        pygame.image.save(self.surface, str(path))
        return path


def _merge(rects: list[pygame.Rect]) -> list[pygame.Rect]:
    """Union overlapping rectangles until none overlap (few rectangles: quadratic is fine)."""
    rects = [r for r in rects if r.w > 0 and r.h > 0]
    merged = True
    while merged:
        merged = False
        for i in range(len(rects)):
            for j in range(i + 1, len(rects)):
                if rects[i].colliderect(rects[j]):
                    rects[i] = rects[i].union(rects.pop(j))
                    merged = True
                    break
            if merged:
                break
    return rects
