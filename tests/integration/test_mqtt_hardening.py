"""Issue 14 through a real Mosquitto (accounts, ACL and `BROKER_LIMITS` of `queuebox
mqtt-credentials`) and a real `queuebox server` process: a device account cannot take over
another client's session (finding 4), packets are bounded (finding 6), a retained command is
never applied (finding 7), and every malformed command gets a reply (finding 13)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import paho.mqtt.client as mqtt
import pytest

from device.keypad import Result
from device.keypad_main import KeypadApp
from queuebox.bus import close_socket
from queuebox.protocol import MAX_PACKET_SIZE
from server.main import server_client_id
from tests.integration.mqtt_site import WAIT_S, Device, Rogue, Site

KEYPAD = {"counter": "3", "button_next": 5, "led_next": 17, "cooldown_s": 0.1, "reply_timeout_s": 5.0,
          "retry_every_s": 0.5}
ROGUE_S = 6.0  # the least time the rogue keeps taking over sessions while commands go on
ANSWER_S = 5.0  # each command must be answered within this, rogue or not (a loaded machine included)
OVERSIZED = 30 * 1024 * 1024  # bytes: finding 6 used 50 MB
GROWTH_LIMIT_KB = 8 * 1024  # the server's peak memory may grow this much at most (not by OVERSIZED)


@pytest.fixture
def site(tmp_path: Path, mosquitto_path: str, mqtt_root: str) -> Iterator[Site]:
    s = Site(tmp_path, mosquitto_path, mqtt={"root": mqtt_root}, keypad=KEYPAD)
    try:
        s.start_server()
        yield s
    finally:
        s.stop()


class Keypad:
    """The real keypad (KeypadApp, its own Bus as counter-3) on MockFactory pins."""

    def __init__(self, site: Site, factory: Any) -> None:
        self.factory = factory
        self.results: list[Result] = []
        self._changed = threading.Condition()
        self.app = KeypadApp(site.account("counter-3"), pin_factory=factory, on_result=self._on_result)
        self.app.start()
        assert self.app.bus.wait_connected(WAIT_S), "the keypad did not connect"

    def _on_result(self, result: Result) -> None:
        with self._changed:
            self.results.append(result)
            self._changed.notify_all()

    def next(self) -> Result:
        """Press Next and return how it ended (answered, refused or no reply in reply_timeout_s)."""
        count = len(self.results)
        pin = self.factory.pin(KEYPAD["button_next"])
        pin.drive_low()
        time.sleep(0.02)  # a finger: the press must outlast the debounce
        pin.drive_high()
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.results) > count, KEYPAD["reply_timeout_s"] + WAIT_S)
            return self.results[count]

    def stop(self) -> None:
        self.app.stop()


def take(kiosk: Device, site: Site, command_id: str, **fields: Any) -> dict[str, Any]:
    t = site.topics
    return kiosk.ask(t.kiosk_take("kiosk1"), t.kiosk_reply("kiosk1"), {"id": command_id, "service": "B", **fields},
                     command_id, timeout=ANSWER_S)


# --- finding 4: sessions ---------------------------------------------------------------------

def test_a_rogue_with_display_credentials_cannot_take_over_the_server_kiosk_or_keypad(site, mock_factory):
    kiosk = Device(site, "kiosk-kiosk1", [site.topics.kiosk_reply("kiosk1")])
    keypad = Keypad(site, mock_factory)
    rogue = Rogue(site, "display-display1", [server_client_id(site.config), "kiosk-kiosk1", "counter-3"])
    issued, called = [], []
    try:
        rogue.start()
        started = time.monotonic()
        for i in range(5):  # a take and a Next a second, while the rogue loops
            time.sleep(max(0.0, started + i - time.monotonic()))  # the pace of a counter, not a sync
            issued.append(take(kiosk, site, f"take-{i}")["ticket"]["label"])
            called.append(keypad.next())
        while time.monotonic() - started < ROGUE_S:
            issued.append(take(kiosk, site, f"take-{len(issued)}")["ticket"]["label"])
    finally:
        rogue.stop()
        keypad.stop()
        kiosk.close()
    assert rogue.connected > 20, "the rogue did not get in: the test proves nothing"
    assert [(r.result, r.detail) for r in called] == [("ok", label) for label in issued[:5]]
    assert site.rows("SELECT count(*) FROM commands WHERE id LIKE 'counter/3:%'") == [(5,)]
    assert site.rows("SELECT count(*) FROM events WHERE type = 'called'") == [(5,)]
    assert site.rows("SELECT count(*) FROM tickets") == [(len(issued),)]


# --- finding 6: packet size --------------------------------------------------------------------

class Raw:
    """A hostile paho client of `account` (client id = the account) that ignores the broker's
    Maximum Packet Size; records its disconnection."""

    def __init__(self, site: Site, account: str) -> None:
        self.disconnected = threading.Event()
        connected = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=account, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(account, site.passwords[account])
        self.client.on_connect = lambda c, u, f, reason, p: connected.set()
        self.client.on_disconnect = lambda c, u, f, reason, p: self.disconnected.set()
        self.client.connect(site.broker.host, site.broker.port)
        self.client.loop_start()
        assert connected.wait(WAIT_S)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        close_socket(self.client)


def peak_rss_kb(pid: int) -> int:
    """The process's peak resident memory (VmHWM), in KiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))


def test_an_oversized_publish_disconnects_the_sender_and_the_server_does_not_grow(site):
    assert site.server.proc is not None
    before = peak_rss_kb(site.server.proc.pid)
    rogue = Raw(site, "kiosk-kiosk1")
    try:
        rogue.client.publish(site.topics.kiosk_take("kiosk1"), b"{" + b" " * OVERSIZED + b"}", qos=1)
        assert rogue.disconnected.wait(WAIT_S * 3), "the broker kept the connection of an oversized publish"
    finally:
        rogue.close()
    kiosk = Device(site, "kiosk-kiosk1", [site.topics.kiosk_reply("kiosk1")])
    try:
        assert take(kiosk, site, "after-oversized")["ok"] is True  # the server works on
    finally:
        kiosk.close()
    grown = peak_rss_kb(site.server.proc.pid) - before
    assert grown < GROWTH_LIMIT_KB, f"the server's peak memory grew {grown} KiB"


def test_an_oversized_retained_status_is_not_kept(site):
    status = site.topics.status("kiosk-kiosk1")
    rogue = Raw(site, "kiosk-kiosk1")
    try:
        rogue.client.publish(status, b"x" * OVERSIZED, qos=1, retain=True)
        assert rogue.disconnected.wait(WAIT_S * 3), "the broker kept the connection of an oversized publish"
    finally:
        rogue.close()
    # the kiosk subscribes to its status before it says "online" there: a retained message kept
    # from the rogue would come first
    fresh = Device(site, "kiosk-kiosk1", [status])
    try:
        first = fresh.wait_for(lambda m: m.topic == status)
    finally:
        fresh.close()
    assert first.payload == b"online"


def test_a_client_is_never_sent_a_packet_over_the_size_it_announced(broker, mqtt_root):
    from queuebox.bus import Bus, Message
    from queuebox.config import MqttConfig
    from queuebox.protocol import Topics

    topic = f"{mqtt_root}/big"
    bus = Bus(MqttConfig(host=broker.host, port=broker.port), Topics(mqtt_root, "s"), "reader", subscriptions=[topic])
    sender = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="sender", protocol=mqtt.MQTTv5)
    bus.start()
    try:
        assert bus.wait_connected(WAIT_S)
        sender.connect(broker.host, broker.port)
        sender.loop_start()
        sender.publish(topic, b"x" * (MAX_PACKET_SIZE * 2), qos=1)
        sender.publish(topic, b"fence", qos=1)  # the broker keeps one publisher's order
        got = []
        deadline = time.monotonic() + WAIT_S
        while b"fence" not in got and time.monotonic() < deadline:
            item = bus.inbox.get(timeout=deadline - time.monotonic())
            if isinstance(item, Message):
                got.append(item.payload)
    finally:
        sender.disconnect()
        sender.loop_stop()
        close_socket(sender)
        bus.stop()
    assert got == [b"fence"]


# --- finding 7: retained commands ------------------------------------------------------------

def test_a_retained_command_is_never_applied_not_even_after_the_server_reconnects(site):
    t = site.topics
    kiosk = Device(site, "kiosk-kiosk1", [t.kiosk_reply("kiosk1")])
    counter = Device(site, "counter-2", [t.counter_reply("2")])
    try:
        take(kiosk, site, "t1")
        counter.bus.publish(t.counter_command("2"), {"id": "retained-1", "action": "next"}, retain=True)
        refused = counter.wait_for(lambda m: m.topic == t.counter_reply("2")
                                   and json.loads(m.payload)["id"] == "retained-1")
        assert json.loads(refused.payload)["error"]["code"] == "bad_request"
        site.server.stop()
        site.start_server()  # a reconnect: the broker would send a retained command again
        reply = counter.ask(t.counter_command("2"), t.counter_reply("2"), {"id": "after", "action": "recall"}, "after")
        assert reply["error"]["code"] == "not_allowed"  # nothing was called at counter 2
    finally:
        counter.close()
        kiosk.close()
    assert site.rows("SELECT count(*) FROM commands WHERE id LIKE '%retained-1'") == [(0,)]
    assert site.rows("SELECT count(*) FROM events WHERE type = 'called'") == [(0,)]


# --- finding 13: every malformed command is answered -------------------------------------------

LONE = "\\ud800"  # as a JSON escape in the payload text
MALFORMED = [
    ("take", '{"id": "s1' + LONE + '", "service": "A"}', None),
    ("take", '{"id": "s2", "service": "' + LONE + '"}', "s2"),
    ("command", '{"id": "c1", "action": "call", "ticket": "A0' + LONE + '"}', "c1"),
    ("command", '{"id": "c2", "action": "pause", "reason": "lunch ' + LONE + '"}', "c2"),
    ("rating", '{"id": "r' + LONE + '", "score": 1}', None),
    ("take", '{"id": "s3", "service": "A", "x": {"' + LONE + '": 1}}', "s3"),
]


@pytest.mark.parametrize("kind, payload, command_id", MALFORMED)
def test_a_lone_surrogate_gets_a_bad_request_reply(site, kind, payload, command_id):
    t = site.topics
    topic, reply_topic, account = {
        "take": (t.kiosk_take("kiosk1"), t.kiosk_reply("kiosk1"), "kiosk-kiosk1"),
        "command": (t.counter_command("1"), t.counter_reply("1"), "counter-1"),
        "rating": (t.counter_rating("1"), t.counter_reply("1"), "counter-1")}[kind]
    device = Device(site, account, [reply_topic])
    try:
        reply = device.ask(topic, reply_topic, payload.encode(), command_id)
    finally:
        device.close()
    assert (reply["ok"], reply["error"]["code"]) == (False, "bad_request")
    assert "surrogate" in reply["error"]["message"]


def test_a_null_priority_counts_as_absent(site):
    kiosk = Device(site, "kiosk-kiosk1", [site.topics.kiosk_reply("kiosk1")])
    try:
        reply = take(kiosk, site, "p1", priority=None)
    finally:
        kiosk.close()
    assert (reply["ok"], reply["ticket"]["priority"]) == (True, False)
