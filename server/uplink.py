"""`queuebox uplink`: sends the centre's committed events to the province hub, in seq order, in
batches, and resumes exactly where the hub's acknowledgement says; publishes a retained live
summary when it changes, at most once a second, and unchanged every LIVE_HEARTBEAT_S (the hub
then knows a quiet centre is up). The database is only read (server/uplink_source.py):
while the hub is away the centre works as before, and the backlog waits in its own `events` table.

`Cursor` is the rule of what to send next (pure, no I/O):
- before the hub's retained ack has come, nothing is sent (none within FIRST_ACK_WAIT_S of
  connecting: the hub has nothing of this centre, start from seq 1);
- the ack's epoch and seq are checked against the centre's own event of that seq (its time): the
  same history continues after it; another one (an old backup restored, or a new SD card) is
  sent from seq 1, and the hub, seeing it differ, keeps it apart under a new epoch;
- at most `window` batches are sent ahead of the ack; an ack that asks `resend_from` rewinds;
  no ack for `ack_timeout_s` while events wait for one rewinds to the ack (the hub or its
  database restarted mid-batch: the batch was not acknowledged and comes again).
"""

from __future__ import annotations

import logging
import queue
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from queuebox.bus import Connected, Message
from queuebox.config import Config
from queuebox.errors import QueueboxError
from queuebox.hub_link import HubLink
from queuebox.hub_protocol import (LIVE_HEARTBEAT_S, Ack, Batch, HubEvent, HubTopics, ProtocolError, decode_ack,
                                   dump_small, encode_batch)

logger = logging.getLogger(__name__)
LIVE_EVERY_S = 1.0
FIRST_ACK_WAIT_S = 2.0  # a hub that never heard of this centre has no retained ack for it: start from seq 1


@dataclass
class Cursor:
    """Where the uplink stands; see the module docstring. Times are monotonic seconds."""
    window: int
    ack_timeout_s: float
    epoch: int = 0
    acked: int | None = None  # None: no ack heard yet
    next_seq: int = 1
    in_flight: list[int] = field(default_factory=list)  # last seq of each batch sent and not acked
    waiting_since: float | None = None
    connected_at: float | None = None
    diverged: tuple[int, int] | None = None  # an ack of another history, already answered by a resend from 1

    def on_ack(self, ack: Ack, local_at: Callable[[int], str | None], now: float) -> None:
        if self.diverged == (ack.epoch, ack.seq):
            return  # the same foreign ack again (retained, on reconnect): keep going
        if ack.seq and local_at(ack.seq) != ack.at:
            logger.warning("the hub's copy (epoch %d, seq %d) is not this database's history: sending it all "
                           "again, the hub keeps the two apart", ack.epoch, ack.seq)
            self.epoch, self.acked, self.next_seq, self.in_flight = ack.epoch, 0, 1, []
            self.diverged = (ack.epoch, ack.seq)
            return
        if ack.epoch != self.epoch:
            self.epoch, self.acked = ack.epoch, ack.seq
            self.next_seq = max(self.next_seq, ack.seq + 1) if self.acked else ack.seq + 1
        self.acked = max(self.acked or 0, ack.seq)
        self.in_flight = [s for s in self.in_flight if s > self.acked]
        self.next_seq = max(self.next_seq, self.acked + 1)
        self.waiting_since = now if self.in_flight else None
        if ack.resend_from is not None and ack.resend_from < self.next_seq:
            self.next_seq, self.in_flight = ack.resend_from, []
        if ack.refused_from is not None:
            logger.error("the hub refused the batch from seq %d: %s", ack.refused_from, ack.reason)

    def may_send(self, now: float) -> bool:
        if self.acked is None:
            if self.connected_at is None or now - self.connected_at < FIRST_ACK_WAIT_S:
                return False
            logger.info("no acknowledgement from the hub: it has nothing of this centre yet; sending from seq 1")
            self.acked = 0
        if self.in_flight and self.waiting_since is not None and now - self.waiting_since > self.ack_timeout_s:
            logger.info("no acknowledgement for %.0f s: sending again from seq %d", self.ack_timeout_s, self.acked + 1)
            self.next_seq, self.in_flight, self.waiting_since = self.acked + 1, [], None
        return len(self.in_flight) < self.window

    def sent(self, last: int, now: float) -> None:
        self.in_flight.append(last)
        self.next_seq = last + 1
        if self.waiting_since is None:
            self.waiting_since = now


def make_batch(centre: str, epoch: int, first: int, events: list[HubEvent]) -> tuple[Batch, bytes]:
    """The largest prefix of `events` whose batch fits on the wire, encoded."""
    count = len(events)
    while True:
        batch = Batch(centre, epoch, first, tuple(events[:count]))
        try:
            return batch, encode_batch(batch)
        except ProtocolError:
            if count == 1:
                raise
            count //= 2


def faults(statuses: dict[str, str]) -> dict[str, str]:
    """The devices whose retained status is not `online` (a fault, or `offline`), by client id."""
    return {client: text for client, text in sorted(statuses.items()) if text != "online"}


def run_uplink(config: Config, db_path: str, *, stop: Any = None) -> int:
    """Run until `stop` (a threading.Event) is set, or forever."""
    from importlib.metadata import version as package_version

    from server.uplink_source import EventSource

    u = config.uplink
    if not u.host:
        raise QueueboxError("uplink.host is empty: set the province hub's broker in [uplink]")
    topics = HubTopics(u.root, config.site.id)
    source = EventSource(db_path)
    link = HubLink(u.host, u.port, u.username or f"centre-{config.site.id}", username=u.username,
                   password=u.password, tls=u.tls, ca_file=u.ca_file, subscriptions=[topics.ack])
    local = None
    statuses: dict[str, str] = {}
    if config.mqtt.username:
        from queuebox.bus import Bus
        from queuebox.protocol import Topics

        local_topics = Topics(config.mqtt.root, config.site.id)
        local = Bus(config.mqtt, local_topics, config.mqtt.username, subscriptions=[local_topics.all_status()])
        local.start()
    try:
        software = package_version("queuebox")
    except Exception:  # not installed as a package (a source tree)
        software = "unknown"
    cursor = Cursor(u.window, u.ack_timeout_s)
    link.start()
    logger.info("uplink of %s to %s:%d (%s), database %s read-only", config.site.id, u.host, u.port, topics.events, db_path)
    last_live: bytes | None = None
    last_live_at = 0.0
    last_setup: bytes | None = None
    budget_at, budget = time.monotonic(), float(u.max_events_per_s)
    try:
        while stop is None or not stop.is_set():
            now = time.monotonic()
            for item in _drain(link.inbox, u.poll_s):
                if isinstance(item, Connected):
                    last_live = last_setup = None  # publish them again
                    cursor.connected_at = time.monotonic()
                elif isinstance(item, Message) and item.topic == topics.ack:
                    try:
                        cursor.on_ack(decode_ack(item.payload), source.at_of, time.monotonic())
                    except ProtocolError as exc:
                        logger.warning("ignored an acknowledgement that is not one: %s", exc)
            if local is not None:
                for item in _drain(local.inbox, 0):
                    if isinstance(item, Message):
                        statuses[item.topic.rsplit("/", 1)[-1]] = item.payload.decode("utf-8", "replace")[:200]
            if not link.connected.is_set():
                continue
            budget = min(float(u.max_events_per_s), budget + (now - budget_at) * u.max_events_per_s)
            budget_at = now
            while cursor.may_send(now) and budget >= 1:
                events = source.events(cursor.next_seq, min(u.batch_size, int(budget)))
                if not events:
                    break
                batch, payload = make_batch(config.site.id, cursor.epoch, cursor.next_seq, events)
                if not link.publish(topics.events, payload, qos=1):
                    break
                cursor.sent(batch.last, now)
                budget -= len(batch.events)
            setup = dump_small(source.setup())
            if setup != last_setup and link.publish(topics.setup, setup, retain=True):
                last_setup = setup
            if now - last_live_at >= LIVE_EVERY_S:
                body = source.live(datetime.now(timezone.utc))
                body.update(faults=faults(statuses), software=software)
                live = dump_small(body)
                stale = now - last_live_at >= LIVE_HEARTBEAT_S  # unchanged, but say the centre is up
                if (live != last_live or stale) and link.publish(topics.live, live, retain=True):
                    last_live, last_live_at = live, now
    finally:
        link.stop()
        if local is not None:
            local.stop()
        source.close()
    return 0


def _drain(inbox: queue.Queue[Any], wait_s: float) -> list[Any]:
    items = []
    try:
        items.append(inbox.get(timeout=wait_s) if wait_s else inbox.get_nowait())
        while True:
            items.append(inbox.get_nowait())
    except queue.Empty:
        pass
    return items
