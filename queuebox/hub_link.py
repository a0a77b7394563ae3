"""An MQTT v5 connection to the province's broker, for the uplink and the hub: a fixed client
id and a persistent session, subscriptions made again at each connect, callbacks that only
enqueue (the owner's loop acts). Unlike `queuebox.bus`, it announces no small maximum packet
size: batches are up to 64 KiB (queuebox.hub_protocol.MAX_BATCH_BYTES)."""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Iterable

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from queuebox.bus import Connected, Message

logger = logging.getLogger(__name__)
SESSION_EXPIRY_S = 7 * 24 * 3600
RECONNECT_S = (1, 30)  # the province is far: back off while it is away


class HubLink:
    """One connection to the hub broker; start it, read `inbox` (Message, Connected), publish."""

    def __init__(self, host: str, port: int, client_id: str, *, username: str = "", password: str = "",
                 tls: bool = False, ca_file: str = "", subscriptions: Iterable[str] = (), keepalive_s: int = 30,
                 clean: bool = False) -> None:
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.connected = threading.Event()
        self._host, self._port, self._keepalive = host, port, keepalive_s
        self._clean = clean  # a one-off client (restore): a fresh session, forgotten when it leaves
        self._subscriptions = list(subscriptions)
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if username:
            client.username_pw_set(username, password or None)
        if tls:
            client.tls_set(ca_certs=ca_file or None)
        client.reconnect_delay_set(*RECONNECT_S)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = lambda c, u, msg: self.inbox.put(Message(msg.topic, msg.payload, bool(msg.retain)))
        self._client = client

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 0 if self._clean else SESSION_EXPIRY_S
        self._client.connect_async(self._host, self._port, keepalive=self._keepalive, clean_start=self._clean,
                                   properties=props)
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def publish(self, topic: str, payload: bytes, *, retain: bool = False, qos: int = 1) -> bool:
        """Queue a message; False when paho refused it (not connected: the caller sends it again later)."""
        if not self.connected.is_set():
            return False
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            logger.warning("hub broker %s:%d refused the connection: %s", self._host, self._port, reason)
            return
        logger.info("connected to the hub broker %s:%d", self._host, self._port)
        if self._subscriptions:
            client.subscribe([(t, mqtt.SubscribeOptions(qos=1)) for t in self._subscriptions])
        self.connected.set()
        self.inbox.put(Connected(bool(getattr(flags, "session_present", False))))

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if self.connected.is_set():
            logger.warning("lost the hub broker %s:%d (%s); reconnecting", self._host, self._port, reason)
        self.connected.clear()
