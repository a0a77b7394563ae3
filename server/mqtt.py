"""The server's MQTT side: command topics in, through the engine, replies and snapshots out.

Every message from the bus goes to `MqttBridge.handle` on one loop. A command is parsed
(`queuebox.protocol`), applied by the engine (which commits it), then the reply goes to
the sender's reply topic and the committed events, the retained board and the retained
counter states are published. On every (re)connect the snapshots are published again from
the database, so a broker that lost its retained messages heals itself. Bad input is
answered with an error reply where there is a reply topic, logged once, and dropped.
"""

from __future__ import annotations

import logging
import queue
import threading

from dataclasses import dataclass

from queuebox.bus import Bus, Connected, Message
from queuebox.protocol import ProtocolError, Route, parse_counter_command, parse_rating, parse_take, peek_id
from server.engine import Engine, Result
from server.store import EventRecord

logger = logging.getLogger(__name__)


REPLAYED_EVENTS = 50  # more than a crash can lose: one command commits a handful


@dataclass(frozen=True)
class Committed:
    """Events the engine committed (from MQTT, the web or the API), waiting to be published."""
    records: tuple[EventRecord, ...]


class MqttBridge:
    """Connects one engine to one bus; `serve` runs its loop until `stop` is set.

    Whatever commits through the engine, from any thread, is queued on the same inbox as the
    bus's messages, so one loop publishes everything, in commit order."""

    def __init__(self, engine: Engine, bus: Bus) -> None:
        self.engine = engine
        self.bus = bus
        self.topics = bus.topics
        engine.add_listener(lambda records: bus.inbox.put(Committed(records)))
        self._replayed = False

    def serve(self, stop: threading.Event) -> None:
        """Handle inbox items until `stop` is set; no input stops the loop."""
        while not stop.is_set():
            try:
                item = self.bus.inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self.handle(item)
            except Exception:  # a database or bug: log it, keep serving the others
                logger.exception("failed to handle %r", getattr(item, "topic", item))

    def handle(self, item: Message | Connected | Committed) -> None:
        if isinstance(item, Connected):
            if not self._replayed:  # a crash between a commit and its publish lost those events: send
                self._replayed = True  # the last ones again; clients skip seqs they have (QoS 1 dedupe)
                for record in self.engine.recent_events(REPLAYED_EVENTS):
                    self.bus.publish(self.topics.events(), record.message())
            self.publish_snapshots()
            return
        if isinstance(item, Committed):
            for record in item.records:
                self.bus.publish(self.topics.events(), record.message())
            self.publish_snapshots()
            return
        route = self.topics.route(item.topic)
        if route is None or route.kind not in ("take", "command", "rating"):
            logger.warning("dropped a message on unexpected topic %r", item.topic)
            return
        reply_topic = (self.topics.kiosk_reply(route.device) if route.kind == "take"
                       else self.topics.counter_reply(route.device))
        try:
            result = self._apply(route, item.payload)
        except ProtocolError as exc:
            logger.warning("dropped a bad %s from %s: %s", route.kind, route.device, exc.message)
            self.bus.publish(reply_topic, {"id": peek_id(item.payload), "ok": False,
                                           "error": {"code": exc.code, "message": exc.message}})
            return
        self.bus.publish(reply_topic, result.reply)  # its events follow as a Committed item

    def _apply(self, route: Route, payload: bytes) -> Result:
        if route.kind == "take":
            take = parse_take(payload)
            return self.engine.take(take.id, route.device, take.service, take.priority)
        if route.kind == "command":
            cmd = parse_counter_command(payload)
            return self.engine.counter(cmd.id, route.device, cmd.action, to=cmd.to, ticket=cmd.ticket,
                                       reason=cmd.reason)
        rating = parse_rating(payload)
        return self.engine.rate(rating.id, route.device, rating.score)

    def publish_snapshots(self) -> None:
        """Publish the retained board and every counter's retained state, from the database."""
        board, counters = self.engine.snapshots()
        self.bus.publish(self.topics.board(), board, retain=True)
        for counter_id, state in counters.items():
            self.bus.publish(self.topics.counter_state(counter_id), state, retain=True)
