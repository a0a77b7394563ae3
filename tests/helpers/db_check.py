"""Checks that a queuebox database file is whole and tells one consistent story.

Used after kills and on copies taken mid-write (tests/test_power_cut.py). Reads with plain
sqlite3 so that nothing of the code under test judges its own file.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The status a ticket has after each kind of event about it ("rated" changes nothing).
STATUS_AFTER = {"issued": "waiting", "called": "called", "recalled": "called", "started": "serving",
                "done": "done", "no_show": "no_show", "transferred": "waiting", "cancelled": "cancelled"}

Row = tuple[str, str, int, str, str]  # day, service, number, label, token: what never changes once issued


@dataclass
class Contents:
    """What the checks found in one file."""
    tickets: dict[int, Row] = field(default_factory=dict)
    commands: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> reply
    max_number: dict[tuple[str, str], int] = field(default_factory=dict)  # (day, service) -> highest number
    events: int = 0


def read_and_check(path: Path, why: str) -> Contents:
    """Open `path` (plain sqlite3, which recovers a WAL left behind) and assert:

    - `PRAGMA integrity_check` is ok; a file without the `tickets` table has no queuebox table at all;
    - per (day, service) the numbers are exactly 1..n (unique, none skipped);
    - every ticket has exactly one `issued` event, every event's ticket exists, and each ticket's
      status is the one its last event implies (rows of one command are all there or none);
    - a counter holds at most one ticket, a ticket is held by at most one counter, and every
      called or serving ticket is held by the counter it names;
    - `events.seq` is 1..n without a gap, and there is one `days` row per `day_opened` event.
    """
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)], f"{why}: integrity_check failed"
        found = Contents()
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "tickets" not in tables:  # from before the first migration committed: that is all or nothing
            assert tables <= {"_sqlite_migrations", "sqlite_sequence"}, f"{why}: half a migration: {tables}"
            return found
        numbers: dict[tuple[str, str], list[int]] = defaultdict(list)
        status: dict[int, tuple[str, str | None]] = {}
        for tid, day, service, number, label, token, st, counter in conn.execute(
                "SELECT id, day, service, number, label, token, status, counter FROM tickets"):
            found.tickets[tid] = (day, service, number, label, token)
            numbers[(day, service)].append(number)
            status[tid] = (st, counter)
        for key, ns in numbers.items():
            assert sorted(ns) == list(range(1, len(ns) + 1)), f"{why}: numbers of {key} are not 1..{len(ns)}"
            found.max_number[key] = len(ns)

        issued: dict[int, int] = defaultdict(int)
        last: dict[int, str] = {}
        seqs = []
        day_opened = 0
        for seq, kind, ticket in conn.execute("SELECT seq, type, ticket FROM events ORDER BY seq"):
            seqs.append(seq)
            day_opened += kind == "day_opened"
            if ticket is None:
                continue
            assert ticket in status, f"{why}: event {seq} ({kind}) names ticket {ticket}, which is not in the file"
            issued[ticket] += kind == "issued"
            if kind in STATUS_AFTER:
                last[ticket] = kind
        found.events = len(seqs)
        assert seqs == list(range(1, len(seqs) + 1)), f"{why}: events.seq has a gap"
        assert conn.execute("SELECT count(*) FROM days").fetchone()[0] == day_opened, f"{why}: days != day_opened"
        for tid, (st, _) in status.items():
            assert issued[tid] == 1, f"{why}: ticket {tid} has {issued[tid]} issued events"
            assert STATUS_AFTER[last[tid]] == st, f"{why}: ticket {tid} is {st} but its last event is {last[tid]}"

        held: dict[int, str] = {}
        for cid, state, ticket in conn.execute("SELECT id, state, ticket FROM counters"):
            if ticket is None:
                assert state in ("idle", "paused"), f"{why}: counter {cid} is {state} with no ticket"
                continue
            assert ticket not in held, f"{why}: ticket {ticket} is held by counters {held[ticket]} and {cid}"
            held[ticket] = cid
            assert status.get(ticket, ("?", None)) in (("called", cid), ("serving", cid)), \
                f"{why}: counter {cid} holds ticket {ticket}, which is {status.get(ticket)}"
        for tid, (st, counter) in status.items():
            if st in ("called", "serving"):
                assert held.get(tid) == counter, f"{why}: ticket {tid} is {st} at {counter}, which does not hold it"

        found.commands = {key: json.loads(reply) for key, reply in conn.execute("SELECT id, reply FROM commands")}
        return found
    finally:
        conn.close()


def check_no_reuse(before: dict[int, Row], after: dict[int, Row], why: str) -> None:
    """Every row of `before` is in `after` unchanged, and tickets new in `after` have numbers above
    the highest of their (day, service) in `before`: no number is given twice."""
    changed = {i: row for i, row in before.items() if after.get(i) != row}
    assert not changed, f"{why}: issued tickets changed or vanished: {changed}"
    old_max: dict[tuple[str, str], int] = {}
    for day, service, number, _, _ in before.values():
        old_max[(day, service)] = max(number, old_max.get((day, service), 0))
    reused = [row for i, row in after.items() if i not in before and row[2] <= old_max.get(row[:2], 0)]
    assert not reused, f"{why}: numbers given again: {reused}"
