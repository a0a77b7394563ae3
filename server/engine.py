"""The single writer. Every command, from MQTT or the web, goes through `Engine.execute`:

take the lock, `BEGIN IMMEDIATE`, return the first reply if the command id was seen before,
reload the state if another connection committed since, open a new business day if the
date has moved on, apply the rule, write the ticket and counter rows and one `events` row
per change, record the reply under the command id, `COMMIT`. Only then does the caller get
the reply and the events to publish: nothing leaves the engine before it is durable.

The engine keeps the current day's state in memory between commands; the `seq` of the last
event tells it whether the file changed under it (another process, a restore) so it can
reload. Any failure rolls back and drops the cached state.
"""

from __future__ import annotations

import json
import logging
import secrets
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from queuebox.clock import business_day, iso, trusted_now, utc_now
from queuebox.config import Config
from queuebox.errors import CommandRejected, ConfigError
from server import messages, rating_rules, rules, settings, store
from server.rules import Outcome, QueueState
from server.store import EventRecord

logger = logging.getLogger(__name__)

MAX_COMMAND_ID = 64
# How long a command id is remembered: far longer than any device re-sends a command (seconds),
# and short enough that the `commands` table stays small (it was two thirds of a year's file).
COMMAND_RETENTION = timedelta(days=2)
PRUNE_BATCH = 5000  # rows deleted per transaction, so a command never waits long for the lock
# the newest ids are kept whatever the clock says: a clock jumped far ahead must not make a
# re-send from a minute ago look new (a busy day is a few thousand commands)
COMMANDS_KEPT_AT_LEAST = 10_000
Rule = Callable[[QueueState, datetime], Outcome]
Listener = Callable[[tuple[EventRecord, ...]], None]
T = TypeVar("T")


@dataclass(frozen=True)
class Result:
    """What a command produced: the reply to send, and the committed events to publish."""
    reply: dict[str, Any]
    events: tuple[EventRecord, ...] = ()
    duplicate: bool = False  # the command id was applied before; `reply` is the first reply

    @property
    def ok(self) -> bool:
        return bool(self.reply.get("ok"))


class Engine:
    """Applies commands to the database; safe to share between threads of one process."""

    def __init__(self, config: Config, db_path: str | Path | None = None, *,
                 clock: Callable[[], datetime] = utc_now,
                 new_token: Callable[[], str] = lambda: secrets.token_urlsafe(9)) -> None:
        self.file_config = config
        self.db_path = Path(db_path or config.database.path)
        self._db = store.open_database(self.db_path)
        store.migrate(self._db)
        overrides = settings.read_overrides(self._db)
        try:
            self.config = settings.effective_config(config, overrides)
        except ConfigError as exc:  # e.g. the file changed under the saved sections: run on the file alone
            logger.error("ignoring the settings saved from the web administration: %s", exc)
            self.config = config
        self.message: str = overrides.get("message", "")
        store.sync_config(self._db, self.config)
        self._clock = clock
        self._new_token = new_token
        self._lock = threading.Lock()
        self._state: QueueState | None = None
        self._seq = -1
        self._warned_clock = False
        self._last_at: datetime | None = None  # time of the last event seen, for `now`
        self._listeners: list[Listener] = []

    def now(self) -> datetime:
        """The engine's clock (injected in tests), held at the last recorded time if it is behind it,
        so what the web shows (waiting times, the rating window, today) never runs backwards."""
        return trusted_now(self._clock(), self._last_at)

    def add_listener(self, listener: Listener) -> None:
        """Call `listener(records)` after every commit that recorded events, on the committing thread,
        outside the engine's lock. Listeners must be quick (enqueue and return) and must not raise."""
        self._listeners.append(listener)

    def _notify(self, records: tuple[EventRecord, ...]) -> None:
        for listener in self._listeners:
            try:
                listener(records)
            except Exception:
                logger.exception("an engine listener failed")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- commands ---------------------------------------------------------------------

    def take(self, command_id: str, kiosk: str, service: str, priority: bool = False,
             group: str | None = None) -> Result:
        """A kiosk asks for a ticket of `service`; a `group` (a priority group code) makes it priority."""
        def rule(state: QueueState, now: datetime) -> Outcome:
            return rules.issue_ticket(state, service, now, token=self._new_token(), priority=priority, kiosk=kiosk,
                                      group=group)
        return self.execute(f"kiosk/{kiosk}", command_id, rule, self._issued_reply)

    def counter(self, command_id: str, counter: str, action: str, *, to: str | None = None,
                ticket: str | None = None, reason: str | None = None, origin: str | None = None) -> Result:
        """A counter action of the protocol: next, recall, start, done, no_show, transfer, call, pause, resume."""
        def rule(state: QueueState, now: datetime) -> Outcome:
            return rules.counter_action(state, counter, action, now, to=to, ticket=ticket, reason=reason)
        return self.execute(origin or f"counter/{counter}", command_id, rule, self._counter_reply)

    def rate(self, command_id: str, counter: str, score: int, *, reason: str | None = None,
             origin: str | None = None) -> Result:
        """A citizen's score (1 very satisfied … 4 dissatisfied) for the ticket `counter` finished
        last, and optionally why they were not satisfied (`reason`, for a score of 3 or 4).

        Accepted once per ticket, within `queue.rating_window_s` of its finish (see `rating_rules.rate`):
        writes the `ratings` row and one `rated` event; replies ``{"ticket": label, "score": n}``.
        Refusals: unknown_counter, bad_request, no_ticket (window closed), already_rated (logged
        at INFO and ignored). A `reason` attaches to the rating (`rating_rules.rate_with_reason`): sent
        with the score, or again with the same score once it is recorded; the reply then carries
        ``"reason"``. A refused reason leaves the score recorded: the refusal's reply carries
        ``ticket`` and ``score`` too. `origin` defaults to the keypad's ``counter/<counter>``;
        the web rating page sends ``tablet/<counter>``.
        """
        refused: list[CommandRejected] = []

        def rule(state: QueueState, now: datetime) -> Outcome:
            outcome, refusal = rating_rules.rate_with_reason(state, counter, score, reason, now)
            if refusal is not None:
                refused.append(refusal)
            return outcome

        def reply(state: QueueState, outcome: Outcome) -> dict[str, Any]:
            assert outcome.ticket is not None
            given = state.finished[counter].reason if reason is not None and not refused else None
            if refused:  # the score is recorded, the reason is not
                return {**_error(command_id, refused[0].code, refused[0].message), "ticket": outcome.ticket.label,
                        "score": score}
            return {"ticket": outcome.ticket.label, "score": score, **({"reason": given} if given else {})}
        return self.execute(origin or f"counter/{counter}", command_id, rule, reply)

    def execute(self, origin: str, command_id: str, rule: Rule,
                reply_for: Callable[[QueueState, Outcome], dict[str, Any]]) -> Result:
        """Apply `rule` once per (origin, command id), durably; see the module docstring."""
        if not isinstance(command_id, str) or not 0 < len(command_id) <= MAX_COMMAND_ID:
            return Result(_error(command_id, "bad_request", f"command id must be 1 to {MAX_COMMAND_ID} characters"))
        key = f"{origin}:{command_id}"
        with self._lock:
            with self._writing() as conn:
                first = store.find_command(self._db, key)
                if first is not None:
                    conn.execute("ROLLBACK")
                    return Result(first, duplicate=True)
                before, now = self._current(conn)
                opened = rules.open_day(before, business_day(_day_or_none(before.day), now, self.config.zone), now)
                try:
                    step = rule(opened.state, now)
                    outcome = Outcome(step.state, opened.events + step.events, step.ticket)
                    reply = {"id": command_id, "ok": True, **reply_for(outcome.state, outcome)}  # ok: false for a part refused (a rating's reason)
                except CommandRejected as rejected:
                    outcome = opened  # a day that opened stays open even if the command fails
                    reply = _error(command_id, rejected.code, rejected.message)
                records = store.write_outcome(self._db, before, outcome.state, outcome.events, now, origin)
                store.save_command(self._db, key, now, reply, self.config)
            self._committed(outcome.state, now, records)
        if not reply["ok"]:
            logger.info("%s %s refused: %s", origin, command_id, reply["error"]["message"])
        if records:
            self._notify(tuple(records))
        return Result(reply, tuple(records))

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (the caller holds the lock): BEGIN IMMEDIATE, COMMIT at the end
        of the block (unless it rolled back itself); on any error ROLLBACK, and the cached state
        is dropped, so the next command reads what is committed."""
        conn = self._db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            if conn.in_transaction:
                conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._state = None
            raise

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """One read transaction (the caller holds the lock): one consistent view, rolled back."""
        conn = self._db.conn
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("ROLLBACK")

    def _committed(self, state: QueueState, now: datetime, records: list[EventRecord]) -> None:
        """Remember what was just committed: the state, the time and the last seq."""
        self._state = state
        self._last_at = now
        if records:
            self._seq = records[-1].seq

    def open_day_if_due(self) -> tuple[EventRecord, ...]:
        """Open the new business day now if the local date has moved on, without waiting for a command.

        Commits what a command would have done first (yesterday's unfinished tickets cancelled,
        counters freed, `day_opened`) and notifies the listeners, so the board, the counters'
        states and the web show the new day from midnight on. Returns the committed events
        (none if the day is current, or if no day was ever opened: a new database opens its
        first day on its first command)."""
        with self._lock:
            with self._reading() as conn:
                state, now = self._current(conn)
            if state.day == date.min or business_day(state.day, now, self.config.zone) == state.day:
                return ()
            with self._writing() as conn:
                before, now = self._current(conn)  # again under the write lock: another process may have opened it
                opened = rules.open_day(before, business_day(_day_or_none(before.day), now, self.config.zone), now)
                records = store.write_outcome(self._db, before, opened.state, opened.events, now, "clock")
            self._committed(opened.state, now, records)
            if records:
                logger.info("business day %s opened at %s", opened.state.day, iso(now, self.config.zone))
        if records:
            self._notify(tuple(records))
        return tuple(records)

    def watch_day(self, stop: threading.Event, every_s: float = 1.0) -> None:
        """Until `stop` is set (the server runs this on a thread of its own): every `every_s`
        seconds `open_day_if_due`, and once per business day (at start, then whenever the day
        has changed) `prune_commands`. A failure is logged and tried again next time."""
        pruned_for: date | None = None
        while True:
            try:
                self.open_day_if_due()
                day = self.snapshot().day
                if day != pruned_for:
                    self.prune_commands()
                    pruned_for = day
            except Exception:
                logger.exception("could not open the new business day or prune old command ids")
            if stop.wait(every_s):
                return

    def prune_commands(self, keep: timedelta = COMMAND_RETENTION, batch: int = PRUNE_BATCH,
                       keep_at_least: int = COMMANDS_KEPT_AT_LEAST) -> int:
        """Forget the command ids recorded more than `keep` before now (trusted time), except the
        newest `keep_at_least`; returns how many. A repeat of a forgotten id would be applied
        again, so `keep` must outlast every re-send; the events and tickets the commands made
        stay. Deletes `batch` rows per transaction, so commands in between never wait long for
        the lock."""
        total = 0
        while True:
            with self._lock, self._writing() as conn:
                _, now = self._current(conn)
                cutoff = iso(now - keep, self.config.zone)
                deleted = conn.execute(
                    "DELETE FROM commands WHERE rowid IN (SELECT rowid FROM commands WHERE julianday(at) < "
                    "julianday(?) AND rowid <= (SELECT max(rowid) FROM commands) - ? LIMIT ?)",
                    [cutoff, keep_at_least, batch]).rowcount
            total += deleted
            if deleted < batch:
                if total:
                    logger.info("forgot %d command ids older than %s", total, cutoff)
                return total

    def record(self, event_type: str, actor: str, data: dict[str, Any]) -> EventRecord:
        """Append an event that changes no queue state (e.g. `user_changed` from the administration)."""
        return self.write(event_type, actor, lambda conn, config, stamp: data)

    def write(self, event_type: str, actor: str,
              change: Callable[[sqlite3.Connection, Config, str], dict[str, Any]]) -> EventRecord:
        """A write that changes no queue state (e.g. the procedure catalogue, `server.catalogue_writes`):
        `change(conn, config, stamp)` writes its rows and returns the data of one `event_type` event,
        appended in the same transaction; then the listeners hear of it. An exception from `change`
        rolls everything back."""
        with self._lock:
            with self._writing() as conn:
                _, last_at = store.head(self._db)
                stamp = iso(trusted_now(self._clock(), last_at), self.config.zone)  # times never go back
                data = change(conn, self.config, stamp)
                cur = conn.execute("INSERT INTO events (at, type, actor, data) VALUES (?, ?, ?, ?)",
                                   [stamp, event_type, actor, json.dumps(data, ensure_ascii=False)])
            record = EventRecord(cur.lastrowid, stamp, event_type, None, None, data)
            self._seq = record.seq if self._state is not None and self._seq == record.seq - 1 else self._seq
        self._notify((record,))
        return record

    def read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        """`query(conn)` in one consistent read of the committed database (e.g. the catalogue)."""
        with self._lock, self._reading() as conn:
            return query(conn)

    def reconfigure(self, changes: dict[str, Any], actor: str) -> Config:
        """Apply sections saved from the web administration (see `server.settings`) without a restart.

        Validated like the config file; raises ConfigError listing every problem, and refuses to
        remove a service someone waits in or a counter holding a ticket. Recorded as one
        `config_changed` event naming the sections and the actor."""
        unknown = settings.unknown_sections(changes)
        if unknown:
            raise ConfigError([f"{key}: not a section the administration can change" for key in unknown],
                              "the administration")
        with self._lock:
            with self._writing() as conn:
                before, now = self._current(conn)
                overrides = {**settings.read_overrides(self._db), **changes}
                new = settings.effective_config(self.file_config, overrides)
                problems = list(_still_in_use(before, new))
                if problems:
                    raise ConfigError(problems, "the administration")
                stamp = iso(now, new.zone)
                settings.write_overrides(conn, changes, stamp, actor)
                store.write_config_rows(self._db, new)
                data = {"sections": sorted(changes)}
                cur = conn.execute("INSERT INTO events (at, type, actor, data) VALUES (?, 'config_changed', ?, ?)",
                                   [stamp, actor, json.dumps(data)])
            self.config = new
            self.message = overrides.get("message", "")
            self._state = None  # rebuilt with the new config on the next read
            record = EventRecord(cur.lastrowid, stamp, "config_changed", None, None, data)
        logger.info("%s changed %s", actor, ", ".join(sorted(changes)))
        self._notify((record,))
        return new

    # --- reading ------------------------------------------------------------------------

    def snapshot(self) -> QueueState:
        """The committed state (reloaded if the file changed); for snapshots and health checks."""
        with self._lock, self._reading() as conn:
            state, _ = self._current(conn)
        return state

    def recent_events(self, limit: int = 50) -> list[EventRecord]:
        """The last `limit` committed events, oldest first (to publish again after a crash)."""
        with self._lock:
            return store.recent_events(self._db, limit)

    def snapshots(self, message: str | None = None) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """The retained `board` payload and each counter's `counter/<id>/state` payload, as committed
        (see `server.messages`); `message` replaces the board message saved from the administration."""
        with self._lock, self._reading() as conn:
            state, now = self._current(conn)
            seq, last_at = store.head(self._db)
            calls = store.recent_calls(self._db, state.day) if state.day != date.min else []
        waiting = rules.waiting_counts(state)
        board = messages.board_message(self.config, seq, last_at or self._clock(), calls, waiting,
                                       self.message if message is None else message)
        return board, messages.counter_messages(self.config, state, seq, now, waiting)

    def services_snapshot(self) -> dict[str, Any]:
        """The retained `services` payload: every service as the server knows it now (names saved
        on the web included), in order, and whether it takes tickets at this moment."""
        with self._lock, self._reading() as conn:
            _state, now = self._current(conn)
            seq, _ = store.head(self._db)
            config = self.config
        return messages.services_message(config, seq, now)

    def _current(self, conn: Any) -> tuple[QueueState, datetime]:
        seq, last_at = store.head(self._db)
        if self._state is None or seq != self._seq:
            self._state = store.load_state(self._db, self.config)
            self._seq = seq
        wall = self._clock()
        now = trusted_now(wall, last_at)
        self._last_at = last_at
        if now is not wall and not self._warned_clock:
            logger.warning("clock is behind the last recorded event (%s < %s): holding time until it catches up",
                           wall.isoformat(), last_at.isoformat() if last_at else "-")
            self._warned_clock = True
        elif now is wall:
            self._warned_clock = False
        return self._state, now

    # --- replies --------------------------------------------------------------------------

    def _issued_reply(self, state: QueueState, outcome: Outcome) -> dict[str, Any]:
        assert outcome.ticket is not None
        return {"ticket": messages.issued_ticket(self.config, state, outcome.ticket)}

    def _counter_reply(self, state: QueueState, outcome: Outcome) -> dict[str, Any]:
        t = outcome.ticket
        return {"ticket": messages.ticket_view(self.config, t) if t is not None else None}


def _error(command_id: Any, code: str, message: str) -> dict[str, Any]:
    return {"id": command_id, "ok": False, "error": {"code": code, "message": message}}


def _still_in_use(state: QueueState, new: Config) -> list[str]:
    """Why `new` cannot replace the config now: services or counters it drops that are in use."""
    problems = []
    for t in state.tickets.values():
        if t.status in rules.ACTIVE and new.service(t.queue) is None:
            problems.append(f"services: {t.queue} still has ticket {t.label} in its queue; serve or transfer it first")
    for cid, c in state.counters.items():
        if c.ticket is not None and new.counter(cid) is None:
            problems.append(f"counters: {cid} is holding a ticket; finish it first")
    return problems


def _day_or_none(day: date) -> date | None:
    return None if day == date.min else day
