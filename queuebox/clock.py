"""Business day and trusted time.

A Raspberry Pi has no real-time clock: at boot it runs on the last saved time until NTP
syncs, then jumps. So the business day is the local date in the centre's zone, but it only
ever moves forward, and recorded times never go backwards (a clock that jumps back is
held at the last recorded time until it catches up). Pure functions: `now` is passed in,
except `utc_now`, the one place queuebox reads the wall clock.

Tests and demos only: with the environment variable `QUEUEBOX_CLOCK_OFFSET_FILE` naming a
file that holds a number of seconds, `utc_now` is the system clock plus that offset, re-read
whenever the file changes. It lets a test move the clock of a real `queuebox server` process
(across midnight, back an hour, a day forward) the way a Pi without a real-time clock sees it
move, without touching the machine's clock (which needs root and moves every other program).
Never set it on an appliance.
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

CLOCK_OFFSET_ENV = "QUEUEBOX_CLOCK_OFFSET_FILE"
_offset_cache: tuple[tuple[str, int, int, int], float] | None = None  # ((path, inode, mtime, size), seconds)


def utc_now() -> datetime:
    """The wall clock, zone-aware UTC (plus the test offset, see the module docstring)."""
    now = datetime.now(timezone.utc)
    path = os.environ.get(CLOCK_OFFSET_ENV)
    return now + timedelta(seconds=_offset_s(path)) if path else now


def _offset_s(path: str) -> float:
    """The offset in the file, cached until the file changes; 0 while it is missing or unreadable."""
    global _offset_cache
    try:
        st = os.stat(path)
        key = (path, st.st_ino, st.st_mtime_ns, st.st_size)
        if _offset_cache is None or _offset_cache[0] != key:
            with open(path, encoding="utf-8") as f:
                _offset_cache = (key, float(f.read().strip() or 0))
        return _offset_cache[1]
    except (OSError, ValueError):
        return 0.0


def local_date(now: datetime, zone: ZoneInfo) -> date:
    """The calendar date at `now` (zone-aware) in the centre's time zone."""
    if now.tzinfo is None:
        raise ValueError("now must be zone-aware")
    return now.astimezone(zone).date()


def business_day(current: date | None, now: datetime, zone: ZoneInfo) -> date:
    """The day a command at `now` belongs to: the local date, but never before `current`."""
    today = local_date(now, zone)
    return today if current is None or today > current else current


def trusted_now(now: datetime, last_recorded: datetime | None) -> datetime:
    """`now`, held at `last_recorded` if the clock has jumped back behind it."""
    if last_recorded is not None and now < last_recorded:
        return last_recorded
    return now


def iso(moment: datetime, zone: ZoneInfo) -> str:
    """ISO-8601 with the local offset and milliseconds, as stored and sent on the wire."""
    return moment.astimezone(zone).isoformat(timespec="milliseconds")


def parse_iso(text: str) -> datetime:
    """Inverse of `iso`; the result is zone-aware."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without offset: {text!r}")
    return moment
