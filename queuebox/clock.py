"""Business day and trusted time.

A Raspberry Pi has no real-time clock: at boot it runs on the last saved time until NTP
syncs, then jumps. So the business day is the local date in the centre's zone, but it only
ever moves forward, and recorded times never go backwards (a clock that jumps back is
held at the last recorded time until it catches up). Pure functions: `now` is passed in.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo


def utc_now() -> datetime:
    """The wall clock, zone-aware UTC. The only place queuebox reads the time."""
    return datetime.now(timezone.utc)


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
