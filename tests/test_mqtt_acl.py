"""The generated Mosquitto password file and ACL, enforced by a real broker (DESIGN.md §4).

One broker for the module runs with the files `queuebox mqtt-credentials` writes for a site
with kiosks k1 and k2, counters 1–3 and display d1. A `server` client subscribed to the
whole site root sees every message that gets through.

"Nothing arrived" is shown without sleeping: after the probed message the same publisher
sends an allowed fence message to the same subscriber. Mosquitto handles one client's
packets in order and queues them to a subscriber in order, so once the fence arrives, a
message sent before it either arrived already or never will.

The end of the module tests `tests/mqtt_broker.py` itself: restart, kill, start errors.
"""

from __future__ import annotations

import dataclasses
import grp
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator
from uuid import uuid4

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.reasoncodes import ReasonCode

from server.credentials import read_secrets, write_credentials
from tests.factories import make_config
from tests.mqtt_broker import Broker, BrokerError
from queuebox.bus import close_socket

TIMEOUT_S = 5.0
NOT_AUTHORIZED = 135  # MQTT v5 reason code 0x87, in CONNACK and PUBACK
SITE_ROOT = "qbtest/test/"  # <mqtt.root>/<site.id>/ of the config below


class Probe:
    """A paho MQTT v5 client on its own network thread; its callbacks only record."""

    def __init__(self, broker: Broker, username: str | None = None, password: str | None = None,
                 client_id: str | None = None) -> None:
        self.broker = broker
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or f"probe-{uuid4().hex[:8]}",
                                  protocol=mqtt.MQTTv5)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.connack: ReasonCode | None = None
        self._connected = threading.Event()
        self._changed = threading.Condition()
        self.pubacks: dict[int, ReasonCode] = {}
        self.subacks: dict[int, list[ReasonCode]] = {}
        self.messages: list[mqtt.MQTTMessage] = []
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Any) -> None:
        self.connack = reason
        if reason.is_failure:
            client.disconnect()  # no reconnect loop for a refused client
        self._connected.set()

    def _on_publish(self, _client: mqtt.Client, _userdata: Any, mid: int, reason: ReasonCode, _props: Any) -> None:
        with self._changed:
            self.pubacks[mid] = reason
            self._changed.notify_all()

    def _on_subscribe(self, _client: mqtt.Client, _userdata: Any, mid: int, reasons: list[ReasonCode],
                      _props: Any) -> None:
        with self._changed:
            self.subacks[mid] = reasons
            self._changed.notify_all()

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._changed:
            self.messages.append(message)
            self._changed.notify_all()

    def _wait(self, predicate: Callable[[], Any], what: str) -> Any:
        with self._changed:
            found = self._changed.wait_for(predicate, timeout=TIMEOUT_S)
        assert found, f"no {what} within {TIMEOUT_S:g} s; broker log:\n{self.broker.log_text()[-3000:]}"
        return found

    def connect(self) -> ReasonCode:
        """Connect and wait for the CONNACK; returns its reason code (success or not)."""
        self.client.connect_async(self.broker.host, self.broker.port)
        self.client.loop_start()
        assert self._connected.wait(TIMEOUT_S), f"no CONNACK within {TIMEOUT_S:g} s"
        assert self.connack is not None
        return self.connack

    def publish(self, topic: str, payload: str, retain: bool = False) -> ReasonCode:
        """Publish at QoS 1 and return the PUBACK's reason code."""
        mid = self.client.publish(topic, payload, qos=1, retain=retain).mid
        self._wait(lambda: mid in self.pubacks, f"PUBACK for {topic}")
        return self.pubacks[mid]

    def subscribe(self, topic: str) -> ReasonCode:
        mid = self.client.subscribe(topic, qos=1)[1]
        self._wait(lambda: mid in self.subacks, f"SUBACK for {topic}")
        return self.subacks[mid][0]

    def wait_for_payload(self, payload: str) -> mqtt.MQTTMessage:
        return self._wait(lambda: next((m for m in self.messages if m.payload == payload.encode()), None),
                          f"message {payload!r}")

    def payloads(self) -> set[str]:
        with self._changed:
            return {m.payload.decode() for m in self.messages}

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        close_socket(self.client)


def marker() -> str:
    return json.dumps({"id": uuid4().hex})


@dataclass
class Site:
    broker: Broker
    passwords: dict[str, str]
    creds: Path
    probes: list[Probe]

    def probe(self, account: str | None, password: str | None = None, connect: bool = True) -> Probe:
        """A client logged in as `account` (its own password unless given), connected."""
        if account is not None and password is None:
            password = self.passwords[account]
        probe = Probe(self.broker, account, password)
        self.probes.append(probe)
        if connect:
            assert probe.connect().value == 0, f"{account} could not connect: {probe.connack}"
        return probe


SITE_CONFIG = dict(mqtt={"root": "qbtest"}, devices={"kiosks": ["k1", "k2"], "displays": ["d1"]})


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, mosquitto_path: str) -> Iterator[Site]:
    base = tmp_path_factory.mktemp("acl")
    write_credentials(make_config(**SITE_CONFIG), base / "creds")
    broker = Broker(base / "broker", password_file=base / "creds" / "passwd", acl_file=base / "creds" / "acl",
                    executable=mosquitto_path).start()
    running = Site(broker, read_secrets(base / "creds" / "secrets.toml"), base / "creds", [])
    try:
        yield running
    finally:
        for probe in running.probes:
            probe.close()
        broker.stop()


@pytest.fixture(scope="module")
def server(site: Site) -> Probe:
    """The server account subscribed to everything under the site root."""
    probe = site.probe("server")
    assert probe.subscribe(SITE_ROOT + "#").value == 1
    return probe


# --- logging in --------------------------------------------------------------------------

def test_the_site_has_the_expected_accounts(site):
    assert sorted(site.passwords) == sorted(["server", "kiosk-k1", "kiosk-k2", "counter-1", "counter-2",
                                             "counter-3", "display-d1", "uplink"])


@pytest.mark.parametrize("username,password", [
    (None, None),  # anonymous
    ("server", "wrong password"),
    ("kiosk-k1", ""),
    ("kiosk-k3", "anything"),  # no such account
])
def test_login_is_refused(site, username, password):
    probe = site.probe(username, password, connect=False)
    reason = probe.connect()
    # Mosquitto 2.0.11 answers "Not authorized" for all three, never "Bad user name or password".
    assert (reason.value, str(reason)) == (NOT_AUTHORIZED, "Not authorized")


@pytest.mark.parametrize("account", ["server", "kiosk-k1", "kiosk-k2", "counter-1", "counter-3", "display-d1"])
def test_login_with_the_right_password_is_accepted(site, account):
    probe = site.probe(account, connect=False)
    assert probe.connect().value == 0
    assert probe.client.is_connected()


def test_another_accounts_password_is_refused(site):
    probe = site.probe("kiosk-k1", site.passwords["kiosk-k2"], connect=False)
    assert probe.connect().value == NOT_AUTHORIZED


# --- who may publish what --------------------------------------------------------------

PUBLISH = [
    # account, topic under the site root, allowed
    ("kiosk-k1", "kiosk/k1/take", True),
    ("kiosk-k1", "status/kiosk-k1", True),
    ("kiosk-k1", "kiosk/k2/take", False),
    ("kiosk-k1", "counter/1/command", False),
    ("kiosk-k1", "counter/1/rating", False),
    ("kiosk-k1", "board", False),
    ("kiosk-k1", "events", False),
    ("kiosk-k1", "kiosk/k1/reply", False),
    ("kiosk-k1", "counter/1/state", False),
    ("kiosk-k1", "status/kiosk-k2", False),
    ("kiosk-k1", "status/server", False),
    ("counter-1", "counter/1/command", True),
    ("counter-1", "counter/1/rating", True),
    ("counter-1", "status/counter-1", True),
    ("counter-1", "counter/2/command", False),
    ("counter-1", "counter/2/rating", False),
    ("counter-1", "counter/1/reply", False),
    ("counter-1", "counter/1/state", False),
    ("counter-1", "counter/2/state", False),
    ("counter-1", "board", False),
    ("counter-1", "events", False),
    ("counter-1", "kiosk/k1/take", False),
    ("counter-1", "kiosk/k1/reply", False),
    ("display-d1", "status/display-d1", True),
    ("display-d1", "board", False),
    ("display-d1", "events", False),
    ("display-d1", "counter/1/command", False),
    ("display-d1", "counter/1/state", False),
    ("display-d1", "kiosk/k1/take", False),
    ("display-d1", "voice", False),
    ("display-d1", "status/kiosk-k1", False),
    ("uplink", "status/uplink", True),
    ("uplink", "status/kiosk-k1", False),  # it reads the devices' faults, never speaks for them
    ("uplink", "events", False),
    ("uplink", "board", False),
    ("server", "board", True),
    ("server", "events", True),
    ("server", "kiosk/k1/reply", True),
    ("server", "counter/2/reply", True),
    ("server", "counter/2/state", True),
]


@pytest.mark.parametrize("account,topic,allowed", PUBLISH, ids=[f"{a}->{t}" for a, t, _ in PUBLISH])
def test_publish_acl(site, server, account, topic, allowed):
    client = site.probe(account)
    probe, fence = marker(), marker()
    reason = client.publish(SITE_ROOT + topic, probe)
    assert client.publish(f"{SITE_ROOT}status/{account}", fence).is_failure is False
    server.wait_for_payload(fence)
    if allowed:
        assert not reason.is_failure, reason
        assert server.wait_for_payload(probe).topic == SITE_ROOT + topic
    else:
        assert (reason.value, str(reason)) == (NOT_AUTHORIZED, "Not authorized")
        assert probe not in server.payloads()


@pytest.mark.parametrize("account", ["kiosk-k1", "counter-1", "display-d1", "server"])
def test_nobody_publishes_outside_the_site_root(site, account):
    client = site.probe(account)
    for topic in ("qbtest/other-site/board", "elsewhere", "qbtest/testing/board"):
        assert client.publish(topic, marker()).value == NOT_AUTHORIZED, topic


# --- who may read what -----------------------------------------------------------------

READ = [
    # account, subscription under the site root, topic the server publishes, delivered
    ("kiosk-k1", "kiosk/k1/reply", "kiosk/k1/reply", True),
    ("kiosk-k1", "events", "events", True),
    ("kiosk-k1", "kiosk/k2/reply", "kiosk/k2/reply", False),
    ("kiosk-k1", "kiosk/+/reply", "kiosk/k2/reply", False),
    ("kiosk-k1", "counter/1/reply", "counter/1/reply", False),
    ("kiosk-k1", "counter/1/state", "counter/1/state", False),
    ("kiosk-k1", "kiosk/k1/take", "kiosk/k1/take", False),
    ("kiosk-k1", "#", "status/display-d1", False),
    ("counter-1", "counter/1/reply", "counter/1/reply", True),
    ("counter-1", "counter/1/state", "counter/1/state", True),
    ("counter-1", "counter/2/reply", "counter/2/reply", False),
    ("counter-1", "counter/+/state", "counter/2/state", False),
    ("counter-1", "counter/1/command", "counter/1/command", False),
    ("counter-1", "kiosk/k1/reply", "kiosk/k1/reply", False),
    ("display-d1", "events", "events", True),
    ("display-d1", "counter/+/state", "counter/3/state", True),  # a counter display reads its counter's state
    ("display-d1", "counter/1/state", "counter/1/state", True),
    ("display-d1", "status/#", "status/kiosk-k1", False),  # nor other devices' status
    ("display-d1", "#", "counter/2/state", True),
    ("display-d1", "voice", "voice", True),
    ("kiosk-k1", "voice", "voice", False),
    ("counter-1", "#", "voice", False),
    ("display-d1", "#", "counter/1/reply", False),
    ("display-d1", "#", "kiosk/k1/reply", False),
    ("display-d1", "#", "counter/1/command", False),
    ("display-d1", "kiosk/k1/take", "kiosk/k1/take", False),
    ("uplink", "status/+", "status/kiosk-k1", True),  # a kiosk's "fault paper_out" for the province
    ("uplink", "#", "kiosk/k1/reply", False),
    ("uplink", "#", "events", False),
]


@pytest.mark.parametrize("account,subscription,topic,delivered", READ,
                         ids=[f"{a}<-{t} via {s}" for a, s, t, _ in READ])
def test_read_acl(site, server, account, subscription, topic, delivered):
    reader = site.probe(account)
    # Mosquitto 2.0.11 grants even a subscription the ACL forbids; it only never delivers.
    assert reader.subscribe(SITE_ROOT + subscription).value == 1
    # the fence: every device reads the board; the uplink, which reads only status/+, the server's status
    fence_topic = "status/server" if account == "uplink" else "board"
    assert reader.subscribe(SITE_ROOT + fence_topic).value == 1
    probe, fence = marker(), marker()
    assert not server.publish(SITE_ROOT + topic, probe).is_failure
    assert not server.publish(SITE_ROOT + fence_topic, fence).is_failure
    reader.wait_for_payload(fence)
    assert (probe in reader.payloads()) is delivered


# --- the stock command-line clients ------------------------------------------------------

def mosquitto_pub(site: Site, account: str, password: str, topic: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("mosquitto_pub")
    if tool is None:
        reason = "mosquitto_pub is not installed (apt install mosquitto-clients)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return subprocess.run([tool, "-h", site.broker.host, "-p", str(site.broker.port), "-V", "5", "-q", "1",
                           "-u", account, "-P", password, "-t", SITE_ROOT + topic, "-m", marker()],
                          capture_output=True, text=True, timeout=30)


def test_mosquitto_pub_with_the_generated_password_publishes(site, server):
    done = mosquitto_pub(site, "kiosk-k2", site.passwords["kiosk-k2"], "kiosk/k2/take")
    assert (done.returncode, done.stderr) == (0, "")


def test_mosquitto_pub_with_a_wrong_password_is_refused(site):
    done = mosquitto_pub(site, "kiosk-k2", "wrong", "kiosk/k2/take")
    assert done.returncode != 0 and "Not authorized" in done.stderr


def test_mosquitto_pub_refused_publish_exits_zero_with_a_warning(site):
    """Worth knowing: a refused QoS 1 publish is only a warning, the exit status is 0."""
    done = mosquitto_pub(site, "kiosk-k2", site.passwords["kiosk-k2"], "board")
    assert done.returncode == 0
    assert "Publish 1 failed: Not authorized" in done.stderr


# --- the generated files in other set-ups --------------------------------------------------

def test_rerun_keeps_every_password_working(tmp_path, mosquitto_path):
    config = make_config(**SITE_CONFIG)
    write_credentials(config, tmp_path / "creds")
    first = read_secrets(tmp_path / "creds" / "secrets.toml")
    hashed_before = (tmp_path / "creds" / "passwd").read_text()
    write_credentials(config, tmp_path / "creds")
    assert (tmp_path / "creds" / "passwd").read_text() != hashed_before  # re-hashed with new salts
    with Broker(tmp_path / "broker", password_file=tmp_path / "creds" / "passwd",
                acl_file=tmp_path / "creds" / "acl", executable=mosquitto_path) as broker:
        for account, password in first.items():
            probe = Probe(broker, account, password)
            try:
                assert probe.connect().value == 0, account
            finally:
                probe.close()


def test_the_generated_conf_snippet_runs(tmp_path, mosquitto_path):
    write_credentials(make_config(**SITE_CONFIG), tmp_path / "creds")
    snippet = (tmp_path / "creds" / "mosquitto.conf").read_text()
    assert "listener 1883\n" in snippet
    # The test broker has its own listener; the snippet's allow_anonymous false comes later and wins.
    with Broker(tmp_path / "broker", extra_config=snippet.replace("listener 1883\n", ""),
                executable=mosquitto_path) as broker:
        anonymous = Probe(broker)
        kiosk = Probe(broker, "kiosk-k1", read_secrets(tmp_path / "creds" / "secrets.toml")["kiosk-k1"])
        try:
            assert anonymous.connect().value == NOT_AUTHORIZED
            assert kiosk.connect().value == 0
            assert kiosk.publish(SITE_ROOT + "board", marker()).value == NOT_AUTHORIZED  # the ACL is on
        finally:
            anonymous.close()
            kiosk.close()


def _can_drop_to_mosquitto() -> bool:
    try:
        pwd.getpwnam("mosquitto")
        grp.getgrnam("mosquitto")
    except KeyError:
        return False
    return os.geteuid() == 0


@pytest.mark.skipif(not _can_drop_to_mosquitto(), reason="needs root and the Debian user mosquitto")
def test_broker_running_as_user_mosquitto_reads_the_files(mosquitto_path):
    """As on the appliance: Mosquitto starts as root, switches to user mosquitto, then opens
    passwd and acl, which are root's, mode 0640, group mosquitto. Outside tmp_path, whose
    /tmp/pytest-of-root parent that user cannot enter."""
    base = Path(tempfile.mkdtemp(prefix="queuebox-acl-"))
    try:
        base.chmod(0o755)
        write_credentials(make_config(**SITE_CONFIG), base / "creds")
        passwd = base / "creds" / "passwd"
        assert (passwd.stat().st_mode & 0o777, passwd.stat().st_uid, grp.getgrgid(passwd.stat().st_gid).gr_name) \
            == (0o640, 0, "mosquitto")
        with Broker(base / "broker", password_file=passwd, acl_file=base / "creds" / "acl", user="mosquitto",
                    executable=mosquitto_path) as broker:
            probe = Probe(broker, "counter-2", read_secrets(base / "creds" / "secrets.toml")["counter-2"])
            try:
                assert probe.connect().value == 0
                assert not probe.publish(SITE_ROOT + "counter/2/command", marker()).is_failure
                assert probe.publish(SITE_ROOT + "counter/1/command", marker()).value == NOT_AUTHORIZED
            finally:
                probe.close()
            assert "should not be run as root" not in broker.log_text()  # it did switch user
    finally:
        shutil.rmtree(base)


# --- tests/mqtt_broker.py itself --------------------------------------------------------------

def anonymous(broker: Broker) -> Probe:
    probe = Probe(broker)
    assert probe.connect().value == 0
    return probe


def test_retained_message_survives_restart(broker, mqtt_root):
    payload = marker()
    publisher = anonymous(broker)
    try:
        assert not publisher.publish(f"{mqtt_root}/board", payload, retain=True).is_failure
    finally:
        publisher.close()
    port, pid = broker.port, broker.pid
    broker.restart()
    assert (broker.port, broker.running) == (port, True) and broker.pid != pid
    reader = anonymous(broker)
    try:
        reader.subscribe(f"{mqtt_root}/board")
        message = reader.wait_for_payload(payload)
        assert message.retain
    finally:
        reader.close()
    assert "Saving in-memory database" in broker.log_text()


def test_kill_then_restart_on_the_same_port(broker, mqtt_root):
    port = broker.port
    broker.kill()
    assert not broker.running
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((broker.host, port), timeout=TIMEOUT_S).close()
    broker.restart()
    assert broker.port == port
    client = anonymous(broker)
    try:
        assert client.subscribe(f"{mqtt_root}/echo").value == 1
        payload = marker()
        client.publish(f"{mqtt_root}/echo", payload)
        assert client.wait_for_payload(payload).topic == f"{mqtt_root}/echo"
    finally:
        client.close()


def test_broker_that_cannot_start_reports_its_log(tmp_path, mosquitto_path):
    broker = Broker(tmp_path / "broker", extra_config="no_such_option 1", executable=mosquitto_path)
    with pytest.raises(BrokerError, match=r"(?s)exited with status \d+.*no_such_option"):
        broker.start()
    assert not broker.running


# --- MQTT over TLS between Pis (finding 12 of issue 14) ------------------------------------------

def make_certificate(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a broker certificate for 127.0.0.1 signed by it, made with `openssl`: (ca, cert, key)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed (apt install openssl)")
    folder.mkdir(parents=True, exist_ok=True)
    ca, ca_key, cert, key, csr = (folder / n for n in ("ca.pem", "ca.key", "broker.pem", "broker.key", "broker.csr"))
    ext = folder / "broker.ext"
    ext.write_text("subjectAltName = IP:127.0.0.1\nbasicConstraints = CA:FALSE\n", encoding="utf-8")
    for args in (
        ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
         "-subj", "/CN=queuebox test CA", "-keyout", ca_key, "-out", ca],
        ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=127.0.0.1",
         "-keyout", key, "-out", csr],
        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-days", "2",
         "-extfile", ext, "-out", cert],
    ):
        subprocess.run([openssl, *map(str, args)], check=True, capture_output=True, timeout=60)
    return ca, cert, key


def test_a_bus_talks_tls_to_the_listener_of_the_generated_conf_snippet(tmp_path, mosquitto_path):
    from queuebox.bus import Bus, Message
    from queuebox.protocol import Topics

    ca, cert, key = make_certificate(tmp_path / "tls")
    config = make_config(**{**SITE_CONFIG, "mqtt": {**SITE_CONFIG.get("mqtt", {}), "broker_certfile": str(cert),
                                                   "broker_keyfile": str(key)}})
    write_credentials(config, tmp_path / "creds")
    snippet = (tmp_path / "creds" / "mosquitto.conf").read_text()
    listener = f"listener {config.mqtt.port}\n"
    assert f"{listener}certfile {cert}\nkeyfile {key}\n" in snippet  # TLS on the snippet's listener
    passwords = read_secrets(tmp_path / "creds" / "secrets.toml")
    # The test broker's own listener takes the snippet's certfile and keyfile (they follow it).
    with Broker(tmp_path / "broker", extra_config=snippet.replace(listener, ""), executable=mosquitto_path) as broker:
        settings = dataclasses.replace(config.mqtt, host=broker.host, port=broker.port, username="kiosk-k1",
                                       password=passwords["kiosk-k1"], tls=True, ca_file=str(ca))
        topics = Topics(config.mqtt.root, config.site.id)
        bus = Bus(settings, topics, "kiosk-k1", subscriptions=[topics.status("kiosk-k1")])
        plain = Probe(broker, "kiosk-k1", passwords["kiosk-k1"])
        bus.start()
        try:
            assert bus.wait_connected(TIMEOUT_S), broker.log_text()[-2000:]
            item = bus.inbox.get(timeout=TIMEOUT_S)
            while not isinstance(item, Message):  # its own retained "online" comes back over TLS
                item = bus.inbox.get(timeout=TIMEOUT_S)
            assert (item.topic, item.payload) == (topics.status("kiosk-k1"), b"online")
            with pytest.raises(AssertionError, match="no CONNACK"):
                plain.connect()  # a plain-TCP client gets no MQTT session from the TLS listener
        finally:
            bus.stop()
            plain.close()
