"""The invariants of DESIGN.md §3 checked on a database file, as plain functions that list
what they find wrong (an empty list: all hold). Used by the fuzzers, in tests and in
bench/fuzz_mqtt.py, on the file of an engine in this process or of a running server.

Read with a connection of its own (WAL: it sees the last commit and never blocks the writer).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

# The ticket status each event leaves behind ("rated" leaves the ticket as it is).
STATUS_AFTER = {"issued": "waiting", "called": "called", "recalled": "called", "started": "serving", "done": "done",
                "no_show": "no_show", "transferred": "waiting", "cancelled": "cancelled"}
HOLDING = {"calling": "called", "serving": "serving"}  # counter state -> status of the ticket it holds


def check_database(path: str | Path, rating_window_s: int = 60) -> list[str]:
    """Every invariant violation found in the database at `path`."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    conn.row_factory = sqlite3.Row
    try:
        conn.execute("BEGIN")  # one snapshot for every query
        found = (_numbers(conn) + _holding(conn) + _events(conn) + _ratings(conn, rating_window_s)
                 + _commands(conn))
        conn.execute("ROLLBACK")
        return found
    finally:
        conn.close()


def _numbers(conn: sqlite3.Connection) -> list[str]:
    """1 and 7: numbers 1, 2, 3 … per service and day, in issue order; a label is not active twice;
    days only move forward."""
    found = []
    last: dict[tuple[str, str], int] = {}
    for t in conn.execute("SELECT id, day, service, number FROM tickets ORDER BY id"):
        key = (t["day"], t["service"])
        if t["number"] != last.get(key, 0) + 1:
            found.append(f"ticket {t['id']}: number {t['number']} after {last.get(key, 0)} in {key}")
        last[key] = t["number"]
    for day, label, n in conn.execute("SELECT day, label, count(*) FROM tickets WHERE status IN "
                                      "('waiting', 'called', 'serving') GROUP BY day, label HAVING count(*) > 1"):
        found.append(f"label {label} is active {n} times on {day}")
    days = [r[0] for r in conn.execute("SELECT day FROM days ORDER BY rowid")]
    if days != sorted(set(days)):
        found.append(f"days did not only move forward: {days}")
    stray = conn.execute("SELECT count(*) FROM tickets WHERE day NOT IN (SELECT day FROM days)").fetchone()[0]
    if stray:
        found.append(f"{stray} tickets on a day that was never opened")
    return found


def _holding(conn: sqlite3.Connection) -> list[str]:
    """4: a ticket is held by at most one counter, a counter holds at most one ticket, and
    what a counter holds is called or serving at that counter."""
    found = []
    held: dict[int, str] = {}
    for c in conn.execute("SELECT id, state, ticket FROM counters"):
        if c["ticket"] is None:
            if c["state"] not in ("idle", "paused"):
                found.append(f"counter {c['id']} is {c['state']} without a ticket")
            continue
        t = conn.execute("SELECT status, counter FROM tickets WHERE id = ?", [c["ticket"]]).fetchone()
        if t is None or HOLDING.get(c["state"]) != t["status"] or t["counter"] != c["id"]:
            found.append(f"counter {c['id']} ({c['state']}) holds ticket {c['ticket']} that is "
                         f"{dict(t) if t else 'missing'}")
        if c["ticket"] in held:
            found.append(f"ticket {c['ticket']} is held by counters {held[c['ticket']]} and {c['id']}")
        held[c["ticket"]] = c["id"]
    for t in conn.execute("SELECT id, label, status, counter FROM tickets WHERE status IN ('called', 'serving')"):
        if held.get(t["id"]) != t["counter"]:
            found.append(f"ticket {t['label']} is {t['status']} at {t['counter']} but held by {held.get(t['id'])}")
    return found


def _events(conn: sqlite3.Connection) -> list[str]:
    """6 and 7: events numbered 1, 2, 3 … with times that never go back; every ticket is what its
    last event made it, and was issued by an event."""
    found = []
    previous: datetime | None = None
    status: dict[int, str] = {}
    for n, e in enumerate(conn.execute("SELECT seq, at, type, ticket FROM events ORDER BY seq"), start=1):
        if e["seq"] != n:
            found.append(f"event seq {e['seq']} where {n} was due")
            break
        at = datetime.fromisoformat(e["at"])
        if previous is not None and at < previous:
            found.append(f"event {e['seq']} at {e['at']} is before the one before it")
        previous = at
        if e["ticket"] is not None and e["type"] in STATUS_AFTER:
            if (e["type"] == "issued") == (e["ticket"] in status):
                found.append(f"event {e['seq']}: {e['type']} of ticket {e['ticket']} "
                             f"{'issued twice' if e['type'] == 'issued' else 'before its issue'}")
            status[e["ticket"]] = STATUS_AFTER[e["type"]]
    for t in conn.execute("SELECT id, label, status FROM tickets"):
        if status.get(t["id"]) != t["status"]:
            found.append(f"ticket {t['label']} ({t['id']}) is {t['status']}, its events say {status.get(t['id'])}")
    return found


def _ratings(conn: sqlite3.Connection, window_s: int) -> list[str]:
    """A ticket is rated at most once (the key), after it was done, by the counter that finished
    it, within the window; one `rated` event per rating."""
    found = []
    window = timedelta(seconds=window_s)
    for r in conn.execute("SELECT r.ticket, r.counter AS rated_by, r.at, t.status, t.counter, t.finished_at "
                          "FROM ratings r LEFT JOIN tickets t ON t.id = r.ticket"):
        if r["status"] != "done" or r["counter"] != r["rated_by"]:
            found.append(f"rating of ticket {r['ticket']} by {r['rated_by']}: ticket is {r['status']} at {r['counter']}")
        elif not timedelta(0) <= datetime.fromisoformat(r["at"]) - datetime.fromisoformat(r["finished_at"]) <= window:
            found.append(f"rating of ticket {r['ticket']} at {r['at']} outside its window after {r['finished_at']}")
    ratings = conn.execute("SELECT count(*) FROM ratings").fetchone()[0]
    rated = conn.execute("SELECT count(*) FROM events WHERE type = 'rated'").fetchone()[0]
    if ratings != rated:
        found.append(f"{ratings} ratings but {rated} rated events")
    return found


def _commands(conn: sqlite3.Connection) -> list[str]:
    """3: every recorded reply is a protocol reply to its own id."""
    found = []
    for key, text in conn.execute("SELECT id, reply FROM commands"):
        reply: Any = json.loads(text)
        if not isinstance(reply, dict) or not key.endswith(f":{reply.get('id')}") or type(reply.get("ok")) is not bool:
            found.append(f"command {key}: recorded reply {text[:80]}")
    return found


def recorded_replies(path: str | Path) -> dict[str, dict[str, Any]]:
    """Every recorded command reply by its key ``<origin>:<id>``."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return {key: json.loads(text) for key, text in conn.execute("SELECT id, reply FROM commands")}
    finally:
        conn.close()

