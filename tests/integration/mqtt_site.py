"""A secured site for the MQTT hardening tests: a real Mosquitto with the password file, ACL
and limits of `queuebox mqtt-credentials`, a real `queuebox server` process, and clients that
speak the protocol with one account each (`Device`, on `queuebox.bus.Bus`, as the devices do).
"""

from __future__ import annotations

import dataclasses
import json
import queue
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Callable

import paho.mqtt.client as mqtt

from queuebox.bus import Bus, Message, close_socket
from queuebox.config import Config
from queuebox.protocol import Topics
from server.credentials import BROKER_LIMITS, read_secrets, write_credentials
from server.main import server_client_id
from tests.factories import make_config
from tests.helpers.server_process import ServerProcess
from tests.mqtt_broker import Broker

WAIT_S = 10.0


WATCH = "tool-watch"  # the test's observer: a tool account (the server's rights, its own client id)


class Site:
    """Broker (accounts, ACL, `BROKER_LIMITS`) and server process of one test, in `folder`;
    `watch` reads everything under the site root with the account WATCH."""

    def __init__(self, folder: Path, mosquitto: str, **config: Any) -> None:
        self.folder = folder
        base = make_config(database={"path": str(folder / "q.db")}, **config)
        written = folder / "mqtt"
        write_credentials(base, written, group="no-such-group-for-tests", tools=[WATCH.removeprefix("tool-")])
        self.passwords = read_secrets(written / "secrets.toml")
        self.broker = Broker(folder / "broker", password_file=written / "passwd", acl_file=written / "acl",
                             extra_config="\n".join(BROKER_LIMITS), executable=mosquitto).start()
        mqtt_config = dataclasses.replace(base.mqtt, host=self.broker.host, port=self.broker.port)
        self.config = dataclasses.replace(base, mqtt=mqtt_config)
        self.topics = Topics(self.config.mqtt.root, self.config.site.id)
        self.server = ServerProcess(self.account("server"), folder / "server")
        self.watch = Device(self, WATCH, [f"{self.topics.root}/{self.topics.site}/#"])

    def account(self, name: str) -> Config:
        """The site's config with the MQTT user name and password of account `name`."""
        mqtt_config = dataclasses.replace(self.config.mqtt, username=name, password=self.passwords[name])
        return dataclasses.replace(self.config, mqtt=mqtt_config)

    def start_server(self) -> None:
        """Start the server process and return once it said "online" on the broker."""
        since = len(self.watch.seen)
        self.server.start()
        status = self.topics.status(server_client_id(self.config))
        self.watch.wait_for(lambda m: m.topic == status and m.payload == b"online", start=since)

    def stop(self) -> None:
        try:
            self.watch.close()
            self.server.stop()
        finally:
            self.broker.stop()

    def rows(self, sql: str, *args: Any) -> list[tuple]:
        conn = sqlite3.connect(self.config.database.path)
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()


class Device:
    """One account's client on a real `Bus` (client id = account name, as the devices do),
    subscribed to `reads`; it records what it reads and `ask`s as the devices do: the same
    command id again every RESEND_S until its reply comes."""

    RESEND_S = 0.5

    def __init__(self, site: Site, account: str, reads: list[str]) -> None:
        self.site = site
        self.bus = Bus(site.account(account).mqtt, site.topics, account, subscriptions=reads)
        self.seen: list[Message] = []
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read, name=f"read-{account}", daemon=True)
        self.bus.start()
        self._reader.start()
        assert self.bus.wait_connected(WAIT_S), f"{account} did not connect:\n{site.broker.log_text()[-2000:]}"

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                item = self.bus.inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            if isinstance(item, Message):
                with self._changed:
                    self.seen.append(item)
                    self._changed.notify_all()

    def wait_for(self, match: Callable[[Message], bool], timeout: float = WAIT_S, start: int = 0) -> Message:
        """The first message from index `start` of `seen` on that `match`es; AssertionError after `timeout`."""
        with self._changed:
            found = self._changed.wait_for(lambda: next((m for m in self.seen[start:] if match(m)), None), timeout)
        assert found, f"no matching message within {timeout} s; last seen: {self.seen[-5:]}"
        return found

    def ask(self, topic: str, reply_topic: str, command: dict[str, Any] | bytes, command_id: str | None,
            timeout: float = WAIT_S) -> dict[str, Any]:
        """Publish `command` (resent every RESEND_S) until a reply on `reply_topic` with `command_id`
        comes; returns the reply. AssertionError after `timeout`."""
        deadline = time.monotonic() + timeout
        start = len(self.seen)

        def is_reply(m: Message) -> bool:
            return m.topic == reply_topic and json.loads(m.payload).get("id") == command_id
        while True:
            self.bus.publish(topic, command)
            try:
                return json.loads(self.wait_for(is_reply, min(self.RESEND_S, deadline - time.monotonic()),
                                                start).payload)
            except AssertionError:
                if time.monotonic() >= deadline:
                    raise AssertionError(f"no reply to {command!r} on {reply_topic} within {timeout} s") from None

    def close(self) -> None:
        self._stop.set()
        self._reader.join(WAIT_S)
        self.bus.stop()


class Rogue:
    """Valid credentials of one account, reconnecting with clean start under other clients'
    ids in a loop on its own thread until `stop`: the session takeover of issue 14, finding 4."""

    def __init__(self, site: Site, account: str, victims: list[str]) -> None:
        self.site, self.account, self.victims = site, account, victims
        self.connected = 0  # CONNACKs with success
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rogue", daemon=True)

    def start(self) -> Rogue:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(WAIT_S)

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            victim = self.victims[i % len(self.victims)]
            i += 1
            acked = threading.Event()
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=victim, protocol=mqtt.MQTTv5)
            client.username_pw_set(self.account, self.site.passwords[self.account])
            client.on_connect = lambda c, u, f, reason, p: self._connack(reason, acked)
            try:
                client.connect(self.site.broker.host, self.site.broker.port, clean_start=True)
                client.loop_start()
                acked.wait(2)
                client.disconnect()
                client.loop_stop()
            except OSError:
                pass
            finally:
                close_socket(client)

    def _connack(self, reason: Any, acked: threading.Event) -> None:
        if not reason.is_failure:
            self.connected += 1
        acked.set()
