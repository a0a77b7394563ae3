"""The MQTT client every queuebox process uses (paho-mqtt 2, MQTT v5).

- Fixed client id and a persistent session (`clean_start=False`, session expiry), so a
  process that restarts gets the QoS 1 messages it missed.
- Subscriptions are made in `on_connect`, so every reconnect makes them again.
- Retained `status/<client>` = "online" on connect; the last will sets "offline".
- Nagle's algorithm is off (TCP_NODELAY): a reply or board right after an acknowledgement
  would otherwise wait ~40 ms for the peer's delayed ACK.
- paho reconnects by itself; QoS 1 messages published while the broker is away wait in paho's
  memory and go out on reconnect. While the broker is away it is tried again every
  RECONNECT_S, however long the outage (paho's default doubling delay made a 45 s outage cost
  16 s more after the broker was back: longer than a kiosk waits for its ticket). The load on
  a broker that is down stays small: paho makes one attempt at a time, so each client makes at
  most 1 / RECONNECT_S attempts a second, each one TCP SYN (a host that is up answers RST from
  its kernel: nothing runs in Mosquitto), and an attempt on a host that does not answer at all
  is given up after CONNECT_TIMEOUT_S (paho's default is 5 s, during which its thread blocks),
  so then one every CONNECT_TIMEOUT_S + RECONNECT_S. A broker that answers but *refuses* the
  connection (a wrong password, a client id not allowed) is a configuration to fix, not an
  outage: then the delay doubles from 1 s to 30 s, as before, so a misconfigured device does
  not make Mosquitto check its password four times a second.
- Once per outage, REPORT_AFTER_S after the connection is lost or does not come at start, the
  reason is logged at INFO (name resolution, refused, no answer; `why_unreachable`), and again
  when connected. Name resolution is not bounded by paho's timeout (a "localhost" missing from
  /etc/hosts on a Pi with no DNS server can take 25 s), so the reason is looked for on a thread
  of its own.
- CONNECT announces the protocol's Maximum Packet Size (MAX_PACKET_SIZE): the broker never
  sends this client anything bigger, whoever published it.
- `retained=False` (the server, on command topics): the broker sends no retained message on
  subscribing (retain handling 2) and keeps the retain flag as published, so the owner can
  see and drop a command someone published retained.
- Callbacks run on paho's thread and only put items into `inbox`; the owner's loop is the
  only code that acts on them. A `Connected` item marks each (re)connection so the owner
  can republish its snapshots.
"""

from __future__ import annotations

import logging
import math
import queue
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterable

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from queuebox.config import MqttConfig
from queuebox.protocol import MAX_PACKET_SIZE, Topics, encode

logger = logging.getLogger(__name__)

SESSION_EXPIRY_S = 7 * 24 * 3600
RECONNECT_S = 0.25  # while the broker is away, the pause between two connection attempts
CONNECT_TIMEOUT_S = 0.75  # an attempt (TCP, then TLS) gets no answer: give it up (paho's default: 5 s)
REFUSED_DELAY_S = (1, 30)  # after the broker refused us (CONNACK): first and longest pause, doubling
REPORT_AFTER_S = 1.0  # still not connected this long after losing the broker (or starting): log why


@dataclass(frozen=True)
class Message:
    """A message received from the broker."""
    topic: str
    payload: bytes
    retain: bool = False


@dataclass(frozen=True)
class Connected:
    """The client (re)connected; `session_present` tells whether the broker kept its session."""
    session_present: bool


class Bus:
    """One MQTT connection; see the module docstring. Start it, read `inbox`, publish."""

    def __init__(self, settings: MqttConfig, topics: Topics, client_id: str, *,
                 subscriptions: Iterable[str] = (), session_expiry_s: int = SESSION_EXPIRY_S,
                 retained: bool = True) -> None:
        self.topics = topics
        self.client_id = client_id
        self.inbox: queue.Queue[Any] = queue.Queue()  # Message | Connected, and whatever the owner adds
        self.connected = threading.Event()
        self._settings = settings
        self._subscriptions = list(subscriptions)
        self._subscribe_options = (mqtt.SubscribeOptions(qos=1) if retained else
                                   mqtt.SubscribeOptions(qos=1, retainAsPublished=True,
                                                         retainHandling=mqtt.SubscribeOptions.RETAIN_DO_NOT_SEND))
        self._status = topics.status(client_id)
        self._session_expiry_s = session_expiry_s
        self._warned_down = False
        self._stopping = False
        self._outage = 0  # counts outages: the report of an outage that ended is not logged
        self._down_since: float | None = time.monotonic()  # not connected yet: an outage until we are
        self._reported: int | None = None  # the outage whose reason was logged
        self._refused: str | None = None  # the broker's last refusal, logged once; None when not refused
        self._report_timer: threading.Timer | None = None
        self.dropped = 0  # messages paho refused to queue (logged): should stay 0
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if settings.username:
            client.username_pw_set(settings.username, settings.password or None)
        if settings.tls:
            client.tls_set(ca_certs=settings.ca_file or None)
        client.will_set(self._status, b"offline", qos=1, retain=True)
        client.reconnect_delay_set(min_delay=RECONNECT_S, max_delay=RECONNECT_S)  # type: ignore[arg-type]
        client.connect_timeout = CONNECT_TIMEOUT_S
        client.max_queued_messages_set(0)  # never drop what is waiting for the broker
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_socket_open = _no_delay
        self._client = client

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background; returns at once, the connection comes when it can."""
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self._session_expiry_s
        props.MaximumPacketSize = MAX_PACKET_SIZE
        self._client.connect_async(self._settings.host, self._settings.port, keepalive=self._settings.keepalive_s,
                                   clean_start=False, properties=props)
        self._down_since = time.monotonic()
        self._watch_outage()
        self._client.loop_start()

    def stop(self) -> None:
        """Say "offline", disconnect cleanly (the session stays on the broker) and stop the thread."""
        if self.connected.is_set():
            info = self._client.publish(self._status, b"offline", qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=2)
            except (RuntimeError, ValueError):
                pass
        self._stopping = True
        timer = self._report_timer
        if timer is not None:
            timer.cancel()
        self._client.disconnect()
        self._client.loop_stop()
        close_socket(self._client)
        # Break the client <-> bus reference cycle, so paho's own socket pair is closed by
        # its finaliser at once rather than whenever the cycle collector gets to it.
        for callback in ("on_connect", "on_disconnect", "on_message", "on_socket_open"):
            setattr(self._client, callback, None)

    def wait_connected(self, timeout: float) -> bool:
        return self.connected.wait(timeout)

    # --- publishing -------------------------------------------------------------------------

    def publish(self, topic: str, message: dict[str, Any] | bytes | str, *, retain: bool = False, qos: int = 1,
                expiry_s: float | None = None) -> None:
        """Queue a message for the broker; dicts are encoded as protocol JSON. Never blocks.

        `expiry_s`: the broker drops the message if it could not be delivered within that
        many seconds (MQTT v5 message expiry), e.g. a request its sender stopped waiting for.
        """
        payload = encode(message) if isinstance(message, dict) else message
        props = None
        if expiry_s is not None:
            props = Properties(PacketTypes.PUBLISH)
            props.MessageExpiryInterval = max(1, math.ceil(expiry_s))
        info = self._client.publish(topic, payload, qos=qos, retain=retain, properties=props)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):  # NO_CONN: kept for the reconnect
            # e.g. "message queue full": 65,535 QoS 1 messages waiting for an ack (a broker far behind)
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                logger.warning("MQTT dropped a message to %s: %s (%d dropped so far)", topic,
                               mqtt.error_string(info.rc), self.dropped)

    # --- paho callbacks (paho's thread: enqueue only) -------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            if self._refused is None:  # from now on retry slowly: see the module docstring
                client.reconnect_delay_set(*REFUSED_DELAY_S)
            if str(reason) != self._refused:
                logger.warning("MQTT %s:%d refused %s: %s", self._settings.host, self._settings.port,
                               self.client_id, reason)
                self._refused = str(reason)
            return
        if self._refused is not None:
            client.reconnect_delay_set(min_delay=RECONNECT_S, max_delay=RECONNECT_S)  # type: ignore[arg-type]
            self._refused = None
        self._warned_down = False
        self._outage += 1  # a report still due for the outage that just ended is not logged
        away = "" if self._down_since is None else f" after {time.monotonic() - self._down_since:.1f} s"
        self._down_since = None
        logger.info("MQTT connected to %s:%d as %s%s", self._settings.host, self._settings.port, self.client_id,
                    away)
        if self._subscriptions:
            client.subscribe([(t, self._subscribe_options) for t in self._subscriptions])
        client.publish(self._status, b"online", qos=1, retain=True)
        self.connected.set()
        self.inbox.put(Connected(bool(getattr(flags, "session_present", False))))

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        was_connected = self.connected.is_set()
        self.connected.clear()
        if self._stopping:
            return
        if not self._warned_down:
            logger.warning("MQTT connection lost (%s); reconnecting", reason)
            self._warned_down = True
        if was_connected:
            self._down_since = time.monotonic()
            self._watch_outage()

    # --- why the broker cannot be reached (a timer's thread) -----------------------------------------

    def _watch_outage(self) -> None:
        """Log why the broker cannot be reached if this outage lasts REPORT_AFTER_S."""
        timer = threading.Timer(REPORT_AFTER_S, self._report, args=(self._outage,))
        timer.name = f"mqtt-report-{self.client_id}"
        timer.daemon = True
        self._report_timer = timer
        timer.start()

    def _report(self, outage: int) -> None:
        if self._stopping or self.connected.is_set() or outage != self._outage or self._reported == outage:
            return
        if self._refused is not None:
            return  # the refusal was logged as a warning: that is the reason
        reason = why_unreachable(self._settings.host, self._settings.port)
        if self._stopping or self.connected.is_set() or outage != self._outage:
            return
        self._reported = outage
        logger.info("MQTT cannot reach the broker at %s:%d as %s: %s; trying again every %g s",
                    self._settings.host, self._settings.port, self.client_id,
                    reason or "it accepts TCP connections, but the MQTT connection does not complete (TLS? "
                    "a broker too busy to answer?)", RECONNECT_S)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self.inbox.put(Message(msg.topic, msg.payload, bool(msg.retain)))


def close_socket(client: mqtt.Client) -> None:
    """Close the client's sockets after `loop_stop`. paho 2.2 can stop its loop with the
    connection still open, and keeps the loopback socket pair `loop_start` made until the
    client is garbage-collected (a ResourceWarning when that happens inside a cycle); it has
    no public call for the pair, so its own reset is used, if present."""
    sock = client.socket()
    if sock is not None:
        sock.close()
    reset = getattr(client, "_reset_sockets", None)
    if callable(reset):
        reset()


def why_unreachable(host: str, port: int, timeout_s: float = CONNECT_TIMEOUT_S) -> str | None:
    """Why no TCP connection can be made to `host`:`port` now, in words a technician can act on:
    the name does not resolve (or its resolver does not answer within `timeout_s`), the
    connection is refused (nothing listens there), or no answer within `timeout_s`. None when
    a TCP connection can be made (the trouble is above TCP). Takes at most `timeout_s` for the
    name, then `timeout_s` for each of its addresses."""
    found: list[Any] = []

    def resolve() -> None:
        try:
            found.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as exc:
            found.append(exc)
    resolver = threading.Thread(target=resolve, name="mqtt-resolve", daemon=True)
    resolver.start()
    resolver.join(timeout_s)  # a resolver that hangs is left to finish on its own: it is a daemon
    if not found:
        return (f"looking up the name {host!r} has not answered within {timeout_s:g} s (no DNS server reachable? "
                "put the name in /etc/hosts or use an address)")
    if isinstance(found[0], OSError):
        return f"the name {host!r} does not resolve ({found[0].strerror or found[0]})"
    addresses = [info[4][0] for info in found[0]]
    where = f"{' and '.join(dict.fromkeys(addresses))} port {port}"
    try:  # every address in turn, as paho does; the error is the last one's
        socket.create_connection((host, port), timeout=timeout_s).close()
    except ConnectionRefusedError:
        return f"connection refused by {where} (is mosquitto running there, on that port?)"
    except TimeoutError:
        return f"no answer from {where} within {timeout_s:g} s (host down, or a firewall?)"
    except OSError as exc:
        return f"{exc.strerror or exc} ({where})"
    return None


def _no_delay(client: mqtt.Client, userdata: Any, sock: Any) -> None:
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):  # not a TCP socket (e.g. a Unix socket)
        pass
