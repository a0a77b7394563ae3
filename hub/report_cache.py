"""The province's month reports (and the reasons given with ratings), kept while what they are made of has not changed.

A month across a province is hundreds of thousands of tickets (bench/dashboard.py: seconds to
compute). Once a centre has opened a business day two days after the month (the day after would
not do: a rating may come two minutes after its ticket's day closed), the month is closed for
it: its tickets cannot change unless the centre's history changes (a restored old backup, a new
epoch), a backlog still arrives from a centre that was offline (its `acked` moves while its
business day is still within the month), or its setup changes (a service's name or target).
`stamp` captures exactly that, so a kept report is served only while it is what computing it
again would give; the current month's stamp moves with every acknowledged batch.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from datetime import datetime, timedelta, tzinfo
from typing import Any, Callable, Hashable, TypeVar

import psycopg

from hub.store import province_reason_counts, province_reports
from queuebox.figures import Period, ReasonCounts, Report

logger = logging.getLogger(__name__)
KEPT = 24  # reports and reasons kept (a few months, by centre and by field)
READY_EVERY_S = 600.0  # how often the dashboard looks whether last month needs making ahead
T = TypeVar("T")


def stamp(conn: psycopg.Connection, period: Period) -> Hashable:
    """What a province report of `period` depends on, per centre: its history (epoch), how far
    it is stored unless the period is closed for it, and its setup."""
    rows = conn.execute(
        "SELECT c.id, c.epoch, CASE WHEN e.day > %s::date + 1 THEN NULL ELSE coalesce(e.acked, 0) END, md5(c.setup::text) "
        "FROM centres c LEFT JOIN epochs e ON e.centre = c.id AND e.epoch = c.epoch ORDER BY c.id",
        [period.end]).fetchall()
    return tuple(rows)


class ReportCache:
    """The province's reports and reasons of a period, kept for the last KEPT asked; safe
    across threads (the dashboard's requests)."""

    def __init__(self, kept: int = KEPT) -> None:
        self.kept = kept
        self._kept: OrderedDict[tuple[Any, ...], tuple[Hashable, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def province_reports(self, conn: psycopg.Connection, period: Period, *by: str) -> dict[str, Report]:
        return self._get(conn, period, ("reports", *by), lambda: province_reports(conn, period, *by))

    def province_reason_counts(self, conn: psycopg.Connection, period: Period, by: str) -> ReasonCounts:
        return self._get(conn, period, ("reasons", by), lambda: province_reason_counts(conn, period, by))

    def _get(self, conn: psycopg.Connection, period: Period, what: tuple[str, ...], make: Callable[[], T]) -> T:
        key, now = (period, *what), stamp(conn, period)
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None and kept[0] == now:
                self._kept.move_to_end(key)
                return kept[1]  # type: ignore[no-any-return]
        made = make()
        with self._lock:
            self._kept[key] = (now, made)
            self._kept.move_to_end(key)
            while len(self._kept) > self.kept:
                self._kept.popitem(last=False)
        return made


def last_month(now: datetime, zone: tzinfo) -> Period:
    """The month before the one `now` falls in, in the province's time zone."""
    return Period.month(now.astimezone(zone).date().replace(day=1) - timedelta(days=1))


def make_ready(cache: ReportCache, conn: psycopg.Connection, period: Period) -> None:
    """The province's pages of `period` made ahead (by centre, by field, and their reasons), so the
    first officer to open them does not wait; a glance at `stamp` while they are kept."""
    for by in ("centre", "service"):
        cache.province_reports(conn, period, by)
        cache.province_reason_counts(conn, period, by)


def keep_last_month_ready(cache: ReportCache, dsn: str, zone: tzinfo, stop: threading.Event,
                          now: Callable[[], datetime], every_s: float = READY_EVERY_S) -> None:
    """Until `stop`: last month made ahead now and every `every_s` (a thread of `queuebox hub-web`).
    A failure (PostgreSQL away) is logged and tried again next time: the pages then make it."""
    while True:
        try:
            with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
                make_ready(cache, conn, last_month(now(), zone))
        except psycopg.Error as exc:
            logger.warning("could not make last month's reports ahead: %s", str(exc).strip().splitlines()[0])
        if stop.wait(every_s):
            return
