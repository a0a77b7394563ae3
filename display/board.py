"""The waiting-room board as boxes to draw: pure (stdlib and queuebox only), `now` passed in.

`read_board` turns any retained `board` payload (already JSON-decoded) into a `Board`,
never raising: missing fields get defaults, text is NFC-normalised, stripped of control
characters and clipped, counts are whole numbers of 0 or more, calls are capped. `layout`
turns a Board, the time and the config into a `Layout`: frozen boxes of text with their
rectangle, font size, weight and colour role, in drawing order. Two layouts compare equal
exactly when they draw the same picture, which is how the renderer decides to redraw.

Text sizes are in pixels relative to the screen's short side `u` (1080 on a 1920×1080 or a
1080×1920 screen). On a 55-inch 1080p screen 1 px is about 0.63 mm; a glyph is readable
from 10 m when its capital height is about 1/300 of the distance (33 mm), i.e. a font
size of about 0.07 u. Ticket labels (0.2 u), counter names, the previous calls and the
waiting counts are at that size or above; titles, dates and the footer are smaller.

Text widths are measured by a `Measure` function (text, size, bold) -> pixels: the
renderer passes the real font's, and `estimate_width` (a per-character guess) serves
tests. Text that does not fit is shrunk down to `min_size`, then cut with "…".
"""

from __future__ import annotations

import dataclasses
import math
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable
from zoneinfo import ZoneInfo

from queuebox.config import MAX_MESSAGE, Config, ServiceConfig
from queuebox.protocol import MAX_SERVICES as SNAPSHOT_SERVICES

Measure = Callable[[str, int, bool], float]

MAX_CALLS = 32  # calls kept from a snapshot; the board shows 1 + display.history
MAX_HISTORY = 12  # previous calls drawn at most, whatever display.history says
MAX_COUNT = 99_999  # a waiting count above this is shown as this
MAX_SERVICES = 16  # services a ward may have that the board shows all at once (wards have 8–15 fields)
MAX_WAITING_COLUMNS = 3
MIN_ROW_U = 0.06  # a waiting row is at least this × the short side high
# Floors, × the short side, that every board keeps for up to MAX_SERVICES services (tested): the
# waiting count and the calls stay readable from about 10 m on a 55" screen, a long service name
# may shrink to MIN_NAME_U (about 5 m) before a ward's 16 fields would no longer fit.
MIN_COUNT_U = 0.05
MIN_NAME_U = 0.022
CLIP = {"ticket": 16, "counter": 32, "counter_name": 48, "service": 8, "at": 40, "message": MAX_MESSAGE, "name": 96}
LINE = 1.36  # font height (ascender - descender) per pixel of font size, Noto Sans and DejaVu Sans
MESSAGE_PAGE_S = 8  # a board message too long for one line shows page after page, each this long
BLINK_S = 0.5  # the newest call swaps colours every half second while highlighted (1 Hz, far below 3 Hz)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")

WORDS = {
    "calling": {"vi": "MỜI SỐ", "en": "Now calling"},
    "to": {"vi": "đến", "en": "to"},
    "history": {"vi": "ĐÃ GỌI", "en": "Called before"},
    "waiting": {"vi": "ĐANG CHỜ", "en": "Waiting"},
    "none": {"vi": "Chưa gọi số nào", "en": "No call yet"},
    "hotline": {"vi": "Đường dây nóng", "en": "Hotline"},
    "offline": {"vi": "Mất kết nối máy chủ", "en": "Server offline"},
    "call_n": {"vi": "Gọi lần {n}", "en": "Call {n}"},
}
WEEKDAYS = {"vi": ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật"),
            "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")}
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# --- the snapshot ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Call:
    """One call on the board: ticket `ticket` goes to counter `counter` (`counter_name`)."""
    ticket: str
    counter: str
    counter_name: str
    service: str = ""
    at: str = ""
    recall: int = 0  # times called again after the first call


@dataclass(frozen=True)
class Board:
    """A board snapshot, sanitised: newest call first; `seq` -1 when there is none yet."""
    seq: int = -1
    at: str = ""
    calls: tuple[Call, ...] = ()
    waiting: tuple[tuple[str, int], ...] = ()  # (service code, count), in the snapshot's order
    message: str = ""

    def count(self, code: str) -> int | None:
        return next((n for c, n in self.waiting if c == code), None)


def clean(value: Any, limit: int) -> str:
    """`value` as display text: a string (anything else is ''), NFC, control and
    direction characters removed, whitespace runs made one space, at most `limit` characters."""
    if not isinstance(value, str):
        return ""
    text = unicodedata.normalize("NFC", value[: limit * 4])
    text = " ".join(_CONTROL.sub(" ", text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _whole(value: Any, default: int = 0) -> int:
    """A whole number from JSON: booleans, non-numbers and non-finite floats give `default`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    if isinstance(value, float) and not math.isfinite(value):
        return default
    return int(value)


def read_board(raw: Any) -> Board:
    """A Board from a decoded `board` payload; never raises (see the module docstring)."""
    if not isinstance(raw, dict):
        return Board()
    calls = []
    items = raw.get("calls")
    for item in items[:MAX_CALLS] if isinstance(items, list) else ():
        if not isinstance(item, dict):
            continue
        ticket = clean(item.get("ticket"), CLIP["ticket"])
        counter = clean(item.get("counter"), CLIP["counter"])
        if not ticket:
            continue
        calls.append(Call(ticket=ticket, counter=counter,
                          counter_name=clean(item.get("counter_name"), CLIP["counter_name"]) or counter,
                          service=clean(item.get("service"), CLIP["service"]), at=clean(item.get("at"), CLIP["at"]),
                          recall=min(max(_whole(item.get("recall")), 0), 99)))
    waiting = []
    counts = raw.get("waiting")
    if isinstance(counts, dict):
        for code, n in list(counts.items())[:MAX_CALLS]:
            code = clean(code, CLIP["service"])
            if code and not any(code == c for c, _ in waiting):
                waiting.append((code, min(max(_whole(n), 0), MAX_COUNT)))
    return Board(seq=max(_whole(raw.get("seq"), -1), -1), at=clean(raw.get("at"), CLIP["at"]),
                 calls=tuple(calls), waiting=tuple(waiting), message=clean(raw.get("message"), CLIP["message"]))


def parse_time(text: str) -> datetime | None:
    """An ISO-8601 time with offset, or None."""
    try:
        t = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return t if t.tzinfo is not None else None


# --- the highlighted call ---------------------------------------------------------------------

@dataclass(frozen=True)
class Highlight:
    """Which call is the newest (`key`) and since when this display shows it (`since`)."""
    key: tuple[str, str, str, int] | None = None
    since: datetime | None = None


def newest_key(board: Board) -> tuple[str, str, str, int] | None:
    """What makes the newest call new: a recall of the same ticket is a new call."""
    if not board.calls:
        return None
    c = board.calls[0]
    return (c.ticket, c.counter, c.at, c.recall)


def follow(previous: Highlight | None, board: Board, now: datetime) -> Highlight:
    """The highlight after `board` arrives at `now`.

    A new newest call is highlighted from `now`. On the first board this display sees
    (`previous` None: just started), the call's own time is used, so a call made minutes
    before a restart does not blink again; a call time in the future counts as `now`.
    """
    key = newest_key(board)
    if previous is not None and key == previous.key:
        return previous
    if key is None:
        return Highlight()
    if previous is None:
        called = parse_time(board.calls[0].at)
        return Highlight(key, min(called, now) if called is not None else None)
    return Highlight(key, now)


def blinking(highlight: Highlight | None, now: datetime, seconds: float) -> bool | None:
    """None when the newest call is not highlighted at `now`; else whether it is in its bright phase."""
    if highlight is None or highlight.since is None:
        return None
    age = (now - highlight.since).total_seconds()
    if not 0 <= age < seconds:
        return None
    return int(age / BLINK_S) % 2 == 0


def next_change(now: datetime, highlight: Highlight | None, config: Config, *, paging: bool = False) -> datetime:
    """The next time the layout changes by time alone: the next minute (the clock), the next
    page of a board message too long for one line (`paging`: `Layout.paging`), or, while the
    newest call blinks, its next colour swap or the end of the highlight."""
    following = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    if paging:
        turn = (math.floor(now.timestamp() / MESSAGE_PAGE_S) + 1) * MESSAGE_PAGE_S
        following = min(following, datetime.fromtimestamp(turn, now.tzinfo))
    if blinking(highlight, now, config.display.highlight_s) is not None:
        assert highlight is not None and highlight.since is not None
        age = (now - highlight.since).total_seconds()
        swap = highlight.since + timedelta(seconds=(math.floor(age / BLINK_S) + 1) * BLINK_S)
        end = highlight.since + timedelta(seconds=config.display.highlight_s)
        following = min(following, swap, end)
    return following


# --- the layout --------------------------------------------------------------------------------

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


class _Builder:
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


def _languages(config: Config) -> tuple[str, str | None]:
    langs = [lang for lang in config.site.languages if lang in ("vi", "en")] or ["vi"]
    second = next((lang for lang in langs[1:] if lang != langs[0]), None)
    return langs[0], second


def _date_text(day: date, lang: str) -> str:
    if lang == "en":
        return f"{WEEKDAYS['en'][day.weekday()]} {day.day} {MONTHS_EN[day.month - 1]} {day.year}"
    return f"{WEEKDAYS['vi'][day.weekday()]}, {day.day:02d}/{day.month:02d}/{day.year}"


def _local(now: datetime, config: Config) -> datetime:
    try:
        zone = ZoneInfo(config.site.timezone)
    except (ValueError, OSError, KeyError):
        zone = timezone.utc
    return now.astimezone(zone) if now.tzinfo is not None else now.replace(tzinfo=zone)


def with_services(config: Config, raw: Any) -> Config:
    """`config` with the services of a `services` snapshot (decoded JSON) in place of its own,
    so the board shows the centre as the server knows it (names saved on the web, open or
    closed now). Entries that make no sense are skipped; a snapshot with none leaves `config`
    as it is. Never raises."""
    items = raw.get("services") if isinstance(raw, dict) else None
    found: list[ServiceConfig] = []
    for item in items[:SNAPSHOT_SERVICES] if isinstance(items, list) else ():
        code = clean(item.get("code"), CLIP["service"]) if isinstance(item, dict) else ""
        if not code or any(s.code == code for s in found):
            continue
        found.append(ServiceConfig(code=code, name_vi=clean(item.get("name_vi"), CLIP["name"]) or code,
                                   name_en=clean(item.get("name_en"), CLIP["name"]),
                                   override="closed" if item.get("open") is False else "open"))
    return dataclasses.replace(config, services=tuple(found)) if found else config


def service_names(config: Config, code: str) -> dict[str, str]:
    """The service's name by language; the code itself when the config does not know it."""
    svc = next((s for s in config.services if s.code == code), None)
    if svc is None:
        return {"vi": code, "en": code}
    return {"vi": clean(svc.name_vi, CLIP["name"]) or code, "en": clean(svc.name_en, CLIP["name"])}


def counter_name(call: Call, config: Config) -> str:
    """The name the board shows for the call's counter: the board's, else the config's, else its id."""
    if call.counter_name:
        return call.counter_name
    c = next((c for c in config.counters if c.id == call.counter), None)
    return clean(c.name, CLIP["counter_name"]) if c else call.counter


def split_counter_name(name: str) -> tuple[str, str]:
    """A counter's name as (what it is called, what it does): "Quầy 1 - Tiếp nhận hồ sơ đất đai"
    is ("Quầy 1", "Tiếp nhận hồ sơ đất đai"); a name without " - ", " – " or ": " is all short."""
    for separator in (" - ", " – ", ": "):
        short, found, detail = name.partition(separator)
        if found and short.strip() and detail.strip():
            return short.strip(), detail.strip()
    return name, ""


def layout(board: Board, now: datetime, config: Config, size: tuple[int, int], *,
           highlight: Highlight | None = None, offline: bool = False, measure: Measure = estimate_width) -> Layout:
    """What to draw on a `size` (width, height) screen; see the module docstring.

    Landscape screens put the calls on the left and the waiting counts on the right;
    portrait screens stack header, calls, previous calls, waiting counts and footer.
    """
    width, height = max(1, int(size[0])), max(1, int(size[1]))
    b = _Builder(width, height, measure)
    u = b.u
    first, second = _languages(config)
    local = _local(now, config)
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
        needed = (0.075 + 0.32 + 0.02) * u + ((0.06 + 0.1 * rows) * u if rows else 0) + m
        share = 0.62 if len(config.services) <= 10 else 0.52  # a ward with many fields: more room for them
        calling = (m, top, width - 2 * m, min((bottom - top) * share, needed))
        waiting = (m, top + calling[3] + m, width - 2 * m, bottom - top - calling[3] - m)
    else:
        # a ward with many fields gives their list more of the width (the calls keep their sizes)
        left_w = (width - 3 * m) * (0.56 if len(config.services) <= 10 else 0.5)
        calling = (m, top, left_w, bottom - top)
        waiting = (2 * m + left_w, top, width - 3 * m - left_w, bottom - top)
    _calling(b, board, now, config, calling, highlight, first, second)
    _waiting(b, board, config, waiting, first, second)
    return Layout(width, height, tuple(b.boxes), paging=b.paging)


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


def _message_page(b: _Builder, text: str, width: float, size: int, now: datetime) -> str:
    """The page of a long board message shown at `now`: each for MESSAGE_PAGE_S seconds in turn."""
    pages = message_pages(text, width, size, b.measure)
    b.paging = b.paging or len(pages) > 1
    return pages[int(now.timestamp() // MESSAGE_PAGE_S) % len(pages)]


def _title(b: _Builder, name: str, key: str, x: float, y: float, w: float, h: float,
           first: str, second: str | None) -> None:
    """A section title in the main language, the second language smaller beside it."""
    u = b.u
    text, size = fit(WORDS[key][first], w * (0.6 if second else 1), min(round(0.046 * u), int(h / LINE)), 1, True,
                     b.measure)
    used = math.ceil(b.measure(text, size, True)) + 1 if text else 0
    b.text(f"{name}.title", text, x, y, used, h, size, bold=True, colour="title")
    if second and w - used - 0.02 * u > 0:
        b.text(f"{name}.title2", WORDS[key][second], x + used + 0.02 * u, y, w - used - 0.02 * u, h, 0.032 * u,
               colour="muted")


def _calling(b: _Builder, board: Board, now: datetime, config: Config, region: tuple[float, ...],
             highlight: Highlight | None, first: str, second: str | None) -> None:
    x, y, w, h = region
    u = b.u
    title_h = 0.075 * u
    _title(b, "calling", "calling", x, y, w, title_h, first, second)
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
    rest = board.calls[1: 1 + min(max(config.display.history, 0), MAX_HISTORY)]
    left = region[1] + h - y
    if not rest or left < 0.1 * u:
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
        b.text(f"history.{i}.counter", split_counter_name(counter_name(call, config))[0], cx + label_w + pad / 2, cy,
               col_w - label_w - 1.5 * pad, row_h, 0.06 * u, colour="counter", align="right")


def _waiting(b: _Builder, board: Board, config: Config, region: tuple[float, ...], first: str,
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


def _waiting_plan(b: _Builder, names: list[str], widest_count: str, w: float, h: float,
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


def _name_size(b: _Builder, text: str, w: float, h: float) -> float:
    """The font size `_Builder.lines` gives `text` in a w × h box (one line, or two if larger)."""
    return b.lines_size(text, w, h, 0.05 * b.u, True)[0]


def fixed_texts(config: Config) -> list[str]:
    """Every text the board can show that comes from the config or from this module (the
    payload's labels and names aside): for checking that the fonts have every glyph."""
    texts = [config.site.name, config.site.hotline, config.display.message, "0123456789:/,.…-–"]
    texts += [name for s in config.services for name in (s.name_vi, s.name_en) if name]
    texts += [c.name for c in config.counters]
    texts += [text for words in WORDS.values() for text in words.values()]
    texts += [*WEEKDAYS["vi"], *WEEKDAYS["en"], *MONTHS_EN]
    return [clean(t, 10_000) for t in texts if clean(t, 10_000)]


# --- a sample, for screenshots ---------------------------------------------------------------------

def sample_board(config: Config, now: datetime) -> Board:
    """A realistic mid-morning board for `config` (for `--sample` screenshots and docs)."""
    counters = list(config.counters) or []
    calls = []
    numbers: dict[str, int] = {}
    for i in range(7):
        if not counters:
            break
        c = counters[i % len(counters)]
        code = next(iter(c.services), "A")
        svc = next((s for s in config.services if s.code == code), None)
        numbers[code] = numbers.get(code, 0) + 1
        n = 31 - 3 * i - numbers[code]
        label = svc.label(n) if svc else f"{code}{n:03d}"
        at = _local(now - timedelta(minutes=2 * i + 1), config)
        calls.append(Call(label, c.id, clean(c.name, CLIP["counter_name"]), code,
                          at.isoformat(timespec="milliseconds"), 1 if i == 2 else 0))
    waiting = tuple((s.code, (7, 12, 3, 0, 5, 2, 9)[i % 7]) for i, s in enumerate(config.services))
    return Board(seq=412, at=_local(now, config).isoformat(timespec="milliseconds"), calls=tuple(calls),
                 waiting=waiting, message="")
