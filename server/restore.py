"""`queuebox restore --from-hub`: a centre rebuilt on a new SD card asks the province hub for
its history and gets a database that carries on where the hub's copy ends.

With the centre's own account on the hub broker (`[uplink]`), it publishes a `RestoreRequest`
on `centre/<id>/restore` and reads the hub's `HistoryPart`s on `centre/<id>/history` (docs/
protocol.md). The events go into a new SQLite file beside `database.path`, made by the server's
own migrations; tickets, ratings, days and counters are then rebuilt from them
(server/restore_fold.py), the events keep their seq, and only a complete history is renamed
into place: on any failure (hub broker unreachable, no answer, no history, a part missing after
asking again) the new file is removed and nothing else has changed.

An existing database that holds events is refused unless `force`; any existing file is moved
aside (`<name>.before-restore-<time>`), never deleted. The uplink then finds the hub's ack on
the restored history's last event and sends only what comes after it.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterator

from queuebox.bus import Message
from queuebox.config import Config
from queuebox.errors import QueueboxError
from queuebox.hub_link import HubLink
from queuebox.hub_protocol import HistoryPart, HubEvent, HubTopics, ProtocolError, RestoreRequest, decode_history, \
    encode_restore
from server import store
from server.restore_fold import event_row, rebuild

logger = logging.getLogger(__name__)
CONNECT_TIMEOUT_S = 20.0
ANSWER_TIMEOUT_S = 30.0  # silence after which the missing part is asked for again
ATTEMPTS = 3  # requests before giving up
SIDE = (".restoring", ".restoring-wal", ".restoring-shm")


class RestoreError(QueueboxError):
    """The history could not be restored; nothing was written."""


@dataclass(frozen=True)
class Restored:
    path: Path
    events: int
    tickets: int
    epoch: int
    moved_aside: Path | None


def restore_from_hub(config: Config, db_path: str | Path, *, force: bool = False,
                     connect_timeout_s: float = CONNECT_TIMEOUT_S, answer_timeout_s: float = ANSWER_TIMEOUT_S,
                     attempts: int = ATTEMPTS) -> Restored:
    """Restore the centre's history from the hub into `db_path` (see the module docstring)."""
    path = Path(db_path)
    existing = _events_in(path)
    if existing and not force:
        raise RestoreError(f"{path} already holds {existing} events: this centre has a history here. Run with "
                           "--force to move that file aside and restore the hub's copy instead")
    u = config.uplink
    if not u.host:
        raise RestoreError("uplink.host is empty: set the province hub's broker in [uplink]")
    tmp = path.with_name(path.name + SIDE[0])
    _remove_side_files(path)
    try:
        db = store.open_database(tmp)
        try:
            store.migrate(db)
            store.sync_config(db, config)
            epoch, count = _receive(config, db.conn, connect_timeout_s, answer_timeout_s, attempts)
            tickets = _write_rows(config, db.conn)
            db.conn.execute("PRAGMA journal_mode=DELETE")  # everything in the one file that is renamed
        finally:
            db.close()
        moved = _move_aside(path) if path.exists() else None
        os.replace(tmp, path)
        _sync_folder(path.parent)
    finally:
        _remove_side_files(path)
    logger.info("restored %d events of epoch %d (%d tickets) into %s", count, epoch, tickets, path)
    return Restored(path, count, tickets, epoch, moved)


def _receive(config: Config, conn: sqlite3.Connection, connect_timeout_s: float, answer_timeout_s: float,
             attempts: int) -> tuple[int, int]:
    """Ask for the history and store every event in `conn`'s `events`; (epoch, events)."""
    u = config.uplink
    topics = HubTopics(u.root, config.site.id)
    link = HubLink(u.host, u.port, u.username or f"centre-{config.site.id}", username=u.username,
                   password=u.password, tls=u.tls, ca_file=u.ca_file, subscriptions=[topics.history], clean=True)
    link.start()
    try:
        if not link.connected.wait(connect_timeout_s):
            raise RestoreError(f"cannot reach the hub broker {u.host}:{u.port} (or it refused this centre's "
                               f"account) within {connect_timeout_s:.0f} s; nothing was written")
        request = secrets.token_hex(8)
        got = _Progress()
        for attempt in range(1, attempts + 1):
            if not link.publish(topics.restore, encode_restore(RestoreRequest(request, got.next_seq)), qos=1):
                raise RestoreError("lost the hub broker while asking for the history; nothing was written")
            for part in _parts(link, topics.history, config.site.id, request, answer_timeout_s):
                got.add(part, conn)
                if got.complete:
                    return got.epoch or 0, got.next_seq - 1
            if got.upto is None:
                logger.warning("no answer from the hub within %.0f s (request %d of %d)", answer_timeout_s,
                               attempt, attempts)
            else:
                logger.warning("the hub's answer stopped before seq %d of %d; asking again (request %d of %d)",
                               got.next_seq, got.upto, attempt, attempts)
        if got.upto is None:
            raise RestoreError(f"the hub did not answer {attempts} requests (is `queuebox hub` running?); "
                               "nothing was written")
        raise RestoreError(f"the hub's answer stopped at seq {got.next_seq - 1} of {got.upto} after {attempts} "
                           "requests; nothing was written")
    finally:
        link.stop()


class _Progress:
    """What has arrived: the events stored so far are exactly seqs 1 .. next_seq - 1."""

    def __init__(self) -> None:
        self.next_seq = 1
        self.upto: int | None = None
        self.epoch: int | None = None
        self.early: dict[int, HistoryPart] = {}  # parts past a missing one, by their first seq

    @property
    def complete(self) -> bool:
        return self.upto is not None and self.next_seq > self.upto

    def add(self, part: HistoryPart, conn: sqlite3.Connection) -> None:
        if part.upto == 0:
            raise RestoreError(f"the hub has no history of centre {part.centre}; nothing was written")
        if self.epoch is not None and part.epoch != self.epoch:
            raise RestoreError(f"the hub's history of this centre changed epoch ({self.epoch} → {part.epoch}) "
                               "while it was being restored; run the restore again")
        self.epoch, self.upto = part.epoch, max(self.upto or 0, part.upto)
        if part.events:
            self.early[part.first] = part
        while self.next_seq in self.early:
            chunk = self.early.pop(self.next_seq)
            _insert_events(conn, chunk.events)
            self.next_seq = chunk.events[-1].seq + 1
        self.early = {first: p for first, p in self.early.items() if p.events[-1].seq >= self.next_seq}


def _parts(link: HubLink, topic: str, centre: str, request: str, quiet_s: float) -> Iterator[HistoryPart]:
    """The parts of the answer to `request` until none came for `quiet_s`."""
    deadline = time.monotonic() + quiet_s
    while time.monotonic() < deadline:
        try:
            item = link.inbox.get(timeout=min(0.5, quiet_s))
        except Exception:  # queue.Empty
            continue
        if not isinstance(item, Message) or item.topic != topic:
            continue
        try:
            part = decode_history(item.payload, centre)
        except ProtocolError as exc:
            logger.warning("ignored a history part that cannot be read: %s", exc)
            continue
        if part.request == request:
            deadline = time.monotonic() + quiet_s
            yield part


def _insert_events(conn: sqlite3.Connection, events: tuple[HubEvent, ...]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO events (seq, at, type, ticket, counter, actor, data) "
                     "VALUES (:seq, :at, :type, :ticket, :counter, :actor, :data)", [event_row(e) for e in events])
    conn.execute("COMMIT")


def _stored_events(conn: sqlite3.Connection) -> Iterator[HubEvent]:
    after = 0
    while True:
        rows = conn.execute("SELECT seq, at, type, ticket, counter, actor, data FROM events WHERE seq > ? "
                            "ORDER BY seq LIMIT 5000", [after]).fetchall()
        if not rows:
            return
        for seq, at, type_, ticket, counter, actor, data in rows:
            yield HubEvent(seq, at, type_, ticket, counter, actor, json.loads(data))
        after = rows[-1][0]


def _write_rows(config: Config, conn: sqlite3.Connection) -> int:
    """Rebuild and write tickets, ratings, days and counters from the stored events; tickets written."""
    rebuilt = rebuild(config, _stored_events(conn))
    tickets = rebuilt.ticket_rows()
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany("INSERT INTO days (day, opened_at) VALUES (?, ?)", sorted(rebuilt.days.items()))
        if tickets:
            columns = list(tickets[0])
            conn.executemany(f"INSERT INTO tickets ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",
                             [[row[c] for c in columns] for row in tickets])
        conn.executemany("INSERT INTO ratings (ticket, counter, score, at, reason) "
                         "VALUES (:ticket, :counter, :score, :at, :reason)", list(rebuilt.ratings.values()))
        conn.executemany("UPDATE counters SET state = ?, ticket = ?, pause_reason = ?, normal_streak = ?, "
                         "last_done = ? WHERE id = ?",
                         [(c.state, c.ticket, c.pause_reason, c.normal_streak, c.last_done, c.id)
                          for c in rebuilt.counters.values()])
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return len(tickets)


def _events_in(path: Path) -> int:
    """Events in the database at `path` (0 when there is no file or no events table)."""
    if not path.exists():
        return 0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT count(*) FROM events").fetchone()[0]
    except sqlite3.DatabaseError:
        return 0
    finally:
        conn.close()


def _move_aside(path: Path) -> Path:
    aside = path.with_name(f"{path.name}.before-restore-{datetime.now():%Y%m%d-%H%M%S}")
    for suffix in ("", "-wal", "-shm"):
        src = Path(str(path) + suffix)
        if src.exists():
            os.replace(src, Path(str(aside) + suffix))
    logger.warning("moved the existing database aside to %s", aside)
    return aside


def _remove_side_files(path: Path) -> None:
    for suffix in SIDE:
        Path(str(path) + suffix).unlink(missing_ok=True)


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
