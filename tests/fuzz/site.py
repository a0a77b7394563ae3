"""The system under fuzzing: a private Mosquitto with the accounts and ACL that
`queuebox mqtt-credentials` writes, and `queuebox server` as a child process, set up as the
demo does (server/demo.py: every service open, files in one folder); and `Client`, one
device account's MQTT v5 connection that publishes and tallies what the broker answers.
"""

from __future__ import annotations

import dataclasses
import grp
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from queuebox.bus import close_socket
from queuebox.config import Config, load_config
from queuebox.protocol import Topics
from server.credentials import SECRETS_FILE, read_secrets, write_credentials
from server.demo import broker_conf, demo_config, write_config
from server.processes import free_port, wait_for_port
from tests.mqtt_broker import find_mosquitto

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "queuebox.example.toml"
STOP_TIMEOUT_S = 10.0


class Site:
    """A private broker (accounts and ACL from `queuebox mqtt-credentials`) and `queuebox server`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder.resolve()
        self.folder.mkdir(parents=True, exist_ok=True)
        base = load_config(EXAMPLE)
        base = dataclasses.replace(base, devices=dataclasses.replace(base.devices, kiosks=("kiosk1", "kiosk2")))
        self.broker_port, self.web_port = free_port(), free_port()
        probe = dataclasses.replace(base, mqtt=dataclasses.replace(base.mqtt, port=self.broker_port))
        write_credentials(probe, self.folder / "mqtt", group=grp.getgrgid(os.getegid()).gr_name,
                          tools=["fuzz-monitor"])  # the monitor: client ids are bound to accounts
        self.config: Config = demo_config(base, self.folder, self.broker_port, self.web_port)
        self.config_path = write_config(self.config, self.folder / "queuebox.toml")
        self.passwords = read_secrets(self.folder / "mqtt" / SECRETS_FILE)
        self.topics = Topics(self.config.mqtt.root, self.config.site.id)
        self.db_path = Path(self.config.database.path)
        self.broker_log = self.folder / "mosquitto.log"
        self.server_log = self.folder / "server.log"
        self.broker: subprocess.Popen | None = None
        self.server: subprocess.Popen | None = None

    def start(self) -> Site:
        """Start the broker, then the server; returns once both listen (stops both if one fails)."""
        conf = self.folder / "mosquitto.conf"
        conf.write_text(broker_conf(self.folder, self.broker_port), encoding="utf-8")
        try:
            with open(self.broker_log, "ab") as out:
                self.broker = subprocess.Popen([find_mosquitto() or "mosquitto", "-c", str(conf)],
                                               stdin=subprocess.DEVNULL, stdout=out, stderr=out)
            wait_for_port(self.broker_port, self.broker, self.broker_log)
            self.start_server()
        except BaseException:
            self.stop()
            raise
        return self

    def start_server(self) -> None:
        with open(self.server_log, "ab") as out:
            self.server = subprocess.Popen([sys.executable, "-m", "queuebox.cli", "server", "--config",
                                            str(self.config_path)], stdin=subprocess.DEVNULL, stdout=out,
                                           stderr=out, cwd=ROOT)
        wait_for_port(self.web_port, self.server, self.server_log)

    def server_alive(self) -> bool:
        return self.server is not None and self.server.poll() is None

    def stop_server(self) -> None:
        _end(self.server)

    def stop(self) -> None:
        _end(self.server)
        _end(self.broker)

    def server_rss_kb(self) -> int | None:
        """The server process's resident memory now, in KiB."""
        try:
            status = Path(f"/proc/{self.server.pid}/status").read_text()  # type: ignore[union-attr]
        except (OSError, AttributeError):
            return None
        return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), None)

    def server_log_text(self) -> str:
        return self.server_log.read_text(encoding="utf-8", errors="replace")


def _end(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Client:
    """One account's paho MQTT v5 connection: publishes, tallies PUBACK reason codes by topic
    group, keeps what it reads."""

    def __init__(self, site: Site, account: str, reads: list[str], client_id: str | None = None) -> None:
        self.account = account
        self.acks: Counter[tuple[str, int]] = Counter()
        self.received: list[tuple[str, bytes]] = []
        self._pending: dict[int, str] = {}
        self._early: dict[int, int] = {}
        self._handshakes: list[mqtt.MQTTMessageInfo] = []  # QoS 2 publishes not yet complete
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._reads = reads
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or f"fuzz-{account}",
                                  protocol=mqtt.MQTTv5)
        self.client.username_pw_set(account, site.passwords[account])
        self.client.max_queued_messages_set(0)
        self.client.max_inflight_messages_set(100)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *args: self._ready.set()
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", site.broker_port)
        self.client.loop_start()
        assert self._ready.wait(10), f"{account} could not connect and subscribe"

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            return
        if self._reads:
            client.subscribe([(t, mqtt.SubscribeOptions(qos=1)) for t in self._reads])
        else:
            self._ready.set()

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        with self._lock:
            group = self._pending.pop(mid, None)
            if group is not None:
                self.acks[(group, reason.value)] += 1
            else:  # acknowledged before `publish` had noted what it was
                self._early[mid] = reason.value

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.received.append((message.topic, bytes(message.payload)))

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool, group: str) -> None:
        info = self.client.publish(topic, payload, qos=qos, retain=retain)  # not under _lock: paho calls
        if qos == 2:                                                          # on_publish under its own
            self._handshakes.append(info)
        if qos == 1:  # paho reports no reason code of a PUBREC (QoS 2)
            with self._lock:
                if info.mid in self._early:
                    self.acks[(group, self._early.pop(info.mid))] += 1
                else:
                    self._pending[info.mid] = group

    def settle(self, deadline: float) -> bool:
        """Wait (until `deadline`, monotonic) for every QoS 2 publish to finish its handshake: the
        broker passes such a message on at PUBREL, so a later QoS 1 message may overtake it."""
        while self._handshakes and time.monotonic() < deadline:
            self._handshakes = [info for info in self._handshakes if not info.is_published()]
            if self._handshakes:
                time.sleep(0.01)  # polling paho's network thread
        return not self._handshakes

    def take_received(self) -> list[tuple[str, bytes]]:
        with self._lock:
            got, self.received = self.received, []
            return got

    def unacknowledged(self) -> int:
        with self._lock:
            return len(self._pending)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        close_socket(self.client)
