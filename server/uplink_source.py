"""The centre's side of the uplink that touches SQLite: its events, setup and live figures,
read from the database file opened READ-ONLY (SQLite URI ``mode=ro``).

A read-only connection takes no write lock: in WAL mode readers never block the server's
writer, nor does the writer block them. Each read is one short statement (its own snapshot),
so the WAL can always be checkpointed behind it. Nothing here writes, ever.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

from queuebox.figures import SATISFIED
from queuebox.hub_protocol import HubEvent
from queuebox.protocol_fields import parse_moment

BUSY_TIMEOUT_MS = 5000


class EventSource:
    """The centre's database, read-only. Raises FileNotFoundError if the file is missing."""

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such database file")
        self.path = path
        self._conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False,
                                     isolation_level=None)
        self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self._conn.execute("PRAGMA query_only = 1")

    def close(self) -> None:
        self._conn.close()

    def head(self) -> int:
        """The highest seq committed (0 for none)."""
        return self._conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]

    def events(self, first: int, limit: int) -> list[HubEvent]:
        """At most `limit` events with seq ≥ `first`, in seq order."""
        rows = self._conn.execute("SELECT seq, at, type, ticket, counter, actor, data FROM events "
                                  "WHERE seq >= ? ORDER BY seq LIMIT ?", [first, limit]).fetchall()
        return [HubEvent(seq, at, type_, ticket, counter, actor, json.loads(data or "{}"))
                for seq, at, type_, ticket, counter, actor, data in rows]

    def at_of(self, seq: int) -> str | None:
        """The time of event `seq`, or None if there is none (the fingerprint an ack is checked against)."""
        row = self._conn.execute("SELECT at FROM events WHERE seq = ?", [seq]).fetchone()
        return row[0] if row else None

    def setup(self) -> dict[str, Any]:
        """The centre's services (names, target waits) and counters (names), for the hub's reports."""
        services = [{"code": c, "name_vi": vi, "name_en": en, "target_wait_min": target}
                    for c, vi, en, target in self._conn.execute(
                        "SELECT code, name_vi, name_en, target_wait_min FROM services ORDER BY code")]
        counters = [{"id": cid, "name": name} for cid, name in self._conn.execute(
            "SELECT id, name FROM counters ORDER BY CAST(id AS INTEGER), id")]
        return {"services": services, "counters": counters}

    def live(self, now: datetime) -> dict[str, Any]:
        """Today's figures: open counters, waiting and the longest wait per service (against its
        target), served and satisfaction today. No ticket is named: only counts and times."""
        day_row = self._conn.execute("SELECT max(day) FROM days").fetchone()
        day = day_row[0] if day_row else None
        states = dict(self._conn.execute("SELECT state, count(*) FROM counters GROUP BY state").fetchall())
        services = []
        for code, target in self._conn.execute("SELECT code, target_wait_min FROM services ORDER BY code"):
            waiting, oldest = self._conn.execute(
                "SELECT count(*), min(issued_at) FROM tickets WHERE day = ? AND status = 'waiting' AND queue = ?",
                [day, code]).fetchone()
            longest = max(0, int((now - parse_moment(oldest)).total_seconds())) if oldest else 0
            services.append({"code": code, "waiting": waiting, "longest_wait_s": longest,
                             "target_wait_s": target * 60, "over_target": longest > target * 60})
        served = self._conn.execute("SELECT count(*) FROM tickets WHERE day = ? AND status = 'done'", [day]).fetchone()[0]
        scores = [s for (s,) in self._conn.execute(
            "SELECT r.score FROM ratings r JOIN tickets t ON t.id = r.ticket WHERE t.day = ? AND t.status = 'done'", [day])]
        satisfied = sum(1 for s in scores if s in SATISFIED)
        return {"day": day, "counters_open": sum(n for s, n in states.items() if s != "paused"),
                "counters_paused": states.get("paused", 0), "services": services,
                "waiting": sum(s["waiting"] for s in services),
                "longest_wait_s": max((s["longest_wait_s"] for s in services), default=0),
                "served_today": served, "rated_today": len(scores),
                "satisfied_pct": round(100 * satisfied / len(scores), 1) if scores else None}
