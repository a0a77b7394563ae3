"""Boxes to draw and text fitted into them: pure (stdlib only).

A `Layout` is frozen boxes of text with their rectangle, font size, weight and colour role, in
drawing order; two layouts compare equal exactly when they draw the same picture, which is how
the renderer decides to redraw. Text widths are measured by a `Measure` function (text, size,
bold) -> pixels: the renderer passes the real font's, and `estimate_width` (a per-character
guess) serves tests. Text that does not fit is shrunk down to `min_size`, then cut with "…".
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass, field
from typing import Callable

from queuebox.text import wrap_words

Measure = Callable[[str, int, bool], float]

LINE = 1.36  # font height (ascender - descender) per pixel of font size, Noto Sans and DejaVu Sans


@dataclass(frozen=True)
class Box:
    """A rectangle to draw: filled with colour role `fill` (if any), then `text` in `colour`,
    `size` pixels, vertically centred and aligned `align` (left, center, right)."""
    name: str
    x: int
    y: int
    w: int
    h: int
    text: str = ""
    size: int = 0
    bold: bool = False
    colour: str = "text"
    align: str = "left"
    fill: str | None = None

    @property
    def rect(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.w, self.h)

    def overlaps(self, other: Box) -> bool:
        return (self.x < other.x + other.w and other.x < self.x + self.w
                and self.y < other.y + other.h and other.y < self.y + self.h)


@dataclass(frozen=True)
class Layout:
    """Everything on the screen: the background colour role and the boxes in drawing order."""
    width: int
    height: int
    boxes: tuple[Box, ...] = field(default=())
    background: str = "background"
    paging: bool = False  # the board message is shown page after page (see next_change)
    rotating: bool = False  # slides take turns under the newest call (see display/slides.py next_turn)
    slide: str = ""  # the slide under the newest call: "history", "procedures/A/0" (field, page), "lookup" …

    def box(self, name: str) -> Box | None:
        return next((b for b in self.boxes if b.name == name), None)

    def texts(self) -> list[str]:
        return [b.text for b in self.boxes if b.text]


_NARROW = set("ijlt.,:;|!'()[]-fr ")
_WIDE = set("MWmwĐ@%")


def estimate_width(text: str, size: int, bold: bool = False) -> float:
    """A generous guess of the width of `text` in Noto Sans / DejaVu Sans at `size` px."""
    total = 0.0
    for ch in text:
        base = unicodedata.normalize("NFD", ch)[:1] or ch
        if base in _WIDE:
            total += 0.95
        elif base in _NARROW:
            total += 0.34
        elif base.isupper():
            total += 0.7
        elif base.isdigit():
            total += 0.6
        else:
            total += 0.57
    return total * size * (1.06 if bold else 1.0)


def fit(text: str, width: float, size: int, min_size: int, bold: bool, measure: Measure) -> tuple[str, int]:
    """(text, size) that fit in `width`: `size`, else smaller down to `min_size`, else the
    text cut with "…" at `min_size`; ("", 0) when not even "…" fits."""
    size = int(size)
    if not text or width <= 0 or size <= 0:
        return "", 0
    min_size = max(1, min(int(min_size), size))
    wide = measure(text, size, bold)
    if wide <= width:
        return text, size
    # widths grow about linearly with size: jump close, then step down
    s = max(min_size, min(size - 1, int(size * width / wide)))
    while s > min_size and measure(text, s, bold) > width:
        s = max(min_size, min(s - 1, int(s * 0.95)))
    if measure(text, s, bold) <= width:
        return text, s
    lo, hi = 0, len(text) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if measure(text[:mid].rstrip() + "…", s, bold) <= width:
            lo = mid
        else:
            hi = mid - 1
    cut = text[:lo].rstrip() + "…"
    if lo == 0 and measure(cut, s, bold) > width:
        return "", 0
    return cut, s


def line_height(size: int) -> int:
    """Whole pixels one line of text at `size` takes in a paragraph."""
    return math.floor(size * LINE) + 1


def wrap(text: str, width: float, size: int, bold: bool, measure: Measure) -> list[str]:
    """`text` in lines no wider than `width` at `size` (queuebox.text.wrap_words)."""
    return wrap_words(text, width, lambda part: measure(part, size, bold))


def paragraph(text: str, width: float, height: float, size: int, min_size: int, max_lines: int, bold: bool,
              measure: Measure) -> tuple[list[str], int]:
    """(lines, size) of `text` in a width × height box: the largest size from `size` down to
    `min_size` at which it wraps into at most `max_lines` lines that fit the height; else at
    `min_size` as many lines as fit, the last one cut with "…". ([], 0) when nothing fits."""
    size = min(int(size), int(height / LINE))
    min_size = max(1, min(int(min_size), size))
    if not text or width <= 0 or size < 1:
        return [], 0
    s = size
    while True:
        lines = wrap(text, width, s, bold, measure)
        room = min(max_lines, int(height // line_height(s)))
        if len(lines) <= room or s <= min_size:
            break
        s = max(min_size, min(s - 1, int(s * 0.96)))
    room = max(1, min(max_lines, int(height // line_height(s))))
    if len(lines) > room:
        rest = " ".join(lines[room - 1:])
        last, _ = fit(rest + "…", width, s, s, bold, measure)  # cut ends it with "…" (added if it did not)
        lines = lines[: room - 1] + ([last] if last else [])
    return lines, s


class Builder:
    """Collects boxes; fits each text into its rectangle."""

    def __init__(self, width: int, height: int, measure: Measure) -> None:
        self.width, self.height = width, height
        self.u = min(width, height)
        self.min_size = max(8, round(0.022 * self.u))
        self.measure = measure
        self.boxes: list[Box] = []
        self.paging = False  # a text is shown page after page, so the layout changes by time alone

    def clamp(self, x: float, y: float, w: float, h: float) -> tuple[int, int, int, int]:
        """The rectangle rounded to pixels and cut to the screen (width or height 0 if nothing is left)."""
        x0, y0 = max(0, round(x)), max(0, round(y))
        x1, y1 = min(self.width, round(x + w)), min(self.height, round(y + h))
        return x0, y0, max(0, x1 - x0), max(0, y1 - y0)

    def fill(self, name: str, x: float, y: float, w: float, h: float, role: str) -> None:
        x, y, w, h = self.clamp(x, y, w, h)
        if w > 0 and h > 0:
            self.boxes.append(Box(name, x, y, w, h, fill=role))

    def text(self, name: str, text: str, x: float, y: float, w: float, h: float, size: float, *,
             bold: bool = False, colour: str = "text", align: str = "left") -> Box | None:
        """A text box; the font is at most the rectangle's height allows."""
        x, y, w, h = self.clamp(x, y, w, h)
        if w <= 0 or h <= 0:
            return None
        limit = min(round(size), int(h / LINE))
        fitted, s = fit(text, w, limit, min(self.min_size, limit), bold, self.measure)
        if not fitted:
            return None
        box = Box(name, x, y, w, h, fitted, s, bold, colour, align)
        self.boxes.append(box)
        return box

    def paragraph(self, name: str, text: str, x: float, y: float, w: float, h: float, size: float, *,
                  min_size: float = 0, max_lines: int = 3, bold: bool = False, colour: str = "text",
                  align: str = "left", middle: bool = False) -> int:
        """`text` wrapped in a w × h box (see `paragraph`), one box per line (`name`, `name.line2`,
        …), from the top, or centred vertically (`middle`). Returns the number of lines drawn."""
        x0, y0, w0, h0 = self.clamp(x, y, w, h)
        lines, s = paragraph(text, w0, h0, round(size), round(min_size or self.min_size), max_lines, bold,
                             self.measure)
        if not lines:
            return 0
        line_h = line_height(s)
        top = y0 + max(0, (h0 - line_h * len(lines)) // 2) if middle else y0
        for i, line in enumerate(lines):
            self.text(name if i == 0 else f"{name}.line{i + 1}", line, x0, top + i * line_h, w0,
                      min(line_h, y0 + h0 - top - i * line_h), s, bold=bold, colour=colour, align=align)
        return len(lines)

    def lines_size(self, text: str, w: float, h: float, size: float, bold: bool) -> tuple[int, tuple[str, str] | None]:
        """The size `lines` draws `text` at in a w × h box, and its two lines (None for one line)."""
        one = min(round(size), int(h / LINE))
        _, s1 = fit(text, w, one, 1, bold, self.measure)
        words = text.split(" ")
        if s1 >= 0.8 * one or len(words) < 2:
            return s1, None
        splits = [(" ".join(words[:i]), " ".join(words[i:])) for i in range(1, len(words))]
        at_separator = [p for p in splits if p[0].endswith(("-", "–", ",", ";", ":"))]
        splits = at_separator or splits
        top, rest = min(splits, key=lambda p: max(self.measure(p[0], 100, bold), self.measure(p[1], 100, bold)))
        half = min(round(size), int(h / 2 / LINE))
        s2 = min(fit(top, w, half, 1, bold, self.measure)[1], fit(rest, w, half, 1, bold, self.measure)[1])
        return (s2, (top, rest)) if s2 > s1 else (s1, None)

    def lines(self, name: str, text: str, x: float, y: float, w: float, h: float, size: float, *,
              bold: bool = False, colour: str = "text") -> None:
        """`text` on one line if it fits at 80 % of `size` or more, else on two lines
        (`name` and `name.line2`), whichever is larger. Two lines break after a separator
        (" - ", ",") if there is one — Vietnamese words have several syllables, so a plain
        space may split a word such as "Thương binh" — else at the space that balances them."""
        s2, split = self.lines_size(text, w, h, size, bold)
        if split is None:
            self.text(name, text, x, y, w, h, size, bold=bold, colour=colour)
            return
        top, rest = split
        self.text(name, top, x, y, w, h / 2, s2, bold=bold, colour=colour)
        self.text(f"{name}.line2", rest, x, y + h / 2, w, h / 2, s2, bold=bold, colour=colour)
