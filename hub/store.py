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
from typing import Any, Sequence

import psycopg
from psycopg.types.json import Jsonb

from queuebox.figures import (NO_GROUP, Dimension, Period, ReasonCounts, Report, ReportError, TicketFacts,
                              check_dimensions, clerk_of, figures, group_names, reasons_from_facts, reasons_of_groups,
                              reports_from_facts)
from queuebox.protocol_fields import parse_moment


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

def ticket_facts(conn: psycopg.Connection, centre_id: str, period: Period, epoch: int | None = None,
                 only: Sequence[int] | None = None) -> list[TicketFacts]:
    """One `TicketFacts` per ticket of the period (business days), in issue order, as the
    centre's `server.reports.ticket_facts` makes them; of the tickets `only` (ids) if given."""
    epoch = _epoch(conn, centre_id, epoch)
    targets = {s["code"]: s.get("target_wait_min") for s in _setup(conn, centre_id).get("services", [])}
    rows = conn.execute(
        "SELECT t.id, t.day, t.label, t.service, t.counter, t.status, t.transferred, t.issued_at, t.first_called_at, "
        "t.called_at, t.started_at, t.finished_at, t.ended_by, r.score, "
        "CASE WHEN t.priority THEN coalesce(t.priority_group, %s) END FROM tickets t "
        "LEFT JOIN ratings r ON r.centre = t.centre AND r.epoch = t.epoch AND r.ticket = t.id "
        "WHERE t.centre = %s AND t.epoch = %s AND t.day BETWEEN %s AND %s AND (%s::bigint[] IS NULL OR t.id = ANY(%s)) "
        "ORDER BY t.id", [NO_GROUP, centre_id, epoch, period.start, period.end, only, only]).fetchall()
    facts = []
    for (id_, day, label, service, counter, status, transferred, issued_at, first_called_at, called_at,
         started_at, finished_at, ended_by, score, group) in rows:
        target = targets.get(service)
        facts.append(TicketFacts(
            id=id_, day=day.isoformat(), label=label, service=service, counter=counter, clerk=clerk_of(ended_by),
            hour=int(issued_at[11:13]), status=status, transferred=transferred,
            wait_s=_between(issued_at, first_called_at),
            service_s=_between(started_at or called_at, finished_at) if status == "done" else None,
            target_s=None if target is None else target * 60.0,
            score=score if status == "done" else None, group=group))
    return facts


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
    per_centre = {c.id: ticket_facts(conn, c.id, period, c.epoch) for c in centres(conn)}
    everything = [f for facts in per_centre.values() for f in facts]
    services: dict[str, str] = {}
    for centre_id in per_centre:
        for s in _setup(conn, centre_id).get("services", []):
            services.setdefault(s["code"], s.get("name_vi", ""))
    result: dict[str, Report] = dict(reports_from_facts(  # type: ignore[arg-type]
        period, everything, {"service": services}, *(b for b in by if b != "centre")))
    if "centre" in by:
        overall = reports_from_facts(period, everything, {}, "day")["day"]
        rows = [figures(centre_id, per_centre[centre_id]) for centre_id in sorted(per_centre)]
        result["centre"] = Report(period, "centre", rows, overall.totals, overall.busiest_hours)  # type: ignore[arg-type]
    return {b: result[b] for b in by}


def reason_counts(conn: psycopg.Connection, centre_id: str, period: Period, by: Dimension = "service",
                  epoch: int | None = None) -> ReasonCounts:
    """A centre's reasons given with the ratings of the served tickets of `period`, grouped `by`
    as `server.reports.reason_counts` groups them."""
    check_dimensions([by])
    epoch = _epoch(conn, centre_id, epoch)
    given = dict(conn.execute(
        "SELECT r.ticket, r.reason FROM ratings r JOIN tickets t ON t.centre = r.centre AND t.epoch = r.epoch "
        "AND t.id = r.ticket WHERE r.centre = %s AND r.epoch = %s AND t.day BETWEEN %s AND %s "
        "AND t.status = 'done' AND r.reason IS NOT NULL", [centre_id, epoch, period.start, period.end]).fetchall())
    facts = ticket_facts(conn, centre_id, period, epoch, only=sorted(given)) if given else []
    return reasons_from_facts(facts, given, by)


PROVINCE_REASON_DIMENSIONS = ("centre", "service")


def province_reason_counts(conn: psycopg.Connection, period: Period, by: str) -> ReasonCounts:
    """The reasons of `period` over every centre (each its current history), by "centre" (a
    centre's total per reason) or by field ("service", the codes across centres): each centre's
    `reason_counts`, added up."""
    if by not in PROVINCE_REASON_DIMENSIONS:
        raise ReportError(f"cannot group reasons by {by!r}; choose one of {', '.join(PROVINCE_REASON_DIMENSIONS)}")
    groups: dict[str | int | None, Tally[str]] = {}
    for c in centres(conn):
        counts = reason_counts(conn, c.id, period, "service", c.epoch)
        for key, tally in [(c.id, counts.totals)] if by == "centre" else counts.groups.items():
            groups.setdefault(key, Tally()).update(tally)
    return reasons_of_groups(by, groups)


def _between(start: str | None, end: str | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, round((parse_moment(end) - parse_moment(start)).total_seconds(), 3))


def _setup(conn: psycopg.Connection, centre_id: str) -> dict[str, Any]:
    row = conn.execute("SELECT setup FROM centres WHERE id = %s", [centre_id]).fetchone()
    return (row[0] if row else None) or {}


def _epoch(conn: psycopg.Connection, centre_id: str, epoch: int | None) -> int:
    if epoch is not None:
        return epoch
    row = conn.execute("SELECT epoch FROM centres WHERE id = %s", [centre_id]).fetchone()
    return row[0] if row else 1
