"""SQLite storage: opening the file, loading the queue state, writing what the rules decided.

Only `engine` calls the writing functions, inside its `BEGIN IMMEDIATE` transaction.
Timestamps are ISO-8601 text with the centre's UTC offset; JSON columns are UTF-8 text.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sqlite3
import stat
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterable, Iterator

from sqlite_utils import Database

from queuebox.clock import iso, parse_iso
from queuebox.config import Config
from server import rules
from server.migrations import apply_migrations
from server.rules import Counter, Event, Finished, QueueState, Ticket

BUSY_TIMEOUT_S = 30
DB_MODE = 0o640  # the service's user writes, its group (backups) reads, nobody else: it holds accounts and tokens
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EventRecord:
    """An event as committed: its `seq` and time, ready to publish."""
    seq: int
    at: str
    type: str
    ticket: Ticket | None
    counter: str | None
    data: dict[str, Any]

    def message(self) -> dict[str, Any]:
        """The `events` topic payload."""
        body: dict[str, Any] = {"seq": self.seq, "at": self.at, "type": self.type}
        if self.ticket is not None:
            body["ticket"] = self.ticket.label
            body["service"] = self.ticket.service
        if self.counter is not None:
            body["counter"] = self.counter
        body.update((k, v) for k, v in self.data.items() if k != "label")
        return body


def open_database(path: str | Path) -> Database:
    """Open (creating if needed) the database file in WAL mode with fully synchronous commits.

    The connection is in autocommit mode: callers open transactions explicitly. The file is
    made with mode 0640 (SQLite gives its -wal and -shm files the same mode), and an existing
    one that others may read is tightened, whatever the umask.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _keep_private(path)
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    _set_wal(conn)
    conn.execute("PRAGMA synchronous=FULL")
    return Database(conn)


def _keep_private(path: Path) -> None:
    """Make the database file 0640 if it is new; take away others' access to it and its -wal, -shm."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, DB_MODE))
    except FileExistsError:
        pass
    except OSError:
        return  # sqlite3 says what is wrong with the place, in its own words
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            mode = stat.S_IMODE(file.stat().st_mode)
            if mode & 0o007:
                file.chmod(mode & ~0o007)
        except FileNotFoundError:
            pass
        except OSError as exc:
            logger.warning("%s may be read by any user of this machine and cannot be changed: %s", file, exc)


@contextmanager
def _immediate(db: Database) -> Iterator[None]:
    """A write transaction that takes the lock first (`BEGIN IMMEDIATE`).

    A deferred `BEGIN` that reads and then writes fails at once with "database is locked"
    when another connection committed in between; `BEGIN IMMEDIATE` waits (busy timeout).
    """
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
    db.conn.execute("COMMIT")


def _set_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL. On a brand-new file opened by several processes at once, SQLite answers
    "locked" at once instead of waiting, so wait here, as long as the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def migrate(db: Database) -> list[str]:
    """Bring the schema up to date; returns the migrations applied. Refuses a newer schema.

    One transaction for all pending migrations, so processes starting together on a new
    file do not both try to create the tables.
    """
    with _immediate(db):
        return apply_migrations(db)


def sync_config(db: Database, config: Config) -> None:
    """Write the configured services and counters into their tables, keeping counters' state."""
    with _immediate(db):
        write_config_rows(db, config)


def write_config_rows(db: Database, config: Config) -> None:
    """`sync_config` inside the caller's transaction."""
    for s in config.services:
        row = dataclasses.asdict(s)
        row["open_days"] = json.dumps(list(s.open_days))
        row["hours"] = json.dumps(list(s.hours))
        db["services"].upsert(row, pk="code")
    for c in config.counters:
        db["counters"].upsert({"id": c.id, "name": c.name, "services": json.dumps(c.services)}, pk="id")


# --- reading --------------------------------------------------------------------------------

def head(db: Database) -> tuple[int, datetime | None]:
    """(seq of the last event or 0, time of the last event or None)."""
    row = db.execute("SELECT seq, at FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    return (row[0], parse_iso(row[1])) if row else (0, None)


def recent_events(db: Database, limit: int) -> list[EventRecord]:
    """The last `limit` events, oldest first, as they were published (tickets as they are now:
    only their label and service go into the message, and those never change)."""
    rows = db.execute("SELECT seq, at, type, ticket, counter, data FROM events ORDER BY seq DESC LIMIT ?",
                      [limit]).fetchall()
    ids = sorted({r[3] for r in rows if r[3] is not None})
    tickets = {t.id: t for t in (_ticket(r) for r in db.query(
        f"SELECT * FROM tickets WHERE id IN ({', '.join('?' for _ in ids)})", ids))} if ids else {}
    return [EventRecord(seq, at, kind, tickets.get(ticket) if ticket is not None else None, counter, json.loads(data))
            for seq, at, kind, ticket, counter, data in reversed(rows)]


def load_state(db: Database, config: Config) -> QueueState:
    """The queue state of the current business day as committed; `date.min` if no day was opened."""
    row = db.execute("SELECT max(day) FROM days").fetchone()
    day = date.fromisoformat(row[0]) if row and row[0] else date.min
    next_id = (db.execute("SELECT max(id) FROM tickets").fetchone()[0] or 0) + 1
    state = rules.empty_state(config, day, next_id)
    if day == date.min:
        return state
    d = day.isoformat()
    tickets = {t.id: t for t in map(_ticket, db.query(
        "SELECT * FROM tickets WHERE day = ? AND status IN ('waiting', 'called', 'serving', 'no_show')", [d]))}
    issued = dict(db.execute("SELECT service, max(number) FROM tickets WHERE day = ? GROUP BY service", [d]).fetchall())
    counters = dict(state.counters)
    for r in db.query("SELECT * FROM counters"):
        if r["id"] in counters:
            counters[r["id"]] = Counter(r["id"], r["state"], r["ticket"], r["pause_reason"],
                                        r["normal_streak"], r["last_done"])
    finished = {}
    for r in db.query("""SELECT t.*, c.id AS finished_by, r.score AS rated_score, r.at AS rated_at,
                                r.reason AS rated_reason FROM counters c
                         JOIN tickets t ON t.id = c.last_done LEFT JOIN ratings r ON r.ticket = t.id
                         WHERE t.status = 'done'"""):
        if r["finished_by"] in counters:
            finished[r["finished_by"]] = Finished(_ticket(r), r["rated_score"], _time(r["rated_at"]),
                                                  r["rated_reason"])
    recent: dict[str, list[float]] = {}
    for queue, seconds in db.execute(
            """SELECT queue, (julianday(finished_at) - julianday(coalesce(started_at, called_at))) * 86400
               FROM tickets WHERE day = ? AND status = 'done' ORDER BY finished_at DESC""", [d]):
        bucket = recent.setdefault(queue, [])
        if len(bucket) < rules.RECENT_SERVICE_TIMES and seconds is not None:
            bucket.insert(0, max(0.0, seconds))
    return dataclasses.replace(state, tickets=tickets, counters=counters, issued=issued,
                               service_seconds={q: tuple(v) for q, v in recent.items()}, finished=finished)


def recent_calls(db: Database, day: date, limit: int = 10) -> list[dict[str, Any]]:
    """The day's latest calls, newest first, one per ticket: ticket id, label, counter, queue,
    time, how many times it was recalled and the ticket's priority group (its code, or None)."""
    calls: dict[int, dict[str, Any]] = {}
    for seq, at, ticket, counter, data, kind, group in db.execute(
            "SELECT e.seq, e.at, e.ticket, e.counter, e.data, e.type, t.priority_group "
            "FROM events e JOIN tickets t ON t.id = e.ticket "
            "WHERE e.type IN ('called', 'recalled') AND t.day = ? ORDER BY e.seq DESC LIMIT ?",
            [day.isoformat(), limit * 8]):
        if ticket in calls:
            continue
        info = json.loads(data)
        calls[ticket] = {"ticket_id": ticket, "label": info.get("label"), "counter": counter,
                         "service": info.get("queue"), "at": at,
                         "recall": info.get("call_count", 1) - 1 if kind == "recalled" else 0,
                         "group": group}
        if len(calls) == limit:
            break
    return list(calls.values())


def find_command(db: Database, key: str) -> dict[str, Any] | None:
    """The reply first given to command `key`, or None if it was never applied."""
    row = db.execute("SELECT reply FROM commands WHERE id = ?", [key]).fetchone()
    return json.loads(row[0]) if row else None


def _ticket(r: dict[str, Any]) -> Ticket:
    return Ticket(
        id=r["id"], day=date.fromisoformat(r["day"]), service=r["service"], number=r["number"],
        label=r["label"], priority=bool(r["priority"]), token=r["token"], issued_at=parse_iso(r["issued_at"]),
        queue=r["queue"], status=r["status"], kiosk=r["kiosk"], front=bool(r["front"]),
        called_at=_time(r["called_at"]), started_at=_time(r["started_at"]), finished_at=_time(r["finished_at"]),
        counter=r["counter"], call_count=r["call_count"], transferred_from=r["transferred_from"],
        priority_group=r["priority_group"])


def _time(text: str | None) -> datetime | None:
    return parse_iso(text) if text else None


# --- writing (inside the engine's transaction) ---------------------------------------------------

_TICKET_COLUMNS = [f.name for f in dataclasses.fields(Ticket)]
_UPSERT_TICKET = (
    f"INSERT INTO tickets ({', '.join(_TICKET_COLUMNS)}) VALUES ({', '.join('?' for _ in _TICKET_COLUMNS)}) "
    f"ON CONFLICT (id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in _TICKET_COLUMNS if c != 'id')}")


def write_outcome(db: Database, before: QueueState, after: QueueState, events: Iterable[Event],
                  at: datetime, actor: str | None) -> list[EventRecord]:
    """Record a rule outcome: one events row each, the tickets and counters they changed, and
    a `ratings` row per `rated` event (its primary key, the ticket, refuses a second one), and
    its reason per `rating_reason` event."""
    zone = after.config.zone
    stamp = iso(at, zone)
    conn = db.conn
    if after.day != before.day:
        conn.execute("INSERT OR IGNORE INTO days (day, opened_at) VALUES (?, ?)", [after.day.isoformat(), stamp])
    records = []
    latest: dict[int, Ticket] = {}
    for event in events:
        data = _event_data(event)
        cur = conn.execute(
            "INSERT INTO events (at, type, ticket, counter, actor, data) VALUES (?, ?, ?, ?, ?, ?)",
            [stamp, event.type, event.ticket.id if event.ticket else None, event.counter, actor,
             json.dumps(data, ensure_ascii=False)])
        records.append(EventRecord(cur.lastrowid, stamp, event.type, event.ticket, event.counter, data))
        if event.type == "rated" and event.ticket is not None:  # rating a ticket leaves the ticket as it is
            conn.execute("INSERT INTO ratings (ticket, counter, score, at) VALUES (?, ?, ?, ?)",
                         [event.ticket.id, event.counter, event.data["score"], stamp])
        elif event.type == "rating_reason" and event.ticket is not None:  # only where it is still none
            conn.execute("UPDATE ratings SET reason = ? WHERE ticket = ? AND reason IS NULL",
                         [event.data["reason"], event.ticket.id])
        elif event.ticket is not None:
            latest[event.ticket.id] = event.ticket
    for ticket in latest.values():
        conn.execute(_UPSERT_TICKET, [_column(getattr(ticket, c), zone) for c in _TICKET_COLUMNS])
    for cid, counter in after.counters.items():
        if before.counters.get(cid) is not counter:
            conn.execute("UPDATE counters SET state = ?, ticket = ?, pause_reason = ?, normal_streak = ?, "
                         "last_done = ? WHERE id = ?",
                         [counter.state, counter.ticket, counter.pause_reason, counter.normal_streak,
                          counter.last_done, cid])
    return records


def save_command(db: Database, key: str, at: datetime, reply: dict[str, Any], config: Config) -> None:
    db.conn.execute("INSERT INTO commands (id, at, reply) VALUES (?, ?, ?)",
                    [key, iso(at, config.zone), json.dumps(reply, ensure_ascii=False)])


def _event_data(event: Event) -> dict[str, Any]:
    data = dict(event.data)
    if event.ticket is not None:
        data.setdefault("label", event.ticket.label)
    return data


def _column(value: Any, zone: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value, zone)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return value
