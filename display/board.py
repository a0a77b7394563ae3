"""The waiting-room board's data: pure (stdlib and queuebox only), `now` passed in.

`read_board` turns any retained `board` payload (already JSON-decoded) into a `Board`,
never raising: missing fields get defaults, text is NFC-normalised, stripped of control
characters and clipped, counts are whole numbers of 0 or more, calls are capped.
`with_services` puts the server's `services` snapshot in place of a display's own list.
`follow` / `blinking` / `next_change` decide which call is highlighted and when the picture
changes by time alone. What to draw from all this is display/layout.py; the boxes and the
fitting of text into them are display/boxes.py.
"""

from __future__ import annotations

import dataclasses
import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from queuebox.config import Config, ServiceConfig
from queuebox.config_check import MAX_MESSAGE
from queuebox.protocol import MAX_SERVICES as SNAPSHOT_SERVICES
from queuebox.protocol_fields import GROUP_CODE

MAX_CALLS = 32  # calls kept from a snapshot; the board shows 1 + display.history
MAX_COUNT = 99_999  # a waiting count above this is shown as this
CLIP = {"ticket": 16, "counter": 32, "counter_name": 48, "service": 8, "at": 40, "message": MAX_MESSAGE, "name": 96}
MESSAGE_PAGE_S = 8  # a board message too long for one line shows page after page, each this long
BLINK_S = 0.5  # the newest call swaps colours every half second while highlighted (1 Hz, far below 3 Hz)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")


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
    group: str = ""  # the ticket's priority group code ("CT"), "" for none


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
                          recall=min(max(_whole(item.get("recall")), 0), 99), group=_group(item.get("group"))))
    waiting = []
    counts = raw.get("waiting")
    if isinstance(counts, dict):
        for code, n in list(counts.items())[:MAX_CALLS]:
            code = clean(code, CLIP["service"])
            if code and not any(code == c for c, _ in waiting):
                waiting.append((code, min(max(_whole(n), 0), MAX_COUNT)))
    return Board(seq=max(_whole(raw.get("seq"), -1), -1), at=clean(raw.get("at"), CLIP["at"]),
                 calls=tuple(calls), waiting=tuple(waiting), message=clean(raw.get("message"), CLIP["message"]))


def _group(value: Any) -> str:
    """A priority group code as the protocol defines it, else '' (an older server sends none)."""
    return value if isinstance(value, str) and GROUP_CODE.fullmatch(value) else ""


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


def local_time(now: datetime, config: Config) -> datetime:
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
        at = local_time(now - timedelta(minutes=2 * i + 1), config)
        calls.append(Call(label, c.id, clean(c.name, CLIP["counter_name"]), code,
                          at.isoformat(timespec="milliseconds"), 1 if i == 2 else 0))
    waiting = tuple((s.code, (7, 12, 3, 0, 5, 2, 9)[i % 7]) for i, s in enumerate(config.services))
    return Board(seq=412, at=local_time(now, config).isoformat(timespec="milliseconds"), calls=tuple(calls),
                 waiting=waiting, message="")
