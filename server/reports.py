"""The manager's reports from the centre's SQLite file. The figures and their definitions are
`queuebox/figures.py`'s, shared with the province hub; this module makes the facts.

Reports read the database file alone (`tickets`, `events`, `ratings`, `services`,
`counters`), never the config, so they can be made on a copy of the file. Each ticket of
the period becomes one row of facts (`ticket_facts`, one SQL query).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

# The definitions, re-exported: the CLI, the web and the monthly report import them from here.
from queuebox.figures import (BUSIEST_HOURS, COLUMNS, DIMENSIONS, KEYPAD, MAX_PERIOD_DAYS, NO_GROUP, NONE_LABEL,
                              SATISFIED, SCORES, TOTAL, Dimension, Figures, Period, ReasonCounts, Report, ReportError,
                              TicketFacts, as_json, check_dimensions, clerk_of, figures, flat, percentile,
                              group_names, reasons_from_facts, reports_from_facts, table)

if TYPE_CHECKING:  # imported lazily: `queuebox --help` builds this module's CLI options on any Pi
    from sqlite_utils import Database

__all__ = ["BUSIEST_HOURS", "COLUMNS", "DIMENSIONS", "KEYPAD", "MAX_PERIOD_DAYS", "NO_GROUP", "NONE_LABEL", "SATISFIED",
           "SCORES", "TOTAL", "Dimension", "Figures", "Period", "ReasonCounts", "Report", "ReportError", "TicketFacts",
           "as_json", "clerk_of", "figures", "flat", "open_readonly", "percentile", "reason_counts", "report",
           "reports", "table", "ticket_facts"]


def open_readonly(path: str | Path) -> Database:
    """The database file opened read-only; ReportError if it is missing or has no queuebox schema."""
    from sqlite_utils import Database

    path = Path(path)
    if not path.is_file():
        raise ReportError(f"{path}: no such database file")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    db = Database(conn)
    missing = {"tickets", "events", "ratings", "services", "counters"} - set(db.table_names())
    if missing:
        db.close()
        raise ReportError(f"{path}: not a queuebox database (no table {', '.join(sorted(missing))})")
    return db


# --- facts: one row per ticket ------------------------------------------------------------------

_FACTS_SQL = """
SELECT t.id, t.day, t.label, t.service, t.counter, t.status,
       t.transferred_from IS NOT NULL AS transferred,
       CAST(substr(t.issued_at, 12, 2) AS INTEGER) AS hour,
       ((SELECT min(julianday(e.at)) FROM events e WHERE e.ticket = t.id AND e.type = 'called')
        - julianday(t.issued_at)) * 86400.0 AS wait_s,
       CASE WHEN t.status = 'done'
            THEN (julianday(t.finished_at) - julianday(coalesce(t.started_at, t.called_at))) * 86400.0 END AS service_s,
       (SELECT e.actor FROM events e WHERE e.ticket = t.id AND e.type IN ('done', 'no_show')
        ORDER BY e.seq DESC LIMIT 1) AS ended_by,
       s.target_wait_min * 60.0 AS target_s,
       CASE WHEN t.status = 'done' THEN r.score END AS score,
       CASE WHEN t.priority THEN coalesce(t.priority_group, ?) END AS grp
FROM tickets t
LEFT JOIN services s ON s.code = t.service
LEFT JOIN ratings r ON r.ticket = t.id
WHERE t.day BETWEEN ? AND ?
ORDER BY t.id
"""


def ticket_facts(db: Database, period: Period) -> list[TicketFacts]:
    """One `TicketFacts` per ticket of the period, in issue order."""
    facts = []
    for row in db.execute(_FACTS_SQL, [NO_GROUP, period.start.isoformat(), period.end.isoformat()]):
        (id_, day, label, service, counter, status, transferred, hour, wait_s, service_s,
         ended_by, target_s, score, group) = row
        facts.append(TicketFacts(
            id=id_, day=day, label=label, service=service, counter=counter, clerk=clerk_of(ended_by),
            hour=hour, status=status, transferred=bool(transferred), wait_s=_seconds(wait_s),
            service_s=_seconds(service_s), target_s=target_s, score=score, group=group))
    return facts


def _seconds(value: float | None) -> float | None:
    # julianday differences carry ~10 µs of rounding; stored times have milliseconds.
    return None if value is None else max(0.0, round(value, 3))


# --- reports ------------------------------------------------------------------------------------

def report(db: Database, period: Period, by: Dimension = "service") -> Report:
    """The figures of `period` grouped `by` service, counter, clerk, hour or day."""
    return reports(db, period, by)[by]


def reports(db: Database, period: Period, *by: Dimension) -> dict[Dimension, Report]:
    """The reports of `period` for several groupings, reading the tickets once."""
    check_dimensions(by)
    return reports_from_facts(period, ticket_facts(db, period), {b: _names(db, b) for b in by}, *by)


def _names(db: Database, by: Dimension) -> dict[str, str]:
    if by == "service":
        return {code: name for code, name in db.execute("SELECT code, name_vi FROM services")}
    if by == "counter":
        return {cid: name for cid, name in db.execute("SELECT id, name FROM counters")}
    if by == "group":
        return group_names()
    return {}


def reason_counts(db: Database, period: Period, by: Dimension = "service") -> ReasonCounts:
    """The reasons given with the ratings of the served tickets of `period`, grouped `by` like
    their tickets in `report` (see queuebox/figures.py)."""
    check_dimensions([by])
    given = dict(db.execute("SELECT r.ticket, r.reason FROM ratings r JOIN tickets t ON t.id = r.ticket "
                            "WHERE t.day BETWEEN ? AND ? AND t.status = 'done' AND r.reason IS NOT NULL",
                            [period.start.isoformat(), period.end.isoformat()]).fetchall())
    return reasons_from_facts(ticket_facts(db, period) if given else [], given, by)
