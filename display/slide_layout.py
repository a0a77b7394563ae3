"""What the board draws for an information slide (display/slides.py) in the room under the
newest call: pure (stdlib, queuebox, and segno for the QR code's matrix, in memory).

Sizes are × the short side `u`, as in display/layout.py. Slides are read by people seated in
the hall, closer than the calls: procedure names at 0.036 u (readable from about 5 m on a 55"
screen), never below MIN_TEXT_U; the lookup page's QR code as large as the room's height allows.
The previous calls ("history") are drawn by display/layout.py itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import segno

from display.board import Board, clean, service_names
from display.boxes import LINE, Builder, fit, line_height
from display.slides import FieldSummary, Slide, SlideSources, board_message
from queuebox.catalogue import Procedure
from queuebox.config import Config

MIN_TEXT_U = 0.026  # the smallest text on a slide, × the short side (tested)
NAME_U, MIN_NAME_U = 0.036, 0.03  # a procedure's name, and the least it shrinks to before "…"
ROW_INNER = 0.88  # share of a row's height its texts use (the rest parts it from the next row)
HEADING_U = 0.06
QR_QUIET = 2  # light modules around the code: the hall's background is dark, so it must be light
QR_MIN_MODULE_PX = 3  # finer than this and phones across the room cannot read it: no code is drawn
COLUMNS = (0.52, 0.22, 0.26)  # name, fee, processing time: shares of the row's width
SLIDE_WORDS = {
    "procedures": {"vi": "THỦ TỤC", "en": "Procedures"},
    "fee": {"vi": "Phí, lệ phí", "en": "Fee"},
    "time": {"vi": "Thời hạn", "en": "Processing time"},
    "on_the_spot": {"vi": "Giải quyết ngay", "en": "Done on the spot"},
    "more": {"vi": "… và {n} thủ tục khác", "en": "… and {n} more procedures"},
    "lookup": {"vi": "Tra cứu thủ tục, phí, lệ phí", "en": "Look up procedures and fees"},
    "notice": {"vi": "THÔNG BÁO", "en": "Notice"},
    "hotline": {"vi": "ĐƯỜNG DÂY NÓNG", "en": "Hotline"},
    "hotline_hint": {"vi": "Góp ý, phản ánh về thủ tục hành chính", "en": "Questions and feedback"},
}


@dataclass(frozen=True)
class Region:
    """The room under the newest call, in pixels."""
    x: float
    y: float
    w: float
    h: float


def rows_per_page(u: float, region: Region) -> int:
    """How many procedure rows one slide holds in `region` (at least one): each holds two
    lines of a name at its least size."""
    least = 2 * line_height(round(MIN_NAME_U * u)) / ROW_INNER
    return max(1, int((region.h - HEADING_U * u) // least))


def draw_slide(b: Builder, slide: Slide, board: Board, config: Config, sources: SlideSources, region: Region,
               first: str, second: str | None) -> None:
    """Draw `slide` (not the history) in `region`."""
    if slide.kind == "procedures":
        summary = sources.field(slide.service)
        if summary is not None:
            _procedures(b, summary, slide, config, region, first, second)
    elif slide.kind == "lookup":
        _lookup(b, sources.lookup_url, region, first, second)
    elif slide.kind == "message":
        _heading(b, "message", SLIDE_WORDS["notice"][first], SLIDE_WORDS["notice"][second] if second else "",
                 region)
        top = HEADING_U * b.u
        b.paragraph("message.text", board_message(board, config), region.x, region.y + top, region.w,
                    region.h - top, 0.06 * b.u, min_size=MIN_TEXT_U * b.u, max_lines=5, middle=True)
    elif slide.kind == "hotline":
        _hotline(b, config, region, first, second)


def _heading(b: Builder, name: str, main: str, sub: str, region: Region, width: float | None = None) -> None:
    """A slide's title in the main language, bold; the second language smaller beside it."""
    u = b.u
    w = region.w if width is None else width
    room = w - (b.measure(sub, round(0.032 * u), False) + 0.03 * u if sub else 0)  # the second keeps its room
    text, size = fit(main, room, min(round(0.046 * u), int(HEADING_U * u / LINE)), round(MIN_TEXT_U * u), True,
                     b.measure)
    used = math.ceil(b.measure(text, size, True)) + 1 if text else 0
    b.text(f"{name}.title", text, region.x, region.y, used, HEADING_U * u, size, bold=True, colour="title")
    used += 0.02 * u
    if text and sub and w - used > 0:
        b.text(f"{name}.title2", sub, region.x + used, region.y, w - used, HEADING_U * u, 0.032 * u, colour="muted")


def _procedures(b: Builder, summary: FieldSummary, slide: Slide, config: Config, region: Region, first: str,
                second: str | None) -> None:
    """One page of a field's procedures: name, fee and processing time per row, those done on
    the spot marked; the page number in the title, the procedures left out of the summary last."""
    u, pad = b.u, 0.02 * b.u
    names = service_names(config, summary.service)
    field_name = names.get(first) or names["vi"]
    page = f"{slide.page + 1}/{slide.pages}" if slide.pages > 1 else ""
    inner = region.w - 2 * pad
    widths = [inner * share for share in COLUMNS]
    xs = [region.x + pad, region.x + pad + widths[0] + pad / 2, region.x + pad + widths[0] + widths[1] + pad]
    title = f"{SLIDE_WORDS['procedures'][first]} – {field_name}"
    room = widths[0] + pad - b.measure(page, round(0.032 * u), False) - 0.03 * u
    if b.measure(title, round(0.032 * u), True) > room:  # a small screen: the field's name alone says it
        title = field_name
    _heading(b, "procedures", title, page, region, width=widths[0] + pad)
    for key, x, w in (("fee", xs[1], widths[1] - pad / 2), ("time", xs[2], widths[2] - pad / 2)):
        b.text(f"procedures.{key}.caption", SLIDE_WORDS[key][first], x, region.y, w, HEADING_U * u, 0.03 * u,
               colour="muted", align="left")
    per_page = rows_per_page(u, region)
    rows: list[Procedure | int] = [*summary.procedures, *([summary.more] if summary.more else [])]
    shown = rows[slide.page * per_page: (slide.page + 1) * per_page]
    top = round(region.y + HEADING_U * u)
    row_h = math.floor(min((region.h - HEADING_U * u) / per_page, 0.16 * u))
    for i, row in enumerate(shown):
        y = top + i * row_h
        name = f"procedures.{i}"
        b.fill(f"{name}.row", region.x, y + row_h * 0.04, region.w, row_h * 0.92, "row" if i % 2 == 0 else "row_alt")
        inner_y, inner_h = y + row_h * (1 - ROW_INNER) / 2, row_h * ROW_INNER
        if isinstance(row, int):  # the procedures the summary left out: how many
            b.text(f"{name}.more", SLIDE_WORDS["more"][first].format(n=row), xs[0], inner_y, inner - pad, inner_h,
                   0.034 * u, colour="muted")
            continue
        b.paragraph(f"{name}.name", row.name(first), xs[0], inner_y, widths[0] - pad / 2, inner_h, NAME_U * u,
                    min_size=MIN_NAME_U * u, max_lines=3, bold=True, middle=True)
        b.paragraph(f"{name}.fee", row.fee, xs[1], inner_y, widths[1] - pad / 2, inner_h, 0.034 * u,
                    min_size=MIN_TEXT_U * u, max_lines=2, bold=True, colour="count", middle=True)
        time_h = inner_h * 0.47 if row.on_the_spot else inner_h
        if row.processing_time:
            b.paragraph(f"{name}.time", row.processing_time, xs[2], inner_y, widths[2] - pad / 2, time_h,
                        0.034 * u, min_size=MIN_TEXT_U * u, max_lines=1 if row.on_the_spot else 2, middle=True)
        if row.on_the_spot:
            _badge(b, f"{name}.on_the_spot", SLIDE_WORDS["on_the_spot"][first], xs[2],
                   inner_y + (time_h if row.processing_time else 0), widths[2] - pad / 2,
                   inner_h - time_h if row.processing_time else inner_h)


def _badge(b: Builder, name: str, text: str, x: float, y: float, w: float, h: float) -> None:
    """A short text on a yellow ground: the mark of a procedure done on the spot."""
    u = b.u
    size = min(0.03 * u, (h - 0.006 * u) / LINE)
    label_w = min(w, b.measure(text, round(size), True) + 0.014 * u)
    box_h = min(h, line_height(round(size)) + 0.006 * u)
    top = y + (h - box_h) / 2
    b.fill(f"{name}.ground", x, top, label_w, box_h, "highlight")
    b.text(name, text, x + 0.006 * u, top, label_w - 0.006 * u, box_h, size, bold=True, colour="highlight_text")


def qr_matrix(url: str) -> tuple[tuple[bool, ...], ...]:
    """The QR code of `url` as rows of modules (True dark), without its quiet zone."""
    code = segno.make_qr(url, error="m")
    return tuple(tuple(bool(m) for m in row) for row in code.matrix)


def _lookup(b: Builder, url: str, region: Region, first: str, second: str | None) -> None:
    """A QR code of the lookup page, as large as the room's height allows, and what it is for."""
    u, pad = b.u, 0.02 * b.u
    matrix = qr_matrix(url)
    modules = len(matrix) + 2 * QR_QUIET
    module = int(min(region.h, region.w * 0.45) // modules)
    text_x = region.x
    if module >= QR_MIN_MODULE_PX:
        side = module * modules
        x0, y0 = round(region.x), round(region.y + (region.h - side) / 2)
        b.fill("lookup.qr", x0, y0, side, side, "qr_light")
        for r, row in enumerate(matrix):  # each run of dark modules in a row is one rectangle
            c = 0
            while c < len(row):
                if not row[c]:
                    c += 1
                    continue
                start = c
                while c < len(row) and row[c]:
                    c += 1
                b.fill(f"lookup.qr.{r}.{start}", x0 + (QR_QUIET + start) * module, y0 + (QR_QUIET + r) * module,
                       (c - start) * module, module, "qr_dark")
        text_x = x0 + side + 2 * pad
    w = region.x + region.w - text_x
    lines = b.paragraph("lookup.title", SLIDE_WORDS["lookup"][first], text_x, region.y, w, region.h * 0.5,
                        0.056 * u, min_size=0.04 * u, max_lines=2, bold=True, colour="title", middle=True)
    y = region.y + region.h * 0.5
    if second and lines:
        b.text("lookup.title2", SLIDE_WORDS["lookup"][second], text_x, y, w, 0.06 * u, 0.036 * u, colour="muted")
        y += 0.06 * u
    whole = b.measure(url, round(MIN_TEXT_U * u), False) <= w  # an address reads best on one line
    b.paragraph("lookup.url", url, text_x, y + 0.01 * u, w, region.y + region.h - y - 0.01 * u, 0.036 * u,
                min_size=MIN_TEXT_U * u, max_lines=1 if whole else 3, colour="label")


def _hotline(b: Builder, config: Config, region: Region, first: str, second: str | None) -> None:
    u = b.u
    _heading(b, "hotline", SLIDE_WORDS["hotline"][first], SLIDE_WORDS["hotline"][second] if second else "", region)
    rest = region.h - HEADING_U * u
    b.text("hotline.number", clean(config.site.hotline, 40), region.x, region.y + HEADING_U * u, region.w, rest * 0.6,
           0.12 * u, bold=True, colour="label", align="center")
    b.text("hotline.hint", SLIDE_WORDS["hotline_hint"][first], region.x, region.y + HEADING_U * u + rest * 0.6,
           region.w, rest * 0.4, 0.04 * u, colour="muted", align="center")
