"""Kiosks and counters sending a steady stream of commands through a real broker.

Each device keeps one command in flight, as the real ones do: it publishes it (QoS 1), waits
for the reply, and re-sends the same id every `resend_s` until the reply comes (a kiosk does so
until its reply timeout; here forever, so that every command is eventually answered even
across server kills). Kiosks take tickets of random services; each counter goes round
`next` → `start` → `done` (back to `next` when the queue is empty or a command is refused).

Every reply is kept, repeats included: `replies[key]` lists them in arrival order, `key`
being the engine's `commands` key (``kiosk/k1:k1-7``, ``counter/2:c2-4``).
"""

from __future__ import annotations

import json
import queue
import random
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt

from queuebox.bus import close_socket
from queuebox.protocol import Topics


@dataclass
class InFlight:
    key: str
    topic: str
    payload: dict[str, Any]
    sent_at: float


class CommandStream:
    """Devices `kiosks` and `counters` on `topics`, driven by one thread from `start` to `stop`."""

    def __init__(self, host: str, port: int, topics: Topics, kiosks: list[str], counters: list[str],
                 services: list[str], rng: random.Random, resend_s: float = 1.0) -> None:
        self.topics, self.services, self.rng, self.resend_s = topics, services, rng, resend_s
        self.replies: dict[str, list[dict[str, Any]]] = {}
        self.sent: dict[str, dict[str, Any]] = {}
        self._devices = [("kiosk", k) for k in kiosks] + [("counter", c) for c in counters]
        self._next_action = {c: "next" for c in counters}
        self._serial = 0
        self._flight: dict[tuple[str, str], InFlight | None] = {}
        self._inbox: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self._stop = threading.Event()
        self._draining = threading.Event()
        self._lock = threading.Lock()
        subscribed = threading.Event()
        prefix = f"{topics.root}/{topics.site}"
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"devices-{uuid.uuid4().hex[:8]}",
                                  protocol=mqtt.MQTTv5)
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe(
            [(f"{prefix}/kiosk/+/reply", 1), (f"{prefix}/counter/+/reply", 1)])
        self.client.on_subscribe = lambda c, u, mid, codes, p: subscribed.set()
        self.client.on_message = lambda c, u, msg: self._inbox.put((msg.topic, json.loads(msg.payload)))
        self.client.connect(host, port)
        self.client.loop_start()
        assert subscribed.wait(10), "the device client could not subscribe"
        self._thread = threading.Thread(target=self._run, name="devices", daemon=True)

    # --- control ---------------------------------------------------------------------

    def start(self) -> None:
        for device in self._devices:
            self._send_next(device)
        self._thread.start()

    def drain(self) -> None:
        """Send nothing new: only re-send what is in flight until it is answered."""
        self._draining.set()

    def in_flight(self) -> int:
        with self._lock:
            return sum(f is not None for f in self._flight.values())

    def answered(self) -> int:
        with self._lock:
            return len(self.replies)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
        self.client.disconnect()
        self.client.loop_stop()
        close_socket(self.client)

    # --- the loop --------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                topic, body = self._inbox.get(timeout=0.05)
            except queue.Empty:
                pass
            else:
                self._on_reply(topic, body)
            now = time.monotonic()
            with self._lock:
                late = [f for f in self._flight.values() if f is not None and now - f.sent_at > self.resend_s]
            for flight in late:
                flight.sent_at = now
                self._publish(flight)

    def _on_reply(self, topic: str, body: dict[str, Any]) -> None:
        parts = topic.split("/")
        kind, device = parts[-3], parts[-2]
        key = f"{kind}/{device}:{body.get('id')}"
        with self._lock:
            self.replies.setdefault(key, []).append(body)
            flight = self._flight.get((kind, device))
            if flight is None or flight.key != key:
                return  # a repeat's reply
            self._flight[(kind, device)] = None
        if kind == "counter":
            action = flight.payload["action"]
            ok, ticket = body.get("ok"), body.get("ticket")
            self._next_action[device] = ("start" if action == "next" and ok and ticket else
                                         "done" if action == "start" and ok else "next")
        if not self._draining.is_set():
            self._send_next((kind, device))

    def _send_next(self, device: tuple[str, str]) -> None:
        kind, name = device
        self._serial += 1
        command_id = f"{name}-{self._serial}" if kind == "kiosk" else f"c{name}-{self._serial}"
        if kind == "kiosk":
            topic = self.topics.kiosk_take(name)
            payload: dict[str, Any] = {"id": command_id, "service": self.rng.choice(self.services)}
        else:
            topic = self.topics.counter_command(name)
            payload = {"id": command_id, "action": self._next_action[name]}
        flight = InFlight(f"{kind}/{name}:{command_id}", topic, payload, time.monotonic())
        with self._lock:
            self.sent[flight.key] = payload
            self._flight[device] = flight
        self._publish(flight)

    def _publish(self, flight: InFlight) -> None:
        self.client.publish(flight.topic, json.dumps(flight.payload), qos=1)
