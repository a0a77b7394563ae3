"""Many MQTT clients in one thread: the load test's protocol-level kiosks, counters and displays.

Each `Client` is a real paho-mqtt v5 connection with its own client id and account (the
broker's ACL applies to it as to the device it stands for); the `Hub` drives all of them from
one `selectors` loop with paho's external-loop calls (`loop_read`, `loop_write`, `loop_misc`),
so a few hundred connections cost one thread rather than one each, and every receive time is
taken by the same thread that sends the commands. A message is timestamped with
`time.perf_counter()` as paho hands it over, before anything parses it.

Publishing happens only from the hub's thread outside paho callbacks, where paho writes at
once; what a full socket leaves behind goes out on the next turn.
"""

from __future__ import annotations

import selectors
import socket
import time
from typing import Any, Callable

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from mqtt_rig import BenchError  # noqa: E402 (bench/ is on the path)

OnMessage = Callable[[float, str, bytes], None]
MISC_EVERY_S = 1.0  # paho's keep-alive and retry bookkeeping
CONNECT_TIMEOUT_S = 30.0


class Client:
    """One connection: `name` is its client id, `subscriptions` are made at QoS 1 on connect,
    `on_message(at, topic, payload)` is called on the hub's thread."""

    def __init__(self, name: str, username: str, password: str, subscriptions: list[str],
                 on_message: OnMessage | None = None) -> None:
        self.name = name
        self.subscriptions = subscriptions
        self.ready = False
        self.failure: str | None = None
        self.received = 0
        self._on_message = on_message
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=name, protocol=mqtt.MQTTv5)
        client.username_pw_set(username, password)
        client.on_connect = self._connected
        client.on_subscribe = self._subscribed
        client.on_message = self._message
        client.max_queued_messages_set(0)
        self.paho = client

    def _connected(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            self.failure = f"{self.name}: connection refused: {reason}"
            return
        if self.subscriptions:
            client.subscribe([(t, mqtt.SubscribeOptions(qos=1)) for t in self.subscriptions])
        else:
            self.ready = True

    def _subscribed(self, client: mqtt.Client, userdata: Any, mid: int, codes: Any, properties: Any) -> None:
        refused = [str(c) for c in codes if c.is_failure]
        if refused:
            self.failure = f"{self.name}: subscription refused: {', '.join(refused)}"
        self.ready = True

    def _message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        at = time.perf_counter()
        self.received += 1
        if self._on_message is not None:
            self._on_message(at, msg.topic, msg.payload)

    def publish(self, topic: str, payload: bytes) -> float:
        """QoS 1, not retained; returns the perf_counter time just before paho writes it."""
        t0 = time.perf_counter()
        info = self.paho.publish(topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise BenchError(f"{self.name}: publish on {topic} failed: {mqtt.error_string(info.rc)}")
        if self.paho.want_write():  # a full socket took part of it
            self.paho.loop_write()
        return t0


class Hub:
    """Drives `Client`s on one thread: `connect` them, then `poll` in the caller's loop."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.clients: list[Client] = []
        self.selector = selectors.DefaultSelector()
        self._misc_at = time.monotonic()
        self.turns = 0

    def connect(self, clients: list[Client]) -> None:
        """Open every connection and wait until each is subscribed; BenchError if one is refused."""
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 0
        for c in clients:
            c.paho.connect(self.host, self.port, keepalive=60, clean_start=True, properties=props)
            sock = c.paho.socket()
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as queuebox.bus does
            self.selector.register(sock, selectors.EVENT_READ, c)
            self.clients.append(c)
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while not all(c.ready for c in clients):
            failed = [c.failure for c in clients if c.failure]
            if failed:
                raise BenchError("; ".join(failed[:5]))
            if time.monotonic() > deadline:
                missing = [c.name for c in clients if not c.ready]
                raise BenchError(f"{len(missing)} clients not connected after {CONNECT_TIMEOUT_S:g} s: "
                                 f"{', '.join(missing[:5])}")
            self.poll(0.05)

    def poll(self, timeout: float) -> None:
        """Wait up to `timeout` s for input, read it (callbacks run here), flush pending writes."""
        self.turns += 1
        for key, _ in self.selector.select(max(0.0, timeout)):
            client: Client = key.data
            rc = client.paho.loop_read()
            if rc != mqtt.MQTT_ERR_SUCCESS:
                raise BenchError(f"{client.name}: connection lost ({mqtt.error_string(rc)})")
            if client.paho.want_write():
                client.paho.loop_write()
        now = time.monotonic()
        if now - self._misc_at >= MISC_EVERY_S:
            self._misc_at = now
            for client in self.clients:
                if client.paho.want_write():
                    client.paho.loop_write()
                client.paho.loop_misc()

    def flush(self) -> None:
        """Write whatever paho still holds (called after a burst of publishes)."""
        for client in self.clients:
            if client.paho.want_write():
                client.paho.loop_write()

    def close(self) -> None:
        for client in self.clients:
            try:
                client.paho.disconnect()
            except Exception:  # closing anyway
                pass
            sock = client.paho.socket()
            if sock is not None:
                try:
                    self.selector.unregister(sock)
                except (KeyError, ValueError):
                    pass
                sock.close()
        self.selector.close()
