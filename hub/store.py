"""What the hub keeps, read back: the read API of the province dashboard and of `queuebox
restore --from-hub`. Every function takes an open psycopg connection.

Report figures are computed by the definitions the centre uses (queuebox/figures.py): the
rebuilt tickets become the same `TicketFacts` rows (queuebox/figures.py) that `server/reports.py` makes from a
centre's SQLite file, and `reports_from_facts` groups and counts them. So a month at the hub
equals the centre's `queuebox report`; the reasons given with poor ratings are counted by the
same `reasons_from_facts` as the centre's `server.reports.reason_counts`.
"""

from __future__ import annotations

from collections import Counter as Tally
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from queuebox.figures import (NO_GROUP, Dimension, Period, ReasonCounts, Report, ReportError, TicketFacts,
                              check_dimensions, clerk_of, figures, group_names, reasons_from_facts, reasons_of_groups,
                              reports_from_facts, totals_and_busiest_hours)


@dataclass(frozen=True)
class Centre:
    """One centre as the hub knows it: its current history (`epoch`), how far it is stored
    (`acked`), when it was last heard from, its live summary and its setup (services, counters)."""
    id: str
    epoch: int
    acked: int
    last_heard: datetime
    live: dict[str, Any] | None
    live_at: datetime | None
    setup: dict[str, Any] | None


def centres(conn: psycopg.Connection) -> list[Centre]:
    """Every centre heard of, by id."""
    rows = conn.execute(
        "SELECT c.id, c.epoch, coalesce(e.acked, 0), c.last_heard, c.live, c.live_at, c.setup FROM centres c "
        "LEFT JOIN epochs e ON e.centre = c.id AND e.epoch = c.epoch ORDER BY c.id").fetchall()
    return [Centre(*row) for row in rows]


def centre(conn: psycopg.Connection, centre_id: str) -> Centre | None:
    return next((c for c in centres(conn) if c.id == centre_id), None)


def save_live(conn: psycopg.Connection, centre_id: str, live: dict[str, Any]) -> None:
    """Keep a centre's latest live summary (a centre heard of for the first time gets its row)."""
    with conn.transaction():
        conn.execute("INSERT INTO centres (id) VALUES (%s) ON CONFLICT (id) DO NOTHING", [centre_id])
        conn.execute("UPDATE centres SET live = %s, live_at = now(), last_heard = now() WHERE id = %s",
                     [Jsonb(live), centre_id])


def save_setup(conn: psycopg.Connection, centre_id: str, setup: dict[str, Any]) -> None:
    """Keep a centre's services (names, target waits) and counters (names)."""
    with conn.transaction():
        conn.execute("INSERT INTO centres (id) VALUES (%s) ON CONFLICT (id) DO NOTHING", [centre_id])
        conn.execute("UPDATE centres SET setup = %s WHERE id = %s", [Jsonb(setup), centre_id])


def event_count(conn: psycopg.Connection, centre_id: str, epoch: int | None = None) -> int:
    """Events stored for a centre (of one epoch, or of its current one)."""
    epoch = _epoch(conn, centre_id, epoch)
    row = conn.execute("SELECT count(*) FROM events WHERE centre = %s AND epoch = %s", [centre_id, epoch]).fetchone()
    return row[0] if row else 0


# --- reports -----------------------------------------------------------------------------

# The centre's facts in SQL as the centre's own query computes them (server/reports.py `_FACTS_SQL`):
# times as the centre wrote them (local, with their offset), differences in seconds to the
# millisecond, never negative; one query for one centre or for every centre's current history.
_FACTS_SQL = """
SELECT t.centre, t.id, t.day::text, t.label, t.service, t.counter, t.ended_by,
       substr(t.issued_at, 12, 2)::int, t.status, t.transferred,
       CASE WHEN t.first_called_at IS NOT NULL  -- (greatest() would make a missing time 0)
            THEN greatest(0, round(extract(epoch FROM t.first_called_at::timestamptz - t.issued_at::timestamptz), 3))::float8 END,
       CASE WHEN t.status = 'done' AND t.finished_at IS NOT NULL THEN greatest(0, round(extract(epoch FROM t.finished_at::timestamptz
            - coalesce(t.started_at, t.called_at)::timestamptz), 3))::float8 END,
       CASE WHEN t.status = 'done' THEN r.score END,
       CASE WHEN t.priority THEN coalesce(t.priority_group, %(no_group)s) END
FROM tickets t
JOIN centres c ON c.id = t.centre
LEFT JOIN ratings r ON r.centre = t.centre AND r.epoch = t.epoch AND r.ticket = t.id
WHERE t.day BETWEEN %(start)s AND %(end)s AND {which}
ORDER BY t.centre, t.id
"""
# Which tickets, written out rather than as `coalesce(%(epoch)s, c.epoch)`: a condition the
# planner can see through keeps its row estimate, hence hash joins, for a whole province.
_EVERY_CENTRE = "t.epoch = c.epoch"
_ONE_CENTRE = "t.centre = %(centre)s AND t.epoch = coalesce(%(epoch)s, c.epoch)"
_REASONED = " AND t.status = 'done' AND r.reason IS NOT NULL"  # the tickets whose rating came with a reason
_REASONS_SQL = """
SELECT t.centre, t.id, r.reason FROM tickets t
JOIN centres c ON c.id = t.centre
JOIN ratings r ON r.centre = t.centre AND r.epoch = t.epoch AND r.ticket = t.id
WHERE t.day BETWEEN %(start)s AND %(end)s AND {which}""" + _REASONED


def ticket_facts(conn: psycopg.Connection, centre_id: str, period: Period, epoch: int | None = None) -> list[TicketFacts]:
    """One `TicketFacts` per ticket of the period (business days), in issue order, as the
    centre's `server.reports.ticket_facts` makes them."""
    return _facts_by_centre(conn, period, centre_id, epoch).get(centre_id, [])


def _facts_by_centre(conn: psycopg.Connection, period: Period, centre_id: str | None = None,
                     epoch: int | None = None, reasoned: bool = False) -> dict[str, list[TicketFacts]]:
    """The facts of one centre, or of every centre's current history, by centre id.
    A province's month is hundreds of thousands of rows: one query, and a loop that does no
    more per row than build its TicketFacts. `reasoned`: only the served tickets rated with a reason."""
    targets = {centre: {s["code"]: None if s.get("target_wait_min") is None else s["target_wait_min"] * 60.0
                        for s in (setup or {}).get("services", [])}
               for centre, setup in conn.execute("SELECT id, setup FROM centres WHERE %s::text IS NULL OR id = %s",
                                                 [centre_id, centre_id])}
    clerks: dict[str | None, str | None] = {}
    by_centre: dict[str, list[TicketFacts]] = {}
    sql = _FACTS_SQL.format(which=(_EVERY_CENTRE if centre_id is None else _ONE_CENTRE) + (_REASONED if reasoned else ""))
    rows = conn.execute(sql, {"no_group": NO_GROUP, "centre": centre_id, "epoch": epoch,  # type: ignore[arg-type]
                              "start": period.start, "end": period.end}).fetchall()
    facts: list[TicketFacts] = []
    current = None
    for (centre, id_, day, label, service, counter, ended_by, hour, status, transferred, wait_s, service_s,
         score, group) in rows:
        if centre != current:
            current, facts = centre, by_centre.setdefault(centre, [])
        clerk = clerks[ended_by] if ended_by in clerks else clerks.setdefault(ended_by, clerk_of(ended_by))
        facts.append(TicketFacts(id_, day, label, service, counter, clerk, hour, status, transferred, wait_s,
                                 service_s, targets[centre].get(service), score, group))
    return by_centre


def centre_reports(conn: psycopg.Connection, centre_id: str, period: Period, *by: Dimension,
                   epoch: int | None = None) -> dict[Dimension, Report]:
    """A centre's reports of `period`, grouped as `server.reports.reports` groups them."""
    check_dimensions(by)
    setup = _setup(conn, centre_id)
    names = {"service": {s["code"]: s.get("name_vi", "") for s in setup.get("services", [])},
             "counter": {c["id"]: c.get("name", "") for c in setup.get("counters", [])}, "group": group_names()}
    return reports_from_facts(period, ticket_facts(conn, centre_id, period, epoch), names, *by)


PROVINCE_DIMENSIONS = ("centre", "service", "hour", "day")


def province_reports(conn: psycopg.Connection, period: Period, *by: str) -> dict[str, Report]:
    """Every centre's tickets of `period` together (each centre's current history), grouped by
    "centre" (one row per centre heard of, none left out for having no tickets) or by field
    ("service", the service codes across centres), hour or day; the totals are the province's.
    Each row is `queuebox.figures.figures` of its tickets: the centres' own definitions."""
    unknown = [b for b in by if b not in PROVINCE_DIMENSIONS]
    if unknown:
        raise ReportError(f"cannot group by {unknown[0]!r}; choose one of {', '.join(PROVINCE_DIMENSIONS)}")
    known = centres(conn)
    per_centre: dict[str, list[TicketFacts]] = {c.id: [] for c in known} | _facts_by_centre(conn, period)
    everything = [f for facts in per_centre.values() for f in facts]
    services: dict[str, str] = {}
    for c in known:
        for s in (c.setup or {}).get("services", []):
            services.setdefault(s["code"], s.get("name_vi", ""))
    fields = [b for b in by if b != "centre"]
    result: dict[str, Report] = dict(reports_from_facts(  # type: ignore[arg-type]
        period, everything, {"service": services}, *fields)) if fields else {}
    if "centre" in by:
        totals, busiest = totals_and_busiest_hours(everything)
        rows = [figures(centre_id, per_centre[centre_id]) for centre_id in sorted(per_centre)]
        result["centre"] = Report(period, "centre", rows, totals, busiest)  # type: ignore[arg-type]
    return {b: result[b] for b in by}


def reason_counts(conn: psycopg.Connection, centre_id: str, period: Period, by: Dimension = "service",
                  epoch: int | None = None) -> ReasonCounts:
    """A centre's reasons given with the ratings of the served tickets of `period`, grouped `by`
    as `server.reports.reason_counts` groups them."""
    check_dimensions([by])
    facts = _facts_by_centre(conn, period, centre_id, epoch, reasoned=True).get(centre_id, [])
    return reasons_from_facts(facts, _reasons_given(conn, period, centre_id, epoch).get(centre_id, {}), by)


PROVINCE_REASON_DIMENSIONS = ("centre", "service")


def province_reason_counts(conn: psycopg.Connection, period: Period, by: str) -> ReasonCounts:
    """The reasons of `period` over every centre (each its current history), by "centre" (a
    centre's total per reason) or by field ("service", the codes across centres): each centre's
    `reason_counts`, added up."""
    if by not in PROVINCE_REASON_DIMENSIONS:
        raise ReportError(f"cannot group reasons by {by!r}; choose one of {', '.join(PROVINCE_REASON_DIMENSIONS)}")
    facts = _facts_by_centre(conn, period, reasoned=True)
    groups: dict[str | int | None, Tally[str]] = {}
    for centre_id, given in _reasons_given(conn, period).items():
        counts = reasons_from_facts(facts.get(centre_id, []), given, "service")
        for key, tally in [(centre_id, counts.totals)] if by == "centre" else counts.groups.items():
            groups.setdefault(key, Tally()).update(tally)
    return reasons_of_groups(by, groups)


def _reasons_given(conn: psycopg.Connection, period: Period, centre_id: str | None = None,
                   epoch: int | None = None) -> dict[str, dict[int, str]]:
    """centre → ticket → the reason given with its rating (served tickets of the period)."""
    given: dict[str, dict[int, str]] = {}
    for centre, ticket, reason in conn.execute(_REASONS_SQL.format(
            which=_EVERY_CENTRE if centre_id is None else _ONE_CENTRE),
            {"centre": centre_id, "epoch": epoch, "start": period.start, "end": period.end}):
        given.setdefault(centre, {})[ticket] = reason
    return given



def _setup(conn: psycopg.Connection, centre_id: str) -> dict[str, Any]:
    row = conn.execute("SELECT setup FROM centres WHERE id = %s", [centre_id]).fetchone()
    return (row[0] if row else None) or {}


def _epoch(conn: psycopg.Connection, centre_id: str, epoch: int | None) -> int:
    if epoch is not None:
        return epoch
    row = conn.execute("SELECT epoch FROM centres WHERE id = %s", [centre_id]).fetchone()
    return row[0] if row else 1
