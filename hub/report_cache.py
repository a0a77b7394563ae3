"""The province's month reports, kept while what they are made of has not changed.

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

import threading
from collections import OrderedDict
from typing import Hashable

import psycopg

from hub.store import province_reports
from queuebox.figures import Period, Report

KEPT = 12  # reports kept (a few months, by centre and by field)


def stamp(conn: psycopg.Connection, period: Period) -> Hashable:
    """What a province report of `period` depends on, per centre: its history (epoch), how far
    it is stored unless the period is closed for it, and its setup."""
    rows = conn.execute(
        "SELECT c.id, c.epoch, CASE WHEN e.day > %s::date + 1 THEN NULL ELSE coalesce(e.acked, 0) END, md5(c.setup::text) "
        "FROM centres c LEFT JOIN epochs e ON e.centre = c.id AND e.epoch = c.epoch ORDER BY c.id",
        [period.end]).fetchall()
    return tuple(rows)


class ReportCache:
    """`province_reports`, kept for the last KEPT (period, grouping) asked; safe across threads."""

    def __init__(self, kept: int = KEPT) -> None:
        self.kept = kept
        self._reports: OrderedDict[tuple[Period, tuple[str, ...]], tuple[Hashable, dict[str, Report]]] = OrderedDict()
        self._lock = threading.Lock()

    def province_reports(self, conn: psycopg.Connection, period: Period, *by: str) -> dict[str, Report]:
        key, now = (period, by), stamp(conn, period)
        with self._lock:
            kept = self._reports.get(key)
            if kept is not None and kept[0] == now:
                self._reports.move_to_end(key)
                return kept[1]
        reports = province_reports(conn, period, *by)
        with self._lock:
            self._reports[key] = (now, reports)
            self._reports.move_to_end(key)
            while len(self._reports) > self.kept:
                self._reports.popitem(last=False)
        return reports
