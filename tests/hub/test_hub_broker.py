"""The province hub broker's accounts (`queuebox hub-credentials`), enforced by a real
Mosquitto: a centre writes only its own topics and reads only its own acknowledgements;
its uplink reaches the broker over TLS with the province's CA.

"Nothing arrived" is shown without sleeping: after the probed message, an allowed fence
message follows on the same path; once the fence arrives, the probed one never will.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any
from uuid import uuid4

import paho.mqtt.client as mqtt
import pytest

from hub.credentials import hub_acl_rules, write_hub_credentials
from queuebox.broker_files import CredentialsError, read_secrets
from queuebox.cli import main
from queuebox.hub_protocol import HubTopics, decode_batch
from server.uplink import run_uplink
from tests.factories import make_config
from tests.hub.site import run_in_thread
from tests.mqtt_broker import Broker, free_port
from tests.report_fixtures import MONDAY, report_config, simulate_days

pytestmark = pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="mosquitto_passwd is not installed")

TIMEOUT_S = 5.0
NOT_AUTHORIZED = 135  # MQTT v5 reason code 0x87 in a PUBACK
DELIVERED = {0, 16}  # success, or "no matching subscribers" (also a success)
ROOT = "prov"
EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "config" / "queuebox.example.toml"


class Probe:
    """A paho MQTT v5 client whose callbacks only record."""

    def __init__(self, port: int, username: str, password: str, *, ca_file: str | None = None) -> None:
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"p-{uuid4().hex[:8]}",
                                  protocol=mqtt.MQTTv5)
        self.client.username_pw_set(username, password)
        if ca_file:
            self.client.tls_set(ca_certs=ca_file)
        self.connack: Any = None
        self.pubacks: dict[int, Any] = {}
        self.messages: list[mqtt.MQTTMessage] = []
        self._changed = threading.Condition()
        self.client.on_connect = lambda c, u, f, reason, p: self._record(setattr, self, "connack", reason)
        self.client.on_publish = lambda c, u, mid, reason, p: self._record(self.pubacks.__setitem__, mid, reason)
        self.client.on_subscribe = lambda c, u, mid, reasons, p: self._record(lambda: None)
        self.client.on_message = lambda c, u, msg: self._record(self.messages.append, msg)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.wait(lambda: self.connack is not None), "no CONNACK"

    def _record(self, change: Any, *args: Any) -> None:
        with self._changed:
            change(*args)
            self._changed.notify_all()

    def wait(self, predicate: Any) -> bool:
        with self._changed:
            return self._changed.wait_for(predicate, TIMEOUT_S)

    def subscribe(self, *topics: str) -> None:
        self.client.subscribe([(t, 1) for t in topics])

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> int:
        """The PUBACK's reason code."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        assert self.wait(lambda: info.mid in self.pubacks), f"no PUBACK for {topic}"
        return self.pubacks[info.mid].value

    def topics(self) -> list[str]:
        with self._changed:
            return [m.topic for m in self.messages]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# --- files ------------------------------------------------------------------------------------

def test_a_centre_may_write_only_its_own_topics_and_read_only_its_own_ack():
    assert hub_acl_rules("prov", "centre-an-phu", ["hub"]) == [
        ("write", "prov/centre/an-phu/events"), ("write", "prov/centre/an-phu/live"),
        ("write", "prov/centre/an-phu/setup"), ("write", "prov/centre/an-phu/restore"),
        ("read", "prov/centre/an-phu/ack"), ("read", "prov/centre/an-phu/history")]
    assert hub_acl_rules("prov", "hub", ["hub"]) == [
        ("read", "prov/centre/+/events"), ("read", "prov/centre/+/live"), ("read", "prov/centre/+/setup"),
        ("read", "prov/centre/+/restore"), ("write", "prov/centre/+/ack"), ("write", "prov/centre/+/history")]


def test_adding_a_centre_keeps_every_password_and_removing_one_drops_its_account(tmp_path):
    config = make_config(hub={"root": ROOT})
    _, centres = write_hub_credentials(config, tmp_path, centres=["an-phu", "binh-hoa"])
    first = read_secrets(tmp_path / "secrets.toml")
    assert centres == ["an-phu", "binh-hoa"] and list(first) == ["hub", "centre-an-phu", "centre-binh-hoa"]
    written, centres = write_hub_credentials(config, tmp_path, centres=["cho-moi"], remove=["binh-hoa"])
    second = read_secrets(tmp_path / "secrets.toml")
    assert centres == ["an-phu", "cho-moi"]
    assert (written.new, written.dropped) == (["centre-cho-moi"], ["centre-binh-hoa"])
    assert second["hub"] == first["hub"] and second["centre-an-phu"] == first["centre-an-phu"]
    acl = (tmp_path / "acl").read_text(encoding="utf-8")
    assert "user centre-cho-moi" in acl and "binh-hoa" not in acl
    assert "use_username_as_clientid true" in (tmp_path / "mosquitto.conf").read_text(encoding="utf-8")


@pytest.mark.parametrize("kwargs,message", [
    ({"centres": ["An Phú"]}, "centre id 'An Phú' must be 1 to 32 lower-case letters"),
    ({"centres": ["a/b"]}, "centre id 'a/b' must be"),
    ({"hubs": ["centre-x"]}, "hub account 'centre-x' must not start with 'centre-'"),
])
def test_a_bad_name_is_refused_and_nothing_is_written(tmp_path, kwargs, message):
    with pytest.raises(CredentialsError, match=message):
        write_hub_credentials(make_config(), tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_the_command_adds_a_centre_and_says_which_centres_have_an_account(tmp_path, capsys):
    assert main(["hub-credentials", "--config", str(EXAMPLE_CONFIG), "--out", str(tmp_path / "b"),
                 "--centre", "an-phu"]) == 0
    out = capsys.readouterr().out
    assert "centres: an-phu" in out and "new passwords for: hub, centre-an-phu" in out


# --- the broker enforces them -----------------------------------------------------------------

@pytest.fixture
def hub_broker(tmp_path, mosquitto_path):
    config = make_config(hub={"root": ROOT})
    write_hub_credentials(config, tmp_path / "creds", centres=["a", "b"])
    passwords = read_secrets(tmp_path / "creds" / "secrets.toml")
    broker = Broker(tmp_path / "broker", password_file=tmp_path / "creds" / "passwd",
                    acl_file=tmp_path / "creds" / "acl", executable=mosquitto_path).start()
    yield broker, passwords
    broker.stop()


def test_a_centre_publishing_another_centres_events_is_refused(hub_broker):
    broker, pw = hub_broker
    hub = Probe(broker.port, "hub", pw["hub"])
    a = Probe(broker.port, "centre-a", pw["centre-a"])
    try:
        hub.subscribe(f"$share/hub/{ROOT}/centre/+/events")
        hub.subscribe(f"{ROOT}/centre/+/live")
        assert hub.wait(lambda: True)
        assert a.publish(f"{ROOT}/centre/b/events", b"forged") == NOT_AUTHORIZED
        assert a.publish(f"{ROOT}/centre/b/live", b"{}") == NOT_AUTHORIZED
        assert a.publish(f"{ROOT}/centre/a/ack", b"{}") == NOT_AUTHORIZED  # only the hub acknowledges
        assert a.publish(f"{ROOT}/centre/a/events", b"fence") in DELIVERED
        assert hub.wait(lambda: f"{ROOT}/centre/a/events" in hub.topics())
        assert hub.topics() == [f"{ROOT}/centre/a/events"]
    finally:
        hub.close(), a.close()


def test_a_centre_reading_another_centres_ack_receives_nothing(hub_broker):
    broker, pw = hub_broker
    hub = Probe(broker.port, "hub", pw["hub"])
    a = Probe(broker.port, "centre-a", pw["centre-a"])
    try:
        a.subscribe(f"{ROOT}/centre/b/ack", f"{ROOT}/centre/b/history", f"{ROOT}/centre/+/ack")
        assert hub.publish(f"{ROOT}/centre/b/ack", b'{"b": 1}', retain=True) in DELIVERED
        assert hub.publish(f"{ROOT}/centre/b/history", b"b's history") in DELIVERED
        assert hub.publish(f"{ROOT}/centre/a/ack", b'{"a": 1}', retain=True) in DELIVERED  # the fence
        assert a.wait(lambda: f"{ROOT}/centre/a/ack" in a.topics())
        assert a.topics() == [f"{ROOT}/centre/a/ack"]
    finally:
        hub.close(), a.close()


def test_a_wrong_password_is_refused(hub_broker):
    broker, pw = hub_broker
    probe = Probe(broker.port, "centre-a", pw["centre-b"])
    try:
        assert probe.connack.is_failure
    finally:
        probe.close()


# --- TLS --------------------------------------------------------------------------------------

def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A province CA and the hub broker's certificate (for 127.0.0.1 and localhost) signed by it:
    (ca.pem, broker.pem, broker.key)."""
    folder.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Test province CA",
             "-keyout", "ca.key", "-out", "ca.pem", cwd=folder)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "broker.key",
             "-out", "broker.csr", cwd=folder)
    (folder / "san.ext").write_text("subjectAltName = IP:127.0.0.1, DNS:localhost\n", encoding="utf-8")
    _openssl("x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "2", "-extfile", "san.ext", "-out", "broker.pem", cwd=folder)
    return folder / "ca.pem", folder / "broker.pem", folder / "broker.key"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_the_uplink_reaches_the_hub_broker_over_tls_with_the_provinces_ca(tmp_path, mosquitto_path):
    ca, cert, key = make_certificates(tmp_path / "tls")
    tls_port = free_port()
    base = report_config()
    config = replace(base, hub=replace(base.hub, root=ROOT, port=tls_port, broker_certfile=str(cert),
                                       broker_keyfile=str(key)))
    write_hub_credentials(config, tmp_path / "creds", centres=[config.site.id])
    pw = read_secrets(tmp_path / "creds" / "secrets.toml")
    conf = (tmp_path / "creds" / "mosquitto.conf").read_text(encoding="utf-8")
    assert f"listener {tls_port}\ncertfile {cert}\nkeyfile {key}" in conf
    # The generated conf as it is (its TLS listener, accounts, ACL) after the test helper's own
    # plain listener on 127.0.0.1, through which the test watches as the hub.
    broker = Broker(tmp_path / "broker", extra_config=conf, executable=mosquitto_path).start()
    centre_db = tmp_path / "centre.db"
    simulate_days(centre_db, [(MONDAY, 20)], seed=5)
    hub = Probe(broker.port, "hub", pw["hub"])
    uplink_config = replace(config, uplink=replace(config.uplink, host="127.0.0.1", port=tls_port, tls=True,
                                                   ca_file=str(ca), root=ROOT, poll_s=0.05,
                                                   username=f"centre-{config.site.id}",
                                                   password=pw[f"centre-{config.site.id}"]))
    stop, thread = run_in_thread(run_uplink, uplink_config, str(centre_db))
    try:
        hub.subscribe(HubTopics(ROOT, "+").shared_events)
        assert hub.wait(lambda: bool(hub.messages)), f"no batch over TLS; broker log:\n{broker.log_text()}"
        with hub._changed:
            batch = decode_batch(hub.messages[0].payload, config.site.id)
        assert batch.first == 1 and batch.centre == config.site.id
    finally:
        stop.set()
        thread.join(10)
        hub.close()
        broker.stop()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_a_client_that_does_not_trust_the_brokers_certificate_cannot_connect(tmp_path, mosquitto_path):
    ca, cert, key = make_certificates(tmp_path / "tls")
    other_ca, _, _ = make_certificates(tmp_path / "other")
    tls_port = free_port()
    config = make_config(hub={"root": ROOT, "port": tls_port, "broker_certfile": str(cert),
                              "broker_keyfile": str(key)})
    write_hub_credentials(config, tmp_path / "creds", centres=["a"])
    pw = read_secrets(tmp_path / "creds" / "secrets.toml")
    conf = (tmp_path / "creds" / "mosquitto.conf").read_text(encoding="utf-8")
    broker = Broker(tmp_path / "broker", extra_config=conf, executable=mosquitto_path).start()
    try:
        trusting = Probe(tls_port, "centre-a", pw["centre-a"], ca_file=str(ca))  # the province's CA
        trusting.close()
        assert trusting.connack.value == 0
        context = ssl.create_default_context(cafile=str(other_ca))  # what the uplink does with another CA
        with socket.create_connection(("127.0.0.1", tls_port), timeout=TIMEOUT_S) as sock:
            with pytest.raises(ssl.SSLCertVerificationError):
                context.wrap_socket(sock, server_hostname="127.0.0.1").close()
    finally:
        broker.stop()
