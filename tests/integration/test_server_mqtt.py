"""The server's MQTT bridge against a real mosquitto and a real SQLite file."""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import sqlite3
import subprocess
import threading
import time
import uuid
from typing import Any, Callable, Iterator

import paho.mqtt.client as mqtt
import pytest

from queuebox.bus import Bus, close_socket
from queuebox.protocol import Topics
from queuebox.protocol_messages import parse_board
from server.engine import Engine
from server.main import server_client_id
from server.mqtt import MqttBridge
from tests.factories import FakeClock, make_config

WAIT_S = 10


class Client:
    """A plain paho v5 test client that records every message it receives."""

    def __init__(self, broker: Any, topics: list[str]) -> None:
        self.messages: queue.Queue[tuple[str, dict | None, bool]] = queue.Queue()
        self.seen: list[tuple[str, Any, bool]] = []
        self.ready = threading.Event()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-{uuid.uuid4().hex[:8]}",
                                   protocol=mqtt.MQTTv5)
        self._client.on_connect = lambda c, u, f, r, p: (c.subscribe([(t, 1) for t in topics]) if topics
                                                         else self.ready.set())
        self._client.on_subscribe = lambda c, u, mid, codes, p: self.ready.set()
        self._client.on_message = self._on_message
        self._client.connect(broker.host, broker.port)
        self._client.loop_start()
        assert self.ready.wait(WAIT_S), "test client could not subscribe"

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        try:
            body = json.loads(msg.payload)
        except ValueError:
            body = None
        self.messages.put((msg.topic, body, bool(msg.retain)))

    def publish(self, topic: str, payload: bytes | str | dict, retain: bool = False) -> None:
        data = json.dumps(payload, ensure_ascii=False) if isinstance(payload, dict) else payload
        self._client.publish(topic, data, qos=1, retain=retain).wait_for_publish(WAIT_S)

    def wait_for(self, match: Callable[[str, Any], bool], timeout: float = WAIT_S) -> Any:
        deadline = time.monotonic() + timeout
        for topic, body, retain in self.seen:
            if match(topic, body):
                return body
        while time.monotonic() < deadline:
            try:
                topic, body, retain = self.messages.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append((topic, body, retain))
            if match(topic, body):
                return body
        raise AssertionError(f"no matching message in {timeout}s; seen: {self.seen[-8:]}")

    def reply(self, topic: str, command_id: Any) -> dict:
        return self.wait_for(lambda t, b: t == topic and isinstance(b, dict) and b.get("id") == command_id)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
        close_socket(self._client)


class Server:
    """The engine + bus + bridge as `queuebox server` wires them, in this process."""

    def __init__(self, config: Any, db_path: Any, clock: FakeClock) -> None:
        self.db_path = db_path
        self.engine = Engine(config, db_path, clock=clock)
        self.topics = Topics(config.mqtt.root, config.site.id)
        self.bus = Bus(config.mqtt, self.topics, server_client_id(config),
                       subscriptions=self.topics.server_subscriptions(), retained=False)
        self.bridge = MqttBridge(self.engine, self.bus)
        self.bus.start()
        self._start_loop()
        assert self.bus.wait_connected(WAIT_S), "server bus did not connect"

    def _start_loop(self) -> None:
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.bridge.serve, args=(self.stop_event,), daemon=True)
        self.thread.start()

    @contextlib.contextmanager
    def held(self, messages: int) -> Iterator[None]:
        """Hold the bridge's loop until `messages` have piled up on its inbox: a burst that is
        queued when the loop looks, however fast or slow this machine is."""
        self.stop_event.set()
        self.thread.join(WAIT_S)
        yield
        deadline = time.monotonic() + WAIT_S
        while self.bus.inbox.qsize() < messages and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.bus.inbox.qsize() >= messages, "the burst did not reach the server's inbox"
        self._start_loop()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(WAIT_S)
        self.bus.stop()
        self.engine.close()


@pytest.fixture
def config(broker, mqtt_root):
    return make_config(mqtt={"host": broker.host, "port": broker.port, "root": mqtt_root})


@pytest.fixture
def topics(config):
    return Topics(config.mqtt.root, config.site.id)


@pytest.fixture
def server(config, tmp_path):
    s = Server(config, tmp_path / "q.db", FakeClock())
    yield s
    s.stop()


@pytest.fixture
def client(broker, topics):
    c = Client(broker, [f"{topics.root}/{topics.site}/#"])
    yield c
    c.close()


def db_rows(server: Server, sql: str) -> list[tuple]:
    conn = sqlite3.connect(server.db_path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_take_then_next_reaches_reply_events_board_and_state(server, client, topics):
    client.publish(topics.kiosk_take("kiosk1"), {"id": "t-1", "service": "A"})
    reply = client.reply(topics.kiosk_reply("kiosk1"), "t-1")
    assert reply["ok"] is True and reply["ticket"]["label"] == "A001"
    assert reply["ticket"]["service_name"] == "Đất đai"
    client.wait_for(lambda t, b: t == topics.events() and b["type"] == "issued" and b["ticket"] == "A001")
    client.wait_for(lambda t, b: t == topics.board() and b["waiting"]["A"] == 1)

    client.publish(topics.counter_command("2"), {"id": "n-1", "action": "next"})
    assert client.reply(topics.counter_reply("2"), "n-1")["ticket"]["label"] == "A001"
    board = client.wait_for(lambda t, b: t == topics.board() and b["calls"])
    assert board["calls"][0] == {"ticket": "A001", "counter": "2", "counter_name": "Quầy 2", "service": "A",
                                 "at": "2026-11-23T09:00:00.000+07:00", "recall": 0, "group": None}
    assert board["waiting"]["A"] == 0
    state = client.wait_for(lambda t, b: t == topics.counter_state("2") and b["state"] == "calling")
    assert state["ticket"] == "A001" and state["waiting"] == {"A": 0, "B": 0}
    assert state["seq"] == board["seq"]


def test_the_board_names_the_priority_group_of_a_called_ticket(server, client, topics):
    client.publish(topics.kiosk_take("kiosk1"), {"id": "t-1", "service": "A", "group": "CT"})
    assert client.reply(topics.kiosk_reply("kiosk1"), "t-1")["ticket"]["group"] == "CT"
    client.publish(topics.kiosk_take("kiosk1"), {"id": "t-2", "service": "A"})
    client.reply(topics.kiosk_reply("kiosk1"), "t-2")
    for n in (1, 2):
        client.publish(topics.counter_command("2"), {"id": f"n-{n}", "action": "next"})
        client.reply(topics.counter_reply("2"), f"n-{n}")
    board = client.wait_for(lambda t, b: t == topics.board() and len(b["calls"]) == 2)
    assert [(c["ticket"], c["group"]) for c in board["calls"]] == [("A002", None), ("A001", "CT")]
    assert parse_board(json.dumps(board))["calls"][1]["group"] == "CT"


def test_a_display_connecting_later_gets_the_retained_board(server, broker, topics, client):
    client.publish(topics.kiosk_take("kiosk1"), {"id": "t-1", "service": "B"})
    client.reply(topics.kiosk_reply("kiosk1"), "t-1")
    client.wait_for(lambda t, b: t == topics.board() and b["waiting"]["B"] == 1)
    late = Client(broker, [topics.board()])
    try:
        board = late.wait_for(lambda t, b: t == topics.board())
        assert board["waiting"]["B"] == 1
    finally:
        late.close()


@pytest.mark.parametrize("payload, code", [
    (b"not json", "bad_request"),
    (b"[1, 2]", "bad_request"),
    (b'{"service": "A"}', "bad_request"),
    (json.dumps({"id": "x" * 65, "service": "A"}).encode(), "bad_request"),
    (b'{"id": "p1", "service": "A", "priority": "yes"}', "bad_request"),
    (b'{"id": "p1", "service": 7}', "bad_request"),
    (b'{"id": "p1", "service": "Q"}', "unknown_service"),
    # over the 4 KiB payload limit, under the 8 KiB packet limit (bigger packets never reach the
    # server: tests/integration/test_mqtt_hardening.py)
    (b'{"id": "p1", "service": "A", ' + b'"pad": "' + b"x" * 6000 + b'"}', "bad_request"),
])
def test_bad_take_payloads_get_an_error_reply_and_the_server_goes_on(server, client, topics, payload, code):
    client.publish(topics.kiosk_take("kiosk1"), payload)
    reply = client.wait_for(lambda t, b: t == topics.kiosk_reply("kiosk1") and b is not None and not b["ok"])
    assert reply["error"]["code"] == code and reply["error"]["message"]
    client.publish(topics.kiosk_take("kiosk1"), {"id": "after", "service": "A"})
    assert client.reply(topics.kiosk_reply("kiosk1"), "after")["ticket"]["label"] == "A001"


@pytest.mark.parametrize("counter, payload, code", [
    ("9", {"id": "c1", "action": "next"}, "unknown_counter"),
    ("1", {"id": "c1", "action": "dance"}, "bad_request"),
    ("1", {"id": "c1", "action": "transfer"}, "bad_request"),
    ("1", {"id": "c1", "action": "done"}, "not_allowed"),
    ("1", {"action": "next"}, "bad_request"),
])
def test_bad_counter_commands_get_an_error_reply(server, client, topics, counter, payload, code):
    client.publish(topics.counter_command(counter), payload)
    reply = client.wait_for(lambda t, b: t == topics.counter_reply(counter) and b is not None and not b["ok"])
    assert reply["error"]["code"] == code
    assert reply["id"] == payload.get("id")


def test_a_repeated_command_id_gives_two_identical_replies_and_one_change(server, client, topics):
    for _ in range(2):
        client.publish(topics.kiosk_take("kiosk1"), {"id": "dup", "service": "C"})
    first = client.reply(topics.kiosk_reply("kiosk1"), "dup")
    client.seen.remove((topics.kiosk_reply("kiosk1"), first, False))
    second = client.reply(topics.kiosk_reply("kiosk1"), "dup")
    assert first == second
    assert db_rows(server, "SELECT label FROM tickets") == [("C001",)]


def test_commands_survive_a_broker_restart(server, client, broker, topics):
    sender = Client(broker, [])
    sent = threading.Event()

    def stream() -> None:  # a kiosk pressing on while the broker goes away and comes back
        for i in range(60):
            sender._client.publish(topics.kiosk_take("kiosk1"), json.dumps({"id": f"s{i}", "service": "A"}), qos=1)
            time.sleep(0.01)
        sent.set()

    threading.Thread(target=stream, daemon=True).start()
    client.reply(topics.kiosk_reply("kiosk1"), "s5")
    broker.restart()
    assert sent.wait(WAIT_S) and server.bus.wait_connected(WAIT_S)
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline and db_rows(server, "SELECT count(*) FROM commands")[0][0] < 60:
        time.sleep(0.05)
    sender.close()
    numbers = [n for (n,) in db_rows(server, "SELECT number FROM tickets ORDER BY number")]
    assert numbers == list(range(1, 61))
    assert db_rows(server, "SELECT count(*) FROM commands") == [(60,)]
    assert db_rows(server, "SELECT count(*) FROM events WHERE type = 'issued'") == [(60,)]
    board = client.wait_for(lambda t, b: t == topics.board() and b["waiting"]["A"] == 60)
    assert board["seq"] == db_rows(server, "SELECT max(seq) FROM events")[0][0]


def test_the_server_gets_commands_sent_while_it_was_down(config, tmp_path, client, topics):
    first = Server(config, tmp_path / "q.db", FakeClock())
    first.stop()  # clean disconnect: its persistent session stays on the broker
    for i in range(5):
        client.publish(topics.kiosk_take("kiosk1"), {"id": f"q{i}", "service": "B"})
    second = Server(config, tmp_path / "q.db", FakeClock())
    try:
        for i in range(5):
            assert client.reply(topics.kiosk_reply("kiosk1"), f"q{i}")["ok"]
        assert db_rows(second, "SELECT label FROM tickets ORDER BY id") == [(f"B00{i}",) for i in range(1, 6)]
    finally:
        second.stop()


def test_a_broker_that_lost_its_retained_board_gets_it_back(server, client, broker, topics):
    client.publish(topics.kiosk_take("kiosk1"), {"id": "t-1", "service": "A"})
    client.wait_for(lambda t, b: t == topics.board() and b["waiting"]["A"] == 1)
    client.publish(topics.board(), b"")  # wipe the retained board, as a broker without persistence would lose it
    broker.restart()
    assert server.bus.wait_connected(WAIT_S)
    late = Client(broker, [topics.board()])
    try:
        assert late.wait_for(lambda t, b: t == topics.board() and b is not None)["waiting"]["A"] == 1
    finally:
        late.close()


def test_mosquitto_pub_calls_the_next_ticket(server, client, broker, topics):
    client.publish(topics.kiosk_take("kiosk1"), {"id": "t-1", "service": "B"})
    client.reply(topics.kiosk_reply("kiosk1"), "t-1")
    subprocess.run(["mosquitto_pub", "-h", broker.host, "-p", str(broker.port), "-V", "mqttv5", "-q", "1",
                    "-t", topics.counter_command("3"), "-m", '{"id": "kp-0001", "action": "next"}'],
                   check=True, timeout=WAIT_S)
    assert client.reply(topics.counter_reply("3"), "kp-0001")["ticket"]["label"] == "B001"


@pytest.mark.parametrize("payload, code", [({"id": "r1", "score": 4}, "no_ticket"), ({"id": "r1", "score": 9}, "bad_request")])
def test_a_rating_with_nothing_finished_or_a_bad_score_is_refused(server, client, topics, payload, code):
    client.publish(topics.counter_rating("1"), payload)
    assert client.reply(topics.counter_reply("1"), "r1")["error"]["code"] == code
    assert db_rows(server, "SELECT count(*) FROM ratings") == [(0,)]


def served_at(client: Client, topics: Topics, counter: str = "1") -> None:
    """A001 issued, called and done at `counter`, through the broker."""
    client.publish(topics.kiosk_take("kiosk1"), {"id": "t-1", "service": "A"})
    client.reply(topics.kiosk_reply("kiosk1"), "t-1")
    for action in ("next", "done"):
        client.publish(topics.counter_command(counter), {"id": f"c-{action}", "action": action})
        assert client.reply(topics.counter_reply(counter), f"c-{action}")["ok"]


def test_a_rating_with_its_reason_records_both(server, client, topics):
    served_at(client, topics)
    client.publish(topics.counter_rating("1"), {"id": "r1", "score": 4, "reason": "Hướng dẫn chưa rõ"})
    assert client.reply(topics.counter_reply("1"), "r1") == {"id": "r1", "ok": True, "ticket": "A001", "score": 4,
                                                              "reason": "Hướng dẫn chưa rõ"}
    event = client.wait_for(lambda t, b: t == topics.events() and b["type"] == "rating_reason")
    assert (event["ticket"], event["counter"], event["reason"]) == ("A001", "1", "Hướng dẫn chưa rõ")
    assert db_rows(server, "SELECT score, reason FROM ratings") == [(4, "Hướng dẫn chưa rõ")]


def test_a_bad_reason_is_refused_and_the_score_kept(server, client, topics):
    served_at(client, topics)
    client.publish(topics.counter_rating("1"), {"id": "r1", "score": 3, "reason": "Quá ồn"})
    reply = client.reply(topics.counter_reply("1"), "r1")
    assert reply["ok"] is False and reply["error"]["code"] == "unknown_reason"
    assert (reply["ticket"], reply["score"]) == ("A001", 3)
    assert db_rows(server, "SELECT score, reason FROM ratings") == [(3, None)]
    client.publish(topics.counter_rating("1"), {"id": "r2", "score": 3, "reason": "x" * 61})  # not the protocol's
    assert client.reply(topics.counter_reply("1"), "r2")["error"]["code"] == "bad_request"
    client.publish(topics.counter_rating("1"), {"id": "r3", "score": 3, "reason": "Khác"})  # a later good one attaches
    assert client.reply(topics.counter_reply("1"), "r3")["reason"] == "Khác"
    assert db_rows(server, "SELECT score, reason FROM ratings") == [(3, "Khác")]


def test_an_older_keypad_rating_without_a_reason_works_as_before(server, client, topics):
    served_at(client, topics)
    client.publish(topics.counter_rating("1"), {"id": "r1", "score": 4})
    assert client.reply(topics.counter_reply("1"), "r1") == {"id": "r1", "ok": True, "ticket": "A001", "score": 4}
    assert db_rows(server, "SELECT score, reason FROM ratings") == [(4, None)]


def test_bus_connections_send_without_nagle_delay(server):
    sock = server.bus._client.socket()
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


def test_an_expired_take_is_not_issued_by_a_server_coming_back(config, tmp_path, client, topics):
    first = Server(config, tmp_path / "q.db", FakeClock())
    first.stop()  # its persistent session keeps collecting commands
    kiosk = Bus(config.mqtt, topics, "kiosk-test")
    kiosk.start()
    try:
        assert kiosk.wait_connected(WAIT_S)
        kiosk.publish(topics.kiosk_take("kiosk1"), {"id": "stale", "service": "A"}, expiry_s=1)
        kiosk.publish(topics.kiosk_take("kiosk1"), {"id": "fresh", "service": "A"}, expiry_s=60)
        time.sleep(2.5)  # the broker's clock: let the first one expire in the server's session
    finally:
        kiosk.stop()
    second = Server(config, tmp_path / "q.db", FakeClock())
    try:
        assert client.reply(topics.kiosk_reply("kiosk1"), "fresh")["ticket"]["label"] == "A001"
        assert db_rows(second, "SELECT id FROM commands") == [("kiosk/kiosk1:fresh",)]
    finally:
        second.stop()


def test_events_committed_but_never_published_are_sent_when_the_server_comes_back(config, tmp_path, client, topics):
    # a server killed between COMMIT and publish: here, an engine that commits with no bridge at all
    crashed = Engine(config, tmp_path / "q.db", clock=FakeClock())
    crashed.take("t1", "kiosk1", "A")
    lost = crashed.counter("c1", "1", "next").events  # the call the displays never heard
    crashed.close()
    assert lost and client.seen == []
    server = Server(config, tmp_path / "q.db", FakeClock())
    try:
        for record in lost:
            sent = client.wait_for(lambda t, b: t == topics.events() and b.get("seq") == record.seq)
            assert sent == record.message() and sent["ticket"] == "A001"
        board = client.wait_for(lambda t, b: t == topics.board())
        assert board["seq"] == lost[-1].seq  # the board follows the replayed events
        assert [b["seq"] for t, b, _ in client.seen if t == topics.events()] == sorted(
            b["seq"] for t, b, _ in client.seen if t == topics.events())
    finally:
        server.stop()


def test_a_message_paho_refuses_to_queue_is_counted_and_logged(config, topics, caplog):
    bus = Bus(config.mqtt, topics, "refusing")  # never started: everything waits in paho's queue
    bus._client.max_queued_messages_set(1)  # stands for paho's 65,535 unacknowledged messages
    with caplog.at_level("WARNING", logger="queuebox.bus"):
        bus.publish(topics.board(), {"seq": 1})
        bus.publish(topics.board(), {"seq": 2})
    assert bus.dropped == 1
    assert any("MQTT dropped a message to" in r.getMessage() and topics.board() in r.getMessage()
               for r in caplog.records)
    close_socket(bus._client)


def test_a_burst_of_commands_publishes_few_boards_and_only_changed_states(server, client, topics):
    with server.held(30):  # the 30 takes are queued before the loop handles the first
        for i in range(30):
            client.publish(topics.kiosk_take("kiosk1"), {"id": f"burst-{i}", "service": "C"})
    client.reply(topics.kiosk_reply("kiosk1"), "burst-29")
    board = client.wait_for(lambda t, b: t == topics.board() and b["waiting"].get("C") == 30)
    boards = [b for t, b, _ in client.seen if t == topics.board()]
    assert board is boards[-1] and len(boards) < 30  # coalesced, and the last one is up to date
    client.wait_for(lambda t, b: t == topics.counter_state("3") and b["waiting"]["C"] == 30)
    # counter 1 serves only A: its state did not change, so it was sent once (at connect) at most
    assert len([b for t, b, _ in client.seen if t == topics.counter_state("1")]) <= 1


def test_waiting_counts_held_back_in_a_counter_state_still_arrive(server, client, topics):
    client.publish(topics.kiosk_take("kiosk1"), {"id": "w-1", "service": "C"})
    client.wait_for(lambda t, b: t == topics.counter_state("3") and b["waiting"]["C"] == 1)  # C not empty: at once
    client.publish(topics.kiosk_take("kiosk1"), {"id": "w-2", "service": "C"})
    client.reply(topics.kiosk_reply("kiosk1"), "w-2")
    # only a count moved: sent within STATE_REFRESH_S although no other command comes
    assert client.wait_for(lambda t, b: t == topics.counter_state("3") and b["waiting"]["C"] == 2)["state"] == "idle"


def test_a_take_with_a_priority_group_gives_a_ticket_of_that_group(server, client, topics):
    client.publish(topics.kiosk_take("kiosk1"), {"id": "g-1", "service": "A", "group": "CT"})
    ticket = client.reply(topics.kiosk_reply("kiosk1"), "g-1")["ticket"]
    assert (ticket["label"], ticket["priority"], ticket["group"], ticket["group_name"]) == \
        ("A001", True, "CT", "Người cao tuổi")
    # an older kiosk: no group, or priority alone, works as before
    client.publish(topics.kiosk_take("kiosk1"), {"id": "g-2", "service": "A"})
    client.publish(topics.kiosk_take("kiosk1"), {"id": "g-3", "service": "A", "priority": True})
    assert client.reply(topics.kiosk_reply("kiosk1"), "g-2")["ticket"]["group"] is None
    old = client.reply(topics.kiosk_reply("kiosk1"), "g-3")["ticket"]
    assert (old["label"], old["priority"], old["group"], old["group_name"]) == ("A003", True, None, None)
    client.publish(topics.counter_command("1"), {"id": "n-1", "action": "next"})
    called = client.reply(topics.counter_reply("1"), "n-1")["ticket"]
    assert (called["label"], called["group"], called["group_name"]) == ("A001", "CT", "Người cao tuổi")
    assert db_rows(server, "SELECT label, priority, priority_group FROM tickets ORDER BY id") == [
        ("A001", 1, "CT"), ("A002", 0, None), ("A003", 1, None)]


@pytest.mark.parametrize("payload, message", [
    ({"id": "u-1", "service": "A", "group": "XX"}, "no priority group with code 'XX'; the groups are CT, KT, MT, CC, TE"),
    ({"id": "u-1", "service": "A", "group": "CT", "priority": False}, '"priority": false contradicts "group"'),
    ({"id": "u-1", "service": "A", "group": "ct"}, '"group" must be a priority group code'),
])
def test_a_take_of_an_unknown_or_contradicted_group_is_refused(server, client, topics, payload, message):
    client.publish(topics.kiosk_take("kiosk1"), payload)
    reply = client.reply(topics.kiosk_reply("kiosk1"), "u-1")
    assert reply["ok"] is False and reply["error"]["code"] == "bad_request"
    assert message in reply["error"]["message"]
    assert db_rows(server, "SELECT count(*) FROM tickets") == [(0,)]
