"""Ingest one centre batch into PostgreSQL: one transaction, idempotent, keyed (centre, epoch, seq).

`ingest(conn, batch)` returns the acknowledgement to publish once it has committed:

- events already stored are skipped (INSERT … ON CONFLICT DO NOTHING): a replayed batch changes
  nothing and gets the same ack;
- the seq range of the batch is recorded; `acked` moves up to the highest seq below which
  every event is here, and the events that became contiguous are folded into `tickets` and
  `ratings` (with their reasons) in seq order (queuebox/ticket_fold.py), so batches out of order
  rebuild the same tickets, and a reason folds after its rating even when it came in a later batch;
- a batch that starts past `acked + 1` leaves a gap: the ack asks for it (`resend_from`);
- a batch whose events differ from the ones stored at the same seqs is a centre that went
  back (an old backup restored): the centre gets a new epoch, a copy of the common history
  before the first difference, and the batch goes there; the old epoch stays as it was;
- a batch of an older epoch than the centre's (sent before its uplink heard of the new one)
  is dropped and acknowledged with the current epoch.

The centre's row is locked for the transaction, so hub processes sharing the load never
interleave two batches of one centre.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Iterable

import psycopg
from psycopg.types.json import Jsonb

from queuebox.ticket_fold import RatingRow, TicketRow, apply_event, business_day, rating_of, reason_of
from queuebox.hub_protocol import Ack, Batch, HubEvent
from queuebox.protocol_fields import parse_moment

logger = logging.getLogger(__name__)

_TICKET_COLUMNS = ("id", "day", "service", "label", "priority", "status", "queue", "counter", "issued_at",
                   "first_called_at", "called_at", "started_at", "finished_at", "transferred", "ended_by",
                   "priority_group")
_UPSERT_TICKET = (
    f"INSERT INTO tickets (centre, epoch, {', '.join(_TICKET_COLUMNS)}) "
    f"VALUES (%s, %s, {', '.join('%s' for _ in _TICKET_COLUMNS)}) ON CONFLICT (centre, epoch, id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _TICKET_COLUMNS if c != "id"))
FOLD_CHUNK = 5000  # events folded into tickets per query, so a year's history needs no year in memory


@dataclass(frozen=True)
class Ingested:
    """What one batch did: the ack to publish, events newly stored, and whether it forked an epoch."""
    ack: Ack
    inserted: int
    forked: bool = False
    stale: bool = False


def ingest(conn: psycopg.Connection, batch: Batch) -> Ingested:
    """Store `batch` in one transaction (see the module docstring); `conn` must not be in one."""
    with conn.transaction():
        epoch = _lock_centre(conn, batch.centre)
        if batch.epoch and batch.epoch < epoch:
            return Ingested(_ack(conn, batch.centre, epoch), 0, stale=True)
        forked = False
        differs = _first_difference(conn, batch, epoch)
        if differs is not None:
            epoch = _fork(conn, batch.centre, epoch, differs)
            forked = True
        inserted = _insert(conn, batch, epoch)
        conn.execute("INSERT INTO coverage (centre, epoch, lo, hi) VALUES (%s, %s, %s, %s) "
                     "ON CONFLICT (centre, epoch, lo) DO UPDATE SET hi = greatest(coverage.hi, excluded.hi)",
                     [batch.centre, epoch, batch.first, batch.last])
        acked = _advance(conn, batch.centre, epoch)
        ack = _ack(conn, batch.centre, epoch)
        if batch.first > acked + 1:
            ack = Ack(ack.epoch, ack.seq, ack.at, resend_from=acked + 1)
    return Ingested(ack, inserted, forked)


def current_ack(conn: psycopg.Connection, centre: str) -> Ack | None:
    """The acknowledgement of `centre` as stored now; None for a centre never heard of."""
    row = conn.execute("SELECT epoch FROM centres WHERE id = %s", [centre]).fetchone()
    return None if row is None else _ack(conn, centre, row[0])


def refuse(conn: psycopg.Connection, centre: str, payload: bytes, reason: str) -> Ack:
    """Keep a refused batch whole for an operator; the ack says it was refused (nothing else changes)."""
    with conn.transaction():
        epoch = _lock_centre(conn, centre)
        conn.execute("INSERT INTO refused_batches (centre, reason, payload) VALUES (%s, %s, %s)",
                     [centre, reason[:500], payload])
        ack = _ack(conn, centre, epoch)
    return ack


# --- steps (inside the transaction) ------------------------------------------------------------

def _lock_centre(conn: psycopg.Connection, centre: str) -> int:
    conn.execute("INSERT INTO centres (id) VALUES (%s) ON CONFLICT (id) DO NOTHING", [centre])
    row = conn.execute("UPDATE centres SET last_heard = now() WHERE id = %s RETURNING epoch", [centre]).fetchone()
    epoch = row[0]  # type: ignore[index]
    conn.execute("INSERT INTO epochs (centre, epoch) VALUES (%s, %s) ON CONFLICT DO NOTHING", [centre, epoch])
    return epoch


def _first_difference(conn: psycopg.Connection, batch: Batch, epoch: int) -> int | None:
    """The first seq of the batch whose stored event is another one (time or type), else None."""
    stored = {seq: (at, type_) for seq, at, type_ in conn.execute(
        "SELECT seq, at, type FROM events WHERE centre = %s AND epoch = %s AND seq BETWEEN %s AND %s",
        [batch.centre, epoch, batch.events[0].seq, batch.last])}
    for e in batch.events:
        if e.seq in stored and stored[e.seq] != (e.at, e.type):
            return e.seq
    return None


def _fork(conn: psycopg.Connection, centre: str, old: int, differs: int) -> int:
    new = old + 1
    logger.warning("centre %s went back: its event %d differs from the hub's (epoch %d); keeping both "
                   "histories, new events go to epoch %d", centre, differs, old, new)
    conn.execute("UPDATE centres SET epoch = %s WHERE id = %s", [new, centre])
    conn.execute("INSERT INTO epochs (centre, epoch, forked_at) VALUES (%s, %s, %s)", [centre, new, differs])
    conn.execute("INSERT INTO events (centre, epoch, seq, at, at_utc, type, ticket, counter, actor, data, received_at) "
                 "SELECT centre, %s, seq, at, at_utc, type, ticket, counter, actor, data, received_at FROM events "
                 "WHERE centre = %s AND epoch = %s AND seq < %s", [new, centre, old, differs])
    acked = conn.execute("SELECT acked FROM epochs WHERE centre = %s AND epoch = %s", [centre, old]).fetchone()
    common = min(differs - 1, acked[0] if acked else 0)  # below it, every event is in the copy
    if common:
        conn.execute("INSERT INTO coverage (centre, epoch, lo, hi) VALUES (%s, %s, 1, %s)", [centre, new, common])
    return new


def _insert(conn: psycopg.Connection, batch: Batch, epoch: int) -> int:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO events (centre, epoch, seq, at, at_utc, type, ticket, counter, actor, data) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            [(batch.centre, epoch, e.seq, e.at, parse_moment(e.at), e.type, e.ticket, e.counter, e.actor,
              Jsonb(e.data)) for e in batch.events])
        return max(cur.rowcount, 0)


def _advance(conn: psycopg.Connection, centre: str, epoch: int) -> int:
    """Move `acked` over the ranges now contiguous and fold their events; returns the new `acked`."""
    acked, day = conn.execute("SELECT acked, day FROM epochs WHERE centre = %s AND epoch = %s",
                              [centre, epoch]).fetchone()  # type: ignore[misc]
    top = acked
    for lo, hi in conn.execute("SELECT lo, hi FROM coverage WHERE centre = %s AND epoch = %s ORDER BY lo",
                               [centre, epoch]).fetchall():
        if lo > top + 1:
            break
        top = max(top, hi)
    if top == acked:
        return acked
    conn.execute("DELETE FROM coverage WHERE centre = %s AND epoch = %s AND hi <= %s", [centre, epoch, top])
    day = _fold(conn, centre, epoch, acked, top, None if day is None else day.isoformat())
    conn.execute("UPDATE epochs SET acked = %s, day = %s WHERE centre = %s AND epoch = %s", [top, day, centre, epoch])
    return top


def _fold(conn: psycopg.Connection, centre: str, epoch: int, after: int, upto: int, day: str | None) -> str | None:
    """Fold the events after..upto (seq order) into tickets and ratings; returns the business day after them."""
    while after < upto:
        rows = conn.execute(
            "SELECT seq, at, type, ticket, counter, actor, data FROM events "
            "WHERE centre = %s AND epoch = %s AND seq > %s AND seq <= %s ORDER BY seq LIMIT %s",
            [centre, epoch, after, upto, FOLD_CHUNK]).fetchall()
        if not rows:
            break
        events = [HubEvent(*row) for row in rows]
        day = _fold_chunk(conn, centre, epoch, events, day)
        after = events[-1].seq
    return day


def _fold_chunk(conn: psycopg.Connection, centre: str, epoch: int, events: list[HubEvent],
                day: str | None) -> str | None:
    ids = sorted({e.ticket for e in events if e.ticket is not None})
    tickets: dict[int, TicketRow] = {}
    if ids:
        for row in conn.execute(f"SELECT {', '.join(_TICKET_COLUMNS)} FROM tickets "
                                "WHERE centre = %s AND epoch = %s AND id = ANY(%s)", [centre, epoch, ids]):
            values = dict(zip(_TICKET_COLUMNS, row))
            values["day"] = values["day"].isoformat()
            tickets[values["id"]] = TicketRow(**values)
    changed: set[int] = set()
    ratings: list[RatingRow] = []
    reasons: list[tuple[int, str]] = []
    for e in events:
        day = business_day(day, e)
        rating = rating_of(e)
        if rating is not None:
            ratings.append(rating)
        elif e.type == "rating_reason":
            given = reason_of(e)
            if given is not None:
                reasons.append(given)
        elif e.ticket is not None:
            row = apply_event(tickets.get(e.ticket), e, day)
            if row is not None:
                tickets[e.ticket] = row
                changed.add(e.ticket)
    with conn.cursor() as cur:
        if changed:
            cur.executemany(_UPSERT_TICKET, [(centre, epoch, *_ticket_values(tickets[i])) for i in sorted(changed)])
        if ratings:
            cur.executemany("INSERT INTO ratings (centre, epoch, ticket, counter, score, at) "
                            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                            [(centre, epoch, r.ticket, r.counter, r.score, r.at) for r in ratings])
        if reasons:  # after the ratings: a reason's rating comes before it, in this chunk or an earlier one
            cur.executemany("UPDATE ratings SET reason = %s WHERE centre = %s AND epoch = %s AND ticket = %s "
                            "AND reason IS NULL", [(reason, centre, epoch, ticket) for ticket, reason in reasons])
    return day


def _ticket_values(row: TicketRow) -> Iterable[Any]:
    return (getattr(row, c) for c in _TICKET_COLUMNS)


def _ack(conn: psycopg.Connection, centre: str, epoch: int) -> Ack:
    acked = conn.execute("SELECT acked FROM epochs WHERE centre = %s AND epoch = %s", [centre, epoch]).fetchone()
    seq = acked[0] if acked else 0
    at = None
    if seq:
        found = conn.execute("SELECT at FROM events WHERE centre = %s AND epoch = %s AND seq = %s",
                             [centre, epoch, seq]).fetchone()
        at = found[0] if found else None
    return Ack(epoch, seq, at)
