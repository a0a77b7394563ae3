"""What the waiting-room board draws: pure (stdlib and queuebox only), `now` passed in.

`layout` turns a Board (display/board.py), the time and the config into a `Layout` of boxes
(display/boxes.py). Landscape screens put the calls on the left and the waiting counts on the
right; portrait screens stack them.

Text sizes are in pixels relative to the screen's short side `u` (1080 on a 1920×1080 or a
1080×1920 screen). On a 55-inch 1080p screen 1 px is about 0.63 mm; a glyph is readable
from 10 m when its capital height is about 1/300 of the distance (33 mm), i.e. a font
size of about 0.07 u. Ticket labels (0.2 u), counter names, the previous calls and the
waiting counts are at that size or above; titles, dates and the footer are smaller.
"""

from __future__ import annotations

import math
from datetime import date, datetime

from display.board import (CLIP, MESSAGE_PAGE_S, Board, Highlight, blinking, clean, counter_name, local_time,
                           service_names)
from display.boxes import LINE, Builder, Layout, Measure, estimate_width, fit
from display.slide_layout import SLIDE_WORDS, Region, draw_slide, rows_per_page
from display.slides import HISTORY, SlideSources, deck, showing
from queuebox.config import Config
from queuebox.text import split_counter_name

MAX_HISTORY = 12  # previous calls drawn at most, whatever display.history says
MAX_SERVICES = 16  # services a ward may have that the board shows all at once (wards have 8–15 fields)
MAX_WAITING_COLUMNS = 3
SLIDE_ROWS = 3  # a portrait board keeps room for three rows of previous calls when it shows slides there
MIN_ROW_U = 0.06  # a waiting row is at least this × the short side high
# Floors, × the short side, that every board keeps for up to MAX_SERVICES services (tested): the
# waiting count and the calls stay readable from about 10 m on a 55" screen, a long service name
# may shrink to MIN_NAME_U (about 5 m) before a ward's 16 fields would no longer fit.
MIN_COUNT_U = 0.05
MIN_NAME_U = 0.022
BADGE_U = 0.07  # a priority group's badge beside the newest call: readable from 10 m, as the calls
HISTORY_BADGE_U = 0.05  # in a previous call's row, where the counter's name needs the room
WORDS = {
    "calling": {"vi": "MỜI SỐ", "en": "Now calling"},
    "to": {"vi": "đến", "en": "to"},
    "history": {"vi": "ĐÃ GỌI", "en": "Called before"},
    "waiting": {"vi": "ĐANG CHỜ", "en": "Waiting"},
    "none": {"vi": "Chưa gọi số nào", "en": "No call yet"},
    "hotline": {"vi": "Đường dây nóng", "en": "Hotline"},
    "offline": {"vi": "Mất kết nối máy chủ", "en": "Server offline"},
    "call_n": {"vi": "Gọi lần {n}", "en": "Call {n}"},
    "priority": {"vi": "ƯU TIÊN", "en": "Priority"},
}
WEEKDAYS = {"vi": ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật"),
            "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")}
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _languages(config: Config) -> tuple[str, str | None]:
    langs = [lang for lang in config.site.languages if lang in ("vi", "en")] or ["vi"]
    second = next((lang for lang in langs[1:] if lang != langs[0]), None)
    return langs[0], second


def _date_text(day: date, lang: str) -> str:
    if lang == "en":
        return f"{WEEKDAYS['en'][day.weekday()]} {day.day} {MONTHS_EN[day.month - 1]} {day.year}"
    return f"{WEEKDAYS['vi'][day.weekday()]}, {day.day:02d}/{day.month:02d}/{day.year}"


def layout(board: Board, now: datetime, config: Config, size: tuple[int, int], *,
           highlight: Highlight | None = None, offline: bool = False, measure: Measure = estimate_width,
           sources: SlideSources = SlideSources(), slide: str | None = None) -> Layout:
    """What to draw on a `size` (width, height) screen; see the module docstring.

    Landscape screens put the calls on the left and the waiting counts on the right;
    portrait screens stack header, calls, previous calls, waiting counts and footer.
    Under the newest call, the slide `display.slides` shows at `now` (display/slides.py), from
    `sources`; `slide` (a kind: "history", "procedures" …) draws the first slide of that kind
    instead, or nothing there when there is none (`Layout.slide` says what was drawn).
    """
    width, height = max(1, int(size[0])), max(1, int(size[1]))
    b = Builder(width, height, measure)
    u = b.u
    first, second = _languages(config)
    local = local_time(now, config)
    m = round(0.022 * u)  # margin
    portrait = height > width * 1.1

    # header: centre name, date, clock (and the offline mark)
    head_h = round(0.16 * u) if portrait else round(0.115 * height)
    b.fill("header", 0, 0, width, head_h, "header")
    clock = local.strftime("%H:%M")
    day = _date_text(local.date(), first)
    name = clean(config.site.name, CLIP["name"])
    mark = WORDS["offline"][first] if offline else ""
    if portrait:
        row = head_h / 2
        b.text("header.name", name, m, 0, width - 2 * m, row, 0.05 * u, bold=True, colour="header_text")
        clock_w = 0.2 * width
        date_w = 0.42 * width
        b.text("header.date", day, m, row, date_w, row, 0.04 * u, colour="header_text")
        if mark:
            b.text("header.offline", mark, 2 * m + date_w, row, width - clock_w - date_w - 4 * m, row, 0.03 * u,
                   colour="warning", align="center")
        b.text("header.clock", clock, width - m - clock_w, row, clock_w, row, 0.065 * u, bold=True,
               colour="header_text", align="right")
    else:
        clock_w = 0.11 * width
        date_w = 0.24 * width
        name_w = width - clock_w - date_w - 4 * m
        name_h = head_h * (0.62 if mark else 1.0)
        b.text("header.name", name, m, 0, name_w, name_h, 0.05 * u, bold=True, colour="header_text")
        if mark:
            b.text("header.offline", mark, m, name_h, name_w, head_h - name_h, 0.03 * u, colour="warning")
        b.text("header.date", day, width - m - clock_w - m - date_w, 0, date_w, head_h, 0.04 * u,
               colour="header_text", align="right")
        b.text("header.clock", clock, width - m - clock_w, 0, clock_w, head_h, 0.07 * u, bold=True,
               colour="header_text", align="right")

    # footer: the board's message, else the configured one; the hotline
    message = board.message or clean(config.display.message, CLIP["message"])
    hotline = clean(config.site.hotline, 40)
    hot_text = f"{WORDS['hotline'][first]}: {hotline}" if hotline else ""
    stacked = portrait and message and hot_text
    foot_h = round(0.15 * u) if stacked else round(0.085 * u)
    foot_y = height - foot_h
    b.fill("footer", 0, foot_y, width, foot_h, "footer")
    if stacked:
        message = _message_page(b, message, width - 2 * m, round(0.036 * u), now)
        b.text("footer.message", message, m, foot_y, width - 2 * m, foot_h / 2, 0.036 * u, colour="footer_text")
        b.text("footer.hotline", hot_text, m, foot_y + foot_h / 2, width - 2 * m, foot_h / 2, 0.036 * u,
               bold=True, colour="footer_text")
    else:
        hot_w = min(0.42 * width, b.measure(hot_text, round(0.036 * u), True) + m) if hot_text else 0
        if message:
            message_w = width - 2 * m - hot_w - (m if hot_w else 0)
            b.text("footer.message", _message_page(b, message, message_w, round(0.036 * u), now), m, foot_y,
                   message_w, foot_h, 0.036 * u, colour="footer_text")
        if hot_text:
            b.text("footer.hotline", hot_text, width - m - hot_w, foot_y, hot_w, foot_h, 0.036 * u, bold=True,
                   colour="footer_text", align="right")

    # body regions
    top, bottom = head_h + m, foot_y - m
    if portrait:  # the calls take what the configured history needs, the waiting counts the rest
        rows = math.ceil(min(max(config.display.history, 0), MAX_HISTORY) / 2)
        if set(config.display.slides) - {"history"}:
            rows = max(rows, SLIDE_ROWS)
        needed = (0.075 + 0.32 + 0.02) * u + ((0.06 + 0.1 * rows) * u if rows else 0) + m
        share = 0.62 if len(config.services) <= 10 else 0.52  # a ward with many fields: more room for them
        calling = (m, top, width - 2 * m, min((bottom - top) * share, needed))
        waiting = (m, top + calling[3] + m, width - 2 * m, bottom - top - calling[3] - m)
    else:
        # a ward with many fields gives their list more of the width (the calls keep their sizes)
        left_w = (width - 3 * m) * (0.56 if len(config.services) <= 10 else 0.5)
        calling = (m, top, left_w, bottom - top)
        waiting = (2 * m + left_w, top, width - 3 * m - left_w, bottom - top)
    under = _calling(b, board, now, config, calling, highlight, first, second)
    rotating, drawn = False, ""
    if under.h >= 0.1 * u:
        slides = deck(board, config, sources, rows_per_page(u, under), None if slide is None else (slide,))
        rotating = slide is None and len(slides) > 1
        shown = showing(slides, now, highlight, config) if slide is None else \
            (HISTORY if slide == "history" else next((s for s in slides if s.kind == slide), None))
        if shown is not None and shown.kind == "history":
            _history(b, board, config, under, first, second)
        elif shown is not None:
            draw_slide(b, shown, board, config, sources, under, first, second)
        drawn = shown.name if shown is not None else ""
    _waiting(b, board, config, waiting, first, second)
    return Layout(width, height, tuple(b.boxes), paging=b.paging, rotating=rotating, slide=drawn)


def message_pages(text: str, width: float, size: int, measure: Measure) -> list[str]:
    """`text` cut at spaces into pages that each fit `width` at `size` (a word longer than a
    page is cut where it must); more than one page ends each with "(1/3)" and so on."""
    if measure(text, size, False) <= width:
        return [text]
    mark_w = measure(" (99/99)", size, False)
    pages: list[str] = []
    line = ""
    for word in text.split(" "):
        trial = f"{line} {word}" if line else word
        if measure(trial, size, False) + mark_w <= width:
            line = trial
            continue
        if line:
            pages.append(line)
        while measure(word, size, False) + mark_w > width and len(word) > 1:  # a very long word alone
            cut = max(1, int(len(word) * (width - mark_w) / measure(word, size, False)))
            pages.append(word[:cut])
            word = word[cut:]
        line = word
    if line:
        pages.append(line)
    return [f"{page} ({i}/{len(pages)})" for i, page in enumerate(pages, 1)]


def _message_page(b: Builder, text: str, width: float, size: int, now: datetime) -> str:
    """The page of a long board message shown at `now`: each for MESSAGE_PAGE_S seconds in turn."""
    pages = message_pages(text, width, size, b.measure)
    b.paging = b.paging or len(pages) > 1
    return pages[int(now.timestamp() // MESSAGE_PAGE_S) % len(pages)]


def _title(b: Builder, name: str, key: str, x: float, y: float, w: float, h: float,
           first: str, second: str | None, badge: str = "") -> None:
    """A section title in the main language, the second language smaller beside it; a `badge`
    (the newest call's priority group) at the right end of the row, the titles keeping the rest."""
    u = b.u
    if badge:
        w -= _badge(b, f"{name}.badge", badge, x + w, y, h - 0.012 * u, BADGE_U * u, end=True) + 0.02 * u
    text, size = fit(WORDS[key][first], w * (0.6 if second else 1), min(round(0.046 * u), int(h / LINE)), 1, True,
                     b.measure)
    used = math.ceil(b.measure(text, size, True)) + 1 if text else 0
    b.text(f"{name}.title", text, x, y, used, h, size, bold=True, colour="title")
    if second and w - used - 0.02 * u > 0:
        b.text(f"{name}.title2", WORDS[key][second], x + used + 0.02 * u, y, w - used - 0.02 * u, h, 0.032 * u,
               colour="muted")


def _calling(b: Builder, board: Board, now: datetime, config: Config, region: tuple[float, ...],
             highlight: Highlight | None, first: str, second: str | None) -> Region:
    """The newest call's panel at the top of `region`; returns the room left under it."""
    x, y, w, h = region
    u = b.u
    group = board.calls[0].group if board.calls else ""
    badge = f"{WORDS['priority'][first]} · {group}" if group else ""
    title_h = (0.11 if badge else 0.075) * u  # a badge as large as the calls needs a taller row
    _title(b, "calling", "calling", x, y, w, title_h, first, second, badge)
    y += title_h
    panel_h = min(0.32 * u, h * 0.5)
    phase = blinking(highlight, now, config.display.highlight_s)
    bright = phase is True
    b.fill("calling.panel", x, y, w, panel_h, "highlight" if bright else "panel")
    pad = 0.02 * u
    if board.calls:
        call = board.calls[0]
        label_w = (w - 3 * pad) * 0.52
        b.text("calling.label", call.ticket, x + pad, y, label_w, panel_h, 0.21 * u, bold=True,
               colour="highlight_text" if bright else "label")
        right_x = x + 2 * pad + label_w
        right_w = w - 3 * pad - label_w
        cap_h = panel_h * 0.24
        to = WORDS["to"][first] + (f" / {WORDS['to'][second]}" if second else "")
        b.text("calling.to", to, right_x, y + pad / 2, right_w, cap_h - pad / 2, 0.04 * u,
               colour="highlight_text" if bright else "muted")
        rec_h = panel_h * 0.2 if call.recall else 0
        short, detail = split_counter_name(counter_name(call, config))
        counter_h = panel_h - cap_h - rec_h - pad / 2
        colour = "highlight_text" if bright else "counter"
        if detail:  # "Quầy 1 - Tiếp nhận hồ sơ đất đai": the number large, what it does under it
            b.text("calling.counter", short, right_x, y + cap_h, right_w, counter_h * 0.6, 0.12 * u, bold=True,
                   colour=colour)
            b.lines("calling.counter_detail", detail, right_x, y + cap_h + counter_h * 0.6, right_w, counter_h * 0.4,
                    0.045 * u, colour=colour)
        else:
            b.lines("calling.counter", short, right_x, y + cap_h, right_w, counter_h, 0.12 * u, bold=True,
                    colour=colour)
        if call.recall:
            b.text("calling.recall", WORDS["call_n"][first].format(n=call.recall + 1), right_x,
                   y + panel_h - rec_h - pad / 2, right_w, rec_h, 0.036 * u,
                   colour="highlight_text" if bright else "warning")
    else:
        b.text("calling.none", WORDS["none"][first], x + pad, y, w - 2 * pad, panel_h, 0.06 * u, colour="muted",
               align="center")
    y += panel_h + 0.02 * u
    return Region(x, y, w, region[1] + h - y)


def _history(b: Builder, board: Board, config: Config, region: Region, first: str, second: str | None) -> None:
    """The previous calls, two columns where the room is wide enough."""
    x, y, w, left = region.x, region.y, region.w, region.h
    u = b.u
    pad = 0.02 * u
    rest = board.calls[1: 1 + min(max(config.display.history, 0), MAX_HISTORY)]
    if not rest:
        return
    _title(b, "history", "history", x, y, w, 0.06 * u, first, second)
    y += 0.06 * u
    left -= 0.06 * u
    cols = 2 if w >= 0.8 * u else 1
    row_h = min(0.1 * u, left / math.ceil(len(rest) / cols))
    if row_h < 0.05 * u:  # too many for the room left: keep as many rows as fit
        rows = max(0, int(left // (0.05 * u)))
        rest = rest[: rows * cols]
        row_h = 0.05 * u
    rows = math.ceil(len(rest) / cols) if rest else 0
    col_w = (w - (cols - 1) * 0.02 * u) / cols
    y, row_h = round(y), math.floor(row_h)  # whole pixels: neighbouring rows share their edge exactly
    for i, call in enumerate(rest):
        row, col = divmod(i, cols)  # read across, then down, as people read
        cx = x + col * (col_w + 0.02 * u)
        cy = y + row * row_h
        b.fill(f"history.{i}.row", cx, cy + row_h * 0.06, col_w, row_h * 0.88, "row")
        label_w = col_w * 0.42
        b.text(f"history.{i}.label", call.ticket, cx + pad, cy, label_w - pad, row_h, 0.075 * u, bold=True,
               colour="label")
        # a priority group's code between the number and the counter, the counter's name giving way
        badge_w = _badge(b, f"history.{i}.badge", call.group, cx + label_w + pad / 2, cy + row_h * 0.06,
                         row_h * 0.88, HISTORY_BADGE_U * u) if call.group else 0
        counter_x = cx + label_w + pad / 2 + (badge_w + pad / 2 if badge_w else 0)
        b.text(f"history.{i}.counter", split_counter_name(counter_name(call, config))[0], counter_x, cy,
               cx + col_w - pad - counter_x, row_h, 0.06 * u, colour="counter", align="right")


def _badge(b: Builder, name: str, text: str, x: float, y: float, h: float, size: float, *,
           end: bool = False) -> float:
    """A priority badge: `text` bold at `size` (at most) on a filled block `h` high, starting at
    `x` (ending there when `end`); returns its width."""
    size = min(size, h / LINE)
    w = b.measure(text, round(size), True) + 0.03 * b.u
    left = x - w if end else x
    b.fill(f"{name}.fill", left, y, w, h, "badge")
    return w if b.text(name, text, left, y, w, h, size, bold=True, colour="badge_text", align="center") else 0


def _waiting(b: Builder, board: Board, config: Config, region: tuple[float, ...], first: str,
             second: str | None) -> None:
    """One row per service, its name and its waiting count; as many columns as make the names
    largest, so that every service of a ward (up to MAX_SERVICES) is on the screen at once."""
    x, y, w, h = region
    u = b.u
    title_h = 0.075 * u
    _title(b, "waiting", "waiting", x, y, w, title_h, first, second)
    y += title_h
    h -= title_h
    codes = [s.code for s in config.services]
    codes += [code for code, _ in board.waiting if code not in codes]
    if not codes or h <= 0:
        return
    pad = 0.02 * u
    names = {code: service_names(config, code) for code in codes}
    closed_codes = {s.code for s in config.services if s.override == "closed"}
    mains = [names[code].get(first) or names[code]["vi"] for code in codes]
    widest_count = max([str(board.count(c) or 0) for c in codes] + ["00"], key=len)
    plans = [_waiting_plan(b, mains, widest_count, w, h, cols) for cols in range(1, MAX_WAITING_COLUMNS + 1)]
    # every service first, then the largest names, then the fewest columns
    cols, rows, row_h, _ = max(plans, key=lambda p: (p[0] * p[1] >= len(codes), p[3], -p[0]))
    codes = codes[: cols * rows]  # only past MAX_SERVICES on a small screen: rows of MIN_ROW_U each
    col_w = (w - (cols - 1) * pad) / cols
    count_size = min(0.085 * u, row_h * 0.9 / LINE)
    count_w = b.measure(widest_count, round(count_size), True) + pad
    room_for_second = second is not None and row_h >= 0.11 * u
    y, row_h = round(y), math.floor(row_h)  # whole pixels, as for the history
    for i, code in enumerate(codes):
        row, col = divmod(i, cols)  # read across, then down
        rx, ry = x + col * (col_w + pad), y + row * row_h
        inner_y, inner_h = ry + row_h * 0.05, row_h * 0.9
        b.fill(f"waiting.{code}.row", rx, inner_y, col_w, inner_h, "row" if (row + col) % 2 == 0 else "row_alt")
        name_w = col_w - count_w - 2.5 * pad
        main = names[code].get(first) or names[code]["vi"]
        sub = names[code].get(second, "") if second and room_for_second else ""
        main_h = inner_h * 0.64 if sub else inner_h
        if sub and _name_size(b, main, name_w, main_h) < 0.042 * u:  # a long name: all the room, no translation
            sub, main_h = "", inner_h
        closed = code in closed_codes  # still listed: people may be waiting in it
        b.lines(f"waiting.{code}.name", main, rx + pad, inner_y, name_w, main_h, 0.05 * u, bold=True,
                colour="muted" if closed else "text")
        if sub:
            b.text(f"waiting.{code}.name2", sub, rx + pad, inner_y + main_h, name_w, inner_h - main_h, 0.032 * u,
                   colour="muted")
        count = board.count(code)
        b.text(f"waiting.{code}.count", str(count if count is not None else 0), rx + col_w - pad - count_w, ry,
               count_w, row_h, count_size, bold=True, colour="count", align="right")


def _waiting_plan(b: Builder, names: list[str], widest_count: str, w: float, h: float,
                  cols: int) -> tuple[int, int, float, float]:
    """(cols, rows, row height, the smallest name size) of the waiting rows in `cols` columns."""
    u, pad = b.u, 0.02 * b.u
    rows = max(1, min(math.ceil(len(names) / cols), int(h // (MIN_ROW_U * u))))
    row_h = min(0.15 * u, h / rows)
    col_w = (w - (cols - 1) * pad) / cols
    count_w = b.measure(widest_count, round(min(0.085 * u, row_h * 0.9 / LINE)), True) + pad
    name_w = col_w - count_w - 2.5 * pad
    if name_w <= 0:
        return cols, rows, row_h, 0.0
    return cols, rows, row_h, min(_name_size(b, name, name_w, row_h * 0.9) for name in names)


def _name_size(b: Builder, text: str, w: float, h: float) -> float:
    """The font size `Builder.lines` gives `text` in a w × h box (one line, or two if larger)."""
    return b.lines_size(text, w, h, 0.05 * b.u, True)[0]


def fixed_texts(config: Config) -> list[str]:
    """Every text the board can show that comes from the config or from this module (the
    payload's labels and names aside): for checking that the fonts have every glyph."""
    texts = [config.site.name, config.site.hotline, config.display.message, "0123456789:/,.…-–"]
    texts += [name for s in config.services for name in (s.name_vi, s.name_en) if name]
    texts += [c.name for c in config.counters]
    texts += [text for words in (*WORDS.values(), *SLIDE_WORDS.values()) for text in words.values()]
    texts += [*WEEKDAYS["vi"], *WEEKDAYS["en"], *MONTHS_EN]
    return [clean(t, 10_000) for t in texts if clean(t, 10_000)]
