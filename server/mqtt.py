"""The server's MQTT side: command topics in, through the engine, replies and snapshots out.

Every message from the bus goes to `MqttBridge.handle` on one loop. A command is parsed
(`queuebox.protocol`), applied by the engine (which commits it), then the reply goes to the
sender's reply topic and the committed events are published. The retained board and the
retained counter states follow once the commands already queued are handled (at most
SNAPSHOT_EVERY_S later), so a burst costs one snapshot; only the counter states that changed
are sent, and a change of waiting counts alone at most every STATE_REFRESH_S. On every
(re)connect all snapshots are published again from the database, so a broker that lost its
retained messages heals itself; on the first connect the last events are sent again, so a
crash between a commit and its publish loses none. Bad input is answered with an error
reply where there is a reply topic, logged once, and dropped; so is a command published
retained (the bus subscribes so that the broker never replays one, and clears it). When a
display says "online" (it connected), the board is published again, so that the display gets it
live: the retained copy a display receives on subscribing may be one the broker restored from
its persistence file after a power cut, and the display waits for a live one (display/app.py).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

from queuebox.bus import Bus, Connected, Message
from queuebox.protocol import ProtocolError, Route, parse_counter_command, parse_rating, parse_take, peek_id
from server import store
from server.catalogue_rules import summaries
from server.catalogue_store import load_procedures
from server.engine import Engine, Result
from server.store import EventRecord
from server.voice_store import EVENT as VOICE_EVENT, engine_voice_dir, read_manifest

logger = logging.getLogger(__name__)


REPLAYED_EVENTS = 50  # more than a crash can lose: one command commits a handful
SNAPSHOT_EVERY_S = 0.05  # under a burst, the board is still republished at least this often
SERVICES_EVERY_S = 5.0  # how often opening hours (and a catalogue imported by another process) are looked at
# events after which the procedure summaries may differ: the catalogue, or the services (one removed)
CATALOGUE_EVENTS = ("catalogue_changed", "config_changed")
STATE_REFRESH_S = 2.0  # a counter state whose waiting counts alone changed is re-sent at most this often


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
        self._dirty_since: float | None = None  # when a commit made the published board stale
        # counter id -> (state as last sent, less seq; when): only changes are sent again
        self._published_states: dict[str, tuple[dict[str, Any], float]] = {}
        self._counts_due: float | None = None  # when held-back changes of waiting counts must go out
        self._published_services: list[dict[str, Any]] | None = None  # as last sent
        self._services_due = 0.0  # when opening hours are looked at again
        # service -> its `procedures/<service>` summary as last sent (less seq); None: send them all
        self._published_procedures: dict[str, dict[str, Any]] | None = None
        self._published_voice: dict[str, Any] | None = None  # the `voice` message as last sent

    def serve(self, stop: threading.Event) -> None:
        """Handle inbox items until `stop` is set; no input stops the loop."""
        while not stop.is_set():
            if self._dirty_since is not None and (self.bus.inbox.empty()
                                                  or time.monotonic() - self._dirty_since >= SNAPSHOT_EVERY_S):
                self._publish_dirty()
            elif self._counts_due is not None and time.monotonic() >= self._counts_due:
                self._counts_due = None
                self._publish_states(self.engine.snapshots()[1])
            elif time.monotonic() >= self._services_due:
                self._publish_services()  # a service opening or closing by the clock
                self._publish_procedures()  # a catalogue imported by `queuebox catalogue import`
                self._publish_voice()  # a pack put in the folder by hand (the demo's)
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
            self._published_states.clear()  # the broker may have lost its retained messages: send all
            self._published_services = None
            self._published_procedures = None
            self.publish_snapshots()
            return
        if isinstance(item, Committed):
            for record in item.records:
                self.bus.publish(self.topics.events(), record.message())
            if any(record.type in CATALOGUE_EVENTS for record in item.records):
                self._publish_procedures()
            if any(record.type == VOICE_EVENT for record in item.records):
                self._publish_voice()
            # the board and states follow once the commands already queued are handled (at the
            # latest SNAPSHOT_EVERY_S later): one snapshot for a burst, not one per command
            if self._dirty_since is None:
                self._dirty_since = time.monotonic()
            return
        route = self.topics.route(item.topic)
        if route is not None and route.kind == "status":
            if route.device.startswith("display-") and item.payload == b"online" and self._dirty_since is None:
                # a display (re)connected: send the board again, live, so that it knows the retained
                # board it got is current and not one the broker restored from its file (display/app.py)
                self._dirty_since = time.monotonic()
            return
        if route is None or route.kind not in ("take", "command", "rating"):
            logger.warning("dropped a message on unexpected topic %r", item.topic)
            return
        reply_topic = (self.topics.kiosk_reply(route.device) if route.kind == "take"
                       else self.topics.counter_reply(route.device))
        if item.retain:
            self._refuse_retained(item, route, reply_topic)
            return
        try:
            result = self._apply(route, item.payload)
        except ProtocolError as exc:
            logger.warning("dropped a bad %s from %s: %s", route.kind, route.device, exc.message)
            self.bus.publish(reply_topic, {"id": peek_id(item.payload), "ok": False,
                                           "error": {"code": exc.code, "message": exc.message}})
            return
        self.bus.publish(reply_topic, result.reply)  # its events follow as a Committed item

    def _refuse_retained(self, item: Message, route: Route, reply_topic: str) -> None:
        """A command published retained would be handled again at every reconnect of the server:
        refuse it, and clear it from the broker (an empty retained message deletes it)."""
        if not item.payload:  # the empty message that cleared one comes back here too
            return
        logger.warning("dropped a retained %s from %s: commands are never retained", route.kind, route.device)
        self.bus.publish(item.topic, b"", retain=True)
        self.bus.publish(reply_topic, {"id": peek_id(item.payload), "ok": False, "error": {
            "code": "bad_request", "message": "commands must not be retained: send it again without retain"}})

    def _apply(self, route: Route, payload: bytes) -> Result:
        if route.kind == "take":
            take = parse_take(payload)
            return self.engine.take(take.id, route.device, take.service, take.priority, take.group)
        if route.kind == "command":
            cmd = parse_counter_command(payload)
            return self.engine.counter(cmd.id, route.device, cmd.action, to=cmd.to, ticket=cmd.ticket,
                                       reason=cmd.reason)
        rating = parse_rating(payload)
        return self.engine.rate(rating.id, route.device, rating.score, reason=rating.reason)

    def _publish_dirty(self) -> None:
        self._dirty_since = None
        self.publish_snapshots()

    def publish_snapshots(self) -> None:
        """Publish the retained board, the services if they changed, and the retained state of
        each counter that changed."""
        board, counters = self.engine.snapshots()
        self.bus.publish(self.topics.board(), board, retain=True)
        self._publish_services()
        self._publish_procedures()
        self._publish_voice()
        self._publish_states(counters)

    def _publish_services(self) -> None:
        """The retained `services` snapshot, when names or open/closed changed since it was sent
        (a manager's change on the web, or opening hours beginning or ending)."""
        services = self.engine.services_snapshot()
        if services["services"] != self._published_services:
            self.bus.publish(self.topics.services(), services, retain=True)
            self._published_services = services["services"]
        self._services_due = time.monotonic() + SERVICES_EVERY_S

    def _publish_voice(self) -> None:
        """The retained `voice` message, when the pack's version changed since it was sent."""
        manifest = read_manifest(engine_voice_dir(self.engine))
        voice = {"version": manifest.version, "clips": len(manifest.prompts)}
        if voice != self._published_voice:
            self.bus.publish(self.topics.voice(), voice, retain=True)
            self._published_voice = voice

    def _publish_procedures(self) -> None:
        """The retained `procedures/<service>` summary of each service whose summary changed since it
        was sent, and an empty retained message for a service that no longer has any (after a
        (re)connect: for every service without procedures, whatever the broker kept)."""
        procedures, seq = self.engine.read(lambda conn: (load_procedures(conn), store.head(conn)[0]))
        services = [s.code for s in self.engine.config.services]
        current = {code: payload for code, payload in summaries(procedures, seq).items() if code in services}
        sent = self._published_procedures
        for code in sorted(set(current) | set(services if sent is None else sent)):
            body = {k: v for k, v in current[code].items() if k != "seq"} if code in current else None
            if sent is not None and sent.get(code) == body:
                continue
            self.bus.publish(self.topics.procedures(code), current[code] if body else b"", retain=True)
        self._published_procedures = {code: {k: v for k, v in p.items() if k != "seq"} for code, p in current.items()}

    def _publish_states(self, counters: dict[str, dict[str, Any]]) -> None:
        """Send each counter's state that changed since it was last sent. A change of its waiting
        counts alone (every ticket taken changes them at every counter of that service: with 200
        counters, most of the work) is sent at most every STATE_REFRESH_S; a change of its
        state, ticket or rating window, or of which services have someone waiting, at once. A
        counter no longer in the config has its retained state deleted."""
        now = time.monotonic()
        for counter_id, state in counters.items():
            current = {k: v for k, v in state.items() if k != "seq"}
            sent = self._published_states.get(counter_id)
            if sent is not None and sent[0] == current:
                continue
            if sent is not None and _only_counts_moved(sent[0], current) and now - sent[1] < STATE_REFRESH_S:
                due = sent[1] + STATE_REFRESH_S
                self._counts_due = due if self._counts_due is None else min(self._counts_due, due)
                continue
            self.bus.publish(self.topics.counter_state(counter_id), state, retain=True)
            self._published_states[counter_id] = (current, now)
        for counter_id in [c for c in self._published_states if c not in counters]:
            # a counter removed on the web: an empty retained message deletes its state, so that
            # its counter display stops showing the last ticket (display/counter_app.py)
            self.bus.publish(self.topics.counter_state(counter_id), b"", retain=True)
            del self._published_states[counter_id]


def _only_counts_moved(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Only numbers of waiting people differ, not which services have someone waiting (what a
    keypad's Next LED shows)."""
    def outline(state: dict[str, Any]) -> dict[str, Any]:
        waiting = state.get("waiting") or {}
        return {**state, "waiting": sorted(code for code, n in waiting.items() if n)}
    return outline(before) == outline(after)
