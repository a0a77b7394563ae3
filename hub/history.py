"""The hub's answer to a rebuilt centre (`queuebox restore --from-hub`): its stored events of
its current epoch, from the seq it asks for up to the hub's ack, in parts that each fit on the
wire. Events past the ack (after a gap) are not sent: the centre gets a history with no hole.
"""

from __future__ import annotations

from typing import Iterator

import psycopg

from queuebox.hub_protocol import HistoryPart, HubEvent, ProtocolError, RestoreRequest, encode_history

READ_CHUNK = 2000  # events read per query, so a year's history needs no year in memory
PART_EVENTS = 500  # events tried per part; halved until the part fits MAX_BATCH_BYTES


def history_parts(conn: psycopg.Connection, centre: str, req: RestoreRequest) -> Iterator[bytes]:
    """The encoded parts of the answer to `req`; one empty part (upto 0) when the hub has no
    history of `centre`, or when `req.first` is past the ack (upto says where it ends)."""
    row = conn.execute("SELECT c.epoch, e.acked FROM centres c JOIN epochs e ON e.centre = c.id AND e.epoch = c.epoch "
                       "WHERE c.id = %s", [centre]).fetchone()
    epoch, upto = (row[0], row[1]) if row else (0, 0)
    if req.first > upto:
        yield encode_history(HistoryPart(centre, req.request, epoch, req.first, upto, ()))
        return
    after = req.first - 1
    pending: list[HubEvent] = []
    while after < upto or pending:
        if after < upto and len(pending) < PART_EVENTS:
            rows = conn.execute("SELECT seq, at, type, ticket, counter, actor, data FROM events "
                                "WHERE centre = %s AND epoch = %s AND seq > %s AND seq <= %s ORDER BY seq LIMIT %s",
                                [centre, epoch, after, upto, READ_CHUNK]).fetchall()
            pending += [HubEvent(*r) for r in rows]
            after = pending[-1].seq if rows else upto
            continue
        part, pending = _fitting_part(centre, req.request, epoch, upto, pending)
        yield part


def _fitting_part(centre: str, request: str, epoch: int, upto: int,
                  events: list[HubEvent]) -> tuple[bytes, list[HubEvent]]:
    """The largest part of at most PART_EVENTS leading `events` that fits, and the events left."""
    count = min(len(events), PART_EVENTS)
    while True:
        try:
            data = encode_history(HistoryPart(centre, request, epoch, events[0].seq, upto, tuple(events[:count])))
            return data, events[count:]
        except ProtocolError:
            if count == 1:
                raise
            count //= 2
