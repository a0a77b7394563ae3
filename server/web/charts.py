"""Small server-side SVG charts for the reports page: no JavaScript, nothing from the internet.

Each function returns one `<svg role="img">` with a `<title>` and a `<desc>` (read by screen
readers, shown as a tooltip), a legend, and the values written on the chart, so a manager
reads the numbers without hovering. Colours are SVG presentation attributes, so the page's
Content-Security-Policy (no inline styles) allows them and a saved SVG looks the same. Text
is escaped; the font is the page's (Noto Sans / DejaVu Sans: Vietnamese diacritics).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Callable, Sequence

from markupsafe import Markup, escape

WIDTH = 600
FONT = 15  # in the chart's own units; the SVG scales with the page (about 1:1 in a half-width card)
INK, MUTED, GRID = "#1b1f24", "#5b6470", "#e3e7ec"
_ids = itertools.count(1)


@dataclass(frozen=True)
class Series:
    """A named colour in a legend."""
    name: str
    color: str
    dashed: bool = False


def nice_max(value: float, ticks: int = 4) -> tuple[float, float]:
    """(axis maximum, step): a round step (1, 2, 2.5 or 5 × 10^k) so that `ticks` steps cover `value`."""
    if value <= 0:
        return 1.0, 0.25
    raw = value / ticks
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    return step * math.ceil(value / step - 1e-9), step


def number(value: float, digits: int, decimal: str = ".") -> str:
    """`value` with `digits` decimals and the language's decimal mark ("," in Vietnamese)."""
    return f"{value:.{digits}f}".replace(".", decimal)


def columns(title: str, description: str, labels: Sequence[str], front: Sequence[float | None],
            back: Sequence[float | None] | None, legend: Sequence[Series], *, decimal: str = ".") -> Markup:
    """Vertical bars, one per label: `front` (dark, labelled with its value) drawn over an
    optional `back` (light, e.g. the p90 behind the median). None draws no bar. Values are
    written with one decimal when the axis is under 10, else none."""
    left, right, bottom, plot_h = 44, 12, 30, 210
    keys, top = _legend(legend, left)
    top += 20
    height = top + plot_h + bottom
    plot_w = WIDTH - left - right
    highest = max([v for v in [*front, *(back or [])] if v is not None], default=0.0)
    y_max, step = nice_max(highest)
    digits = 1 if y_max < 10 else 0

    def value_format(v: float) -> str:
        return number(v, digits, decimal)
    parts = _open(title, description, height) + keys
    parts += _y_grid(y_max, step, left, top, plot_w, plot_h,
                     lambda v: number(v, 0 if step >= 1 else (1 if step * 10 >= 1 else 2), decimal))
    slot = plot_w / max(1, len(labels))
    bar = min(46.0, slot * 0.7)
    for i, label in enumerate(labels):
        x = left + slot * i + (slot - bar) / 2
        for values, series in ((back, legend[-1]), (front, legend[0])):
            value = values[i] if values is not None else None
            if value is None:
                continue
            h = plot_h * value / y_max
            parts.append(f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar:.1f}" height="{max(h, 1):.1f}" '
                         f'fill="{series.color}"><title>{escape(label)}: {escape(series.name)} '
                         f'{value_format(value)}</title></rect>')
        if front[i] is not None:
            y = top + plot_h - plot_h * front[i] / y_max  # type: ignore[operator]
            inside = y < top + 18
            parts.append(_text(x + bar / 2, y + 15 if inside else y - 5, value_format(front[i]),  # type: ignore[arg-type]
                               anchor="middle", fill="#fff" if inside else INK, weight="600"))
        parts.append(_text(x + bar / 2, height - bottom + 18, label, anchor="middle", fill=MUTED))
    return _close(parts)


def stacked_rows(title: str, description: str, labels: Sequence[str], legend: Sequence[Series],
                 values: Sequence[Sequence[int]], *, label_width: int = 230) -> Markup:
    """Horizontal bars, one per label, split into `legend`'s parts; each bar ends with its total.
    Labels longer than the column are cut with "…" (the full label is in the bar's tooltip)."""
    row_h, right = 30, 48
    keys, top = _legend(legend, 8)
    top += 16
    height = top + row_h * len(labels) + 8
    plot_w = WIDTH - label_width - right
    highest = max((sum(v) for v in values), default=0) or 1
    parts = _open(title, description, height) + keys
    max_chars = int(label_width / (FONT * 0.56))
    for i, (label, row) in enumerate(zip(labels, values)):
        y = top + row_h * i
        shown = label if len(label) <= max_chars else label[: max_chars - 1].rstrip() + "…"
        parts.append(_text(label_width - 8, y + row_h / 2 + 4, shown, anchor="end", fill=INK))
        x = float(label_width)
        for series, value in zip(legend, row):
            w = plot_w * value / highest
            if value:
                parts.append(f'<rect x="{x:.1f}" y="{y + 5}" width="{w:.1f}" height="{row_h - 10}" fill="{series.color}">'
                             f'<title>{escape(label)}: {escape(series.name)} {value}</title></rect>')
                if w > 28:
                    parts.append(_text(x + w / 2, y + row_h / 2 + 4, str(value), anchor="middle", fill="#fff"))
            x += w
        parts.append(_text(x + 6, y + row_h / 2 + 4, str(sum(row)), fill=INK, weight="600"))
    return _close(parts)


def lines(title: str, description: str, labels: Sequence[str], legend: Sequence[Series],
          values: Sequence[Sequence[float | None]], *, y_max: float = 100, unit: str = "%") -> Markup:
    """One line per series over the labels (a None leaves a gap); the first series' points are
    labelled with their value. A single label draws dots only."""
    left, right, bottom, plot_h = 44, 16, 30, 190
    keys, top = _legend(legend, left)
    top += 20
    height = top + plot_h + bottom
    plot_w = WIDTH - left - right
    parts = _open(title, description, height) + keys
    parts += _y_grid(y_max, y_max / 4, left, top, plot_w, plot_h, lambda v: f"{v:.0f}{unit}")
    slot = plot_w / max(1, len(labels))
    xs = [left + slot * (i + 0.5) for i in range(len(labels))]
    every = max(1, math.ceil(len(labels) / 12))  # at most ~12 x labels
    for i, label in enumerate(labels):
        if i % every == 0:
            parts.append(_text(xs[i], height - bottom + 18, label, anchor="middle", fill=MUTED))
    for n, (series, row) in enumerate(zip(legend, values)):
        points = [(xs[i], top + plot_h - plot_h * min(v, y_max) / y_max, v) for i, v in enumerate(row) if v is not None]
        for run in _runs(row, xs, top, plot_h, y_max):
            if len(run) > 1:
                dash = ' stroke-dasharray="6 4"' if series.dashed else ""
                path = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
                parts.append(f'<polyline points="{path}" fill="none" stroke="{series.color}" stroke-width="2.5"{dash}/>')
        for k, (x, y, v) in enumerate(points):
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{series.color}">'
                         f'<title>{escape(series.name)}: {v:.0f}{escape(unit)}</title></circle>')
            if n == 0 and (len(points) <= 16 or k % 2 == 0):  # label every point, or every other one
                parts.append(_text(x, y - 9, f"{v:.0f}{unit}", anchor="middle", fill=INK, weight="600"))
    return _close(parts)


def percent_rows(title: str, description: str, labels: Sequence[str], legend: Sequence[Series],
                 values: Sequence[Sequence[float | None]], notes: Sequence[str], *, label_width: int = 150,
                 note_width: int = 128, decimal: str = ".") -> Markup:
    """Horizontal bars on a 0–100 % scale: for each label one thin bar per series, its value
    written at its end ("—" where there is none), and a note at the right (e.g. how many were
    served). Labels longer than the column are cut with "…" (the full label is in the tooltip)."""
    bar_h, gap, pad = 14, 3, 9
    keys, top = _legend(legend, 8)
    top += 14
    group_h = len(legend) * (bar_h + gap) - gap + 2 * pad
    plot_x, plot_w = float(label_width), WIDTH - label_width - note_width - 44  # room for "100%"
    height = int(top + group_h * len(labels) + 26)
    parts = _open(title, description, height) + keys
    for k in range(5):  # a grid every 25 %
        x = plot_x + plot_w * k / 4
        parts.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - 22}" stroke="{GRID}"/>')
        parts.append(_text(x, height - 6, f"{25 * k}%", anchor="middle", fill=MUTED))
    max_chars = int(label_width / (FONT * 0.56))
    for i, (label, row, note) in enumerate(zip(labels, values, notes)):
        y = top + group_h * i
        shown = label if len(label) <= max_chars else label[: max_chars - 1].rstrip() + "…"
        parts.append(f'<text x="{label_width - 8}" y="{y + group_h / 2 + 5:.1f}" text-anchor="end" fill="{INK}" '
                     f'font-weight="600">{escape(shown)}<title>{escape(label)}</title></text>')
        for n, (series, value) in enumerate(zip(legend, row)):
            by = y + pad + n * (bar_h + gap)
            if value is None:
                parts.append(_text(plot_x + 4, by + bar_h - 2, "—", fill=MUTED))
                continue
            w = plot_w * max(0.0, min(value, 100.0)) / 100
            parts.append(f'<rect x="{plot_x:.1f}" y="{by}" width="{w:.1f}" height="{bar_h}" fill="{series.color}">'
                         f'<title>{escape(label)}: {escape(series.name)} {number(value, 0, decimal)}%</title></rect>')
            parts.append(_text(plot_x + w + 5, by + bar_h - 2, f"{number(value, 0, decimal)}%", fill=INK, weight="600"))
        parts.append(_text(WIDTH - 8, y + group_h / 2 + 5, note, anchor="end", fill=MUTED))
    return _close(parts)


def share_bar(title: str, description: str, legend: Sequence[Series], counts: Sequence[int]) -> Markup:
    """One bar split into each part's share of the whole, written as a percentage in its part;
    the legend gives each part's count."""
    left, right = 8, 8
    total = sum(counts)
    keys, top = _legend([Series(f"{s.name} ({c})", s.color, s.dashed) for s, c in zip(legend, counts)], left)
    top += 16
    height = top + 34 + 12
    parts = _open(title, description, height) + keys
    x, plot_w = float(left), WIDTH - left - right
    for series, count in zip(legend, counts):
        if not count:
            continue
        w = plot_w * count / total
        parts.append(f'<rect x="{x:.1f}" y="{top}" width="{w:.1f}" height="34" fill="{series.color}">'
                     f'<title>{escape(series.name)}: {count}</title></rect>')
        if w > 34:
            parts.append(_text(x + w / 2, top + 22, f"{100 * count / total:.0f}%", anchor="middle", fill="#fff",
                               weight="600"))
        x += w
    return _close(parts)


# --- pieces ----------------------------------------------------------------------------------

def _open(title: str, description: str, height: int) -> list[str]:
    n = next(_ids)
    return [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" '
            f'aria-labelledby="chart{n}-t chart{n}-d" font-size="{FONT}" font-family="Noto Sans, DejaVu Sans, sans-serif">',
            f'<title id="chart{n}-t">{escape(title)}</title>', f'<desc id="chart{n}-d">{escape(description)}</desc>']


def _close(parts: list[str]) -> Markup:
    return Markup("\n".join([*parts, "</svg>"]))


def _text(x: float, y: float, text: str, *, anchor: str = "start", fill: str = INK, weight: str = "400") -> str:
    bold = "" if weight == "400" else f' font-weight="{weight}"'
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{fill}"{bold}>{escape(text)}</text>'


def _legend(legend: Sequence[Series], left: float) -> tuple[list[str], float]:
    """The legend's keys from the top left, wrapping to a new line when a key would not fit;
    also returns the bottom of the legend."""
    parts: list[str] = []
    x, y = left, 16.0
    for series in legend:
        width = 20 + len(series.name) * FONT * 0.56
        if x > left and x + width > WIDTH - 8:
            x, y = left, y + FONT + 8
        if series.dashed:
            parts.append(f'<line x1="{x:.1f}" y1="{y - 4}" x2="{x + 14:.1f}" y2="{y - 4}" stroke="{series.color}" '
                         f'stroke-width="2.5" stroke-dasharray="4 3"/>')
        else:
            parts.append(f'<rect x="{x:.1f}" y="{y - 10}" width="14" height="12" rx="2" fill="{series.color}"/>')
        parts.append(_text(x + 20, y, series.name, fill=INK))
        x += width + 22
    return parts, y + 4


def _y_grid(y_max: float, step: float, left: float, top: float, width: float, height: float,
            fmt: Callable[[float], str]) -> list[str]:
    parts = []
    for k in range(int(round(y_max / step)) + 1):
        value = step * k
        y = top + height - height * value / y_max
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + width}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(_text(left - 6, y + 5, fmt(value), anchor="end", fill=MUTED))
    return parts


def _runs(row: Sequence[float | None], xs: Sequence[float], top: float, height: float,
          y_max: float) -> list[list[tuple[float, float]]]:
    """The points of `row` split at its gaps (None)."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, v in zip(xs, row):
        if v is None:
            runs.append([])
        else:
            runs[-1].append((x, top + height - height * min(v, y_max) / y_max))
    return [r for r in runs if r]
