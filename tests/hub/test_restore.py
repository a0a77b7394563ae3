"""`queuebox restore --from-hub`: a centre whose SD card died gets its history back from the hub
(real engine, real uplink, real hub over a real Mosquitto into a real PostgreSQL), its numbering
carries on, its reports are the same, and the uplink resumes from the hub's ack.
Bad input (hub broker unreachable, no history, a part missing, a database already there) is a
clear error and nothing is written."""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest

from hub.main import run_hub
from hub.store import centre, event_count
from queuebox.cli import main
from queuebox.hub_protocol import (HistoryPart, HubTopics, ProtocolError, RestoreRequest, decode_batch,
                                   decode_history, decode_restore, encode_history, encode_restore)
from server.engine import Engine
from server.reports import DIMENSIONS, Period, open_readonly, reports
from server.restore import RestoreError, restore_from_hub
from server.uplink import run_uplink
from server.uplink_source import EventSource
from tests.factories import FakeClock
from tests.hub.site import hub_config, run_in_thread, wait_for
from tests.mqtt_broker import Broker, free_port
from tests.report_fixtures import MONDAY, report_config, simulate_days

TICKET_COLUMNS = ("id, day, service, number, label, priority, kiosk, status, queue, front, issued_at, called_at, "
                  "started_at, finished_at, counter, call_count, transferred_from")  # all but the random token


def _rows(path: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {"events": conn.execute("SELECT seq, at, type, ticket, counter, actor FROM events ORDER BY seq").fetchall(),
                "data": [json.loads(d) for (d,) in conn.execute("SELECT data FROM events ORDER BY seq")],
                "tickets": conn.execute(f"SELECT {TICKET_COLUMNS} FROM tickets ORDER BY id").fetchall(),
                "ratings": conn.execute("SELECT * FROM ratings ORDER BY ticket").fetchall(),
                "days": conn.execute("SELECT * FROM days ORDER BY day").fetchall(),
                "counters": conn.execute("SELECT * FROM counters ORDER BY id").fetchall()}
    finally:
        conn.close()


def _reports(path: Path) -> dict:
    db = open_readonly(path)
    try:
        return reports(db, Period.month(MONDAY), *DIMENSIONS)
    finally:
        db.close()


def _take(path: Path, clock: FakeClock, service: str) -> dict:
    engine = Engine(report_config(), path, clock=clock)
    try:
        reply = engine.take("after-restore", "k1", service).reply
    finally:
        engine.close()
    assert reply["ok"], reply
    return reply["ticket"]


class EventsProbe:
    """Records the `from` of every batch the centre sends to the hub broker."""

    def __init__(self, broker: Broker, topics: HubTopics) -> None:
        self.firsts: list[int] = []
        self.ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe(topics.events, qos=1)
        self.client.on_subscribe = lambda c, u, mid, r, p: self.ready.set()
        self.client.on_message = lambda c, u, msg: self.firsts.append(decode_batch(msg.payload, topics.centre).first)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert self.ready.wait(10)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_a_centre_restored_from_the_hub_carries_on_where_it_stopped(tmp_path, mosquitto_path, hub_dsn, mqtt_root):
    path = tmp_path / "centre.db"
    simulate_days(path, [(MONDAY, 60), (MONDAY + timedelta(days=1), 70)], seed=5)
    original, original_reports = _rows(path), _reports(path)
    last_at = original["events"][-1][1]
    broker = Broker(tmp_path / "hub-broker", executable=mosquitto_path).start()
    config = hub_config(broker, hub_dsn, mqtt_root)
    head = len(original["events"])
    hub_stop, hub_thread = run_in_thread(run_hub, config)
    try:
        up_stop, up_thread = run_in_thread(run_uplink, config, str(path))
        with psycopg.connect(hub_dsn, autocommit=True) as conn:
            assert wait_for(lambda: (c := centre(conn, config.site.id)) is not None and c.acked == head)
        up_stop.set(), up_thread.join(10)

        # What the lost card would have said next, on a copy of it.
        clock = FakeClock(datetime.fromisoformat(last_at) + timedelta(minutes=1))
        copy = tmp_path / "copy.db"
        copy.write_bytes(path.read_bytes())
        expected = _take(copy, clock, "B")

        path.unlink()  # the SD card died
        done = restore_from_hub(config, path)
        assert done.events == head and done.moved_aside is None
        assert not list(tmp_path.glob("centre.db.restoring*"))
        restored = _rows(path)
        assert restored["events"] == original["events"]
        assert restored["data"] == original["data"]
        for table in ("tickets", "ratings", "days", "counters"):
            assert restored[table] == original[table], table
        assert _reports(path) == original_reports

        ticket = _take(path, clock, "B")
        assert ticket["label"] == expected["label"]
        numbers = [r[3] for r in original["tickets"] if r[1] == str(MONDAY + timedelta(days=1)) and r[2] == "B"]
        assert _rows(path)["tickets"][-1][3] == max(numbers) + 1 and ticket["label"].endswith(str(max(numbers) + 1))

        # The uplink on the restored file sends only what came after the hub's ack.
        probe = EventsProbe(broker, HubTopics(mqtt_root, config.site.id))
        up_stop, up_thread = run_in_thread(run_uplink, config, str(path))
        try:
            with psycopg.connect(hub_dsn, autocommit=True) as conn:
                assert wait_for(lambda: (c := centre(conn, config.site.id)) is not None and c.acked == head + 1)
                assert event_count(conn, config.site.id) == head + 1
                assert conn.execute("SELECT epoch FROM centres WHERE id = %s", [config.site.id]).fetchone()[0] == 1
        finally:
            up_stop.set(), up_thread.join(10)
            probe.stop()
        assert probe.firsts and min(probe.firsts) == head + 1
    finally:
        hub_stop.set(), hub_thread.join(10)
        broker.stop()


def test_the_command_refuses_a_database_that_holds_events_and_force_moves_it_aside(tmp_path, capsys):
    path = tmp_path / "queuebox.db"
    simulate_days(path, [(MONDAY, 5)], seed=1)
    before = path.read_bytes()
    example = Path(__file__).resolve().parents[2] / "config" / "queuebox.example.toml"
    assert main(["restore", "--from-hub", "--config", str(example), "--database", str(path)]) == 1
    assert "already holds" in capsys.readouterr().err and path.read_bytes() == before


def test_an_unreachable_hub_broker_is_a_clear_error_and_writes_nothing(tmp_path, mosquitto_path, mqtt_root):
    broker = Broker(tmp_path / "b", executable=mosquitto_path)  # never started: nobody listens on its port
    broker.port = free_port()
    config = hub_config(broker, "dbname=unused", mqtt_root)
    path = tmp_path / "queuebox.db"
    with pytest.raises(RestoreError, match="cannot reach the hub broker"):
        restore_from_hub(config, path, connect_timeout_s=1.0)
    assert list(tmp_path.glob("queuebox.db*")) == []


def test_a_centre_the_hub_never_heard_of_is_told_so_and_nothing_is_written(tmp_path, mosquitto_path, hub_dsn,
                                                                          mqtt_root):
    with Broker(tmp_path / "hub-broker", executable=mosquitto_path) as broker:
        config = hub_config(broker, hub_dsn, mqtt_root)
        hub_stop, hub_thread = run_in_thread(run_hub, config)
        try:
            with pytest.raises(RestoreError, match="no history of centre"):
                restore_from_hub(config, tmp_path / "queuebox.db", answer_timeout_s=5.0)
        finally:
            hub_stop.set(), hub_thread.join(10)
    assert list(tmp_path.glob("queuebox.db*")) == []


class ScriptedHub:
    """Answers restore requests on a real broker with the events of `source`, in parts of
    `size`, leaving out the part at index `drop` of the first `lossy` answers."""

    def __init__(self, broker: Broker, topics: HubTopics, source: Path, *, size: int, drop: int, lossy: int) -> None:
        src = EventSource(source)
        self.events = src.events(1, 100000)
        src.close()
        self.topics, self.size, self.drop, self.lossy = topics, size, drop, lossy
        self.requests: list[int] = []
        self.ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe(topics.restore, qos=1)
        self.client.on_subscribe = lambda c, u, mid, r, p: self.ready.set()
        self.client.on_message = self._answer
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert self.ready.wait(10)

    def _answer(self, client, userdata, msg) -> None:
        req = decode_restore(msg.payload)
        self.requests.append(req.first)
        wanted = [e for e in self.events if e.seq >= req.first]
        upto = self.events[-1].seq
        for i in range(0, len(wanted), self.size):
            if len(self.requests) <= self.lossy and i // self.size == self.drop:
                continue
            chunk = tuple(wanted[i:i + self.size])
            part = HistoryPart(self.topics.centre, req.request, 1, chunk[0].seq, upto, chunk)
            client.publish(self.topics.history, encode_history(part), qos=1)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def lost_card(tmp_path):
    path = tmp_path / "lost.db"
    simulate_days(path, [(MONDAY, 40)], seed=9)
    return path


def test_a_missing_part_is_asked_for_again_from_where_it_stopped(tmp_path, mosquitto_path, mqtt_root, lost_card):
    with Broker(tmp_path / "hub-broker", executable=mosquitto_path) as broker:
        config = hub_config(broker, "dbname=unused", mqtt_root)
        hub = ScriptedHub(broker, HubTopics(mqtt_root, config.site.id), lost_card, size=50, drop=2, lossy=1)
        try:
            done = restore_from_hub(config, tmp_path / "queuebox.db", answer_timeout_s=1.5)
        finally:
            hub.stop()
    assert hub.requests == [1, 101]
    assert done.events == len(hub.events)
    assert _rows(tmp_path / "queuebox.db")["tickets"] == _rows(lost_card)["tickets"]


def test_a_part_missing_every_time_fails_clearly_and_writes_nothing(tmp_path, mosquitto_path, mqtt_root, lost_card):
    with Broker(tmp_path / "hub-broker", executable=mosquitto_path) as broker:
        config = hub_config(broker, "dbname=unused", mqtt_root)
        hub = ScriptedHub(broker, HubTopics(mqtt_root, config.site.id), lost_card, size=50, drop=0, lossy=99)
        try:
            with pytest.raises(RestoreError, match="stopped at seq 0 of"):
                restore_from_hub(config, tmp_path / "queuebox.db", answer_timeout_s=1.0, attempts=2)
        finally:
            hub.stop()
    assert hub.requests == [1, 1]
    assert list(tmp_path.glob("queuebox.db*")) == []


@pytest.mark.parametrize("payload, message", [
    (b'{"v": 1, "request": "short", "from": 1}', "request must be 8 to 64"),
    (b'{"v": 1, "request": "abcdefgh12", "from": 0}', "from must be a whole number"),
    (b'{"v": 2, "request": "abcdefgh12", "from": 1}', "version 2"),
    (b"not json", "not JSON"),
])
def test_a_restore_request_that_is_not_one_is_refused(payload, message):
    with pytest.raises(ProtocolError, match=message):
        decode_restore(payload)
    assert decode_restore(encode_restore(RestoreRequest("abcdefgh12", 7))) == RestoreRequest("abcdefgh12", 7)


def test_a_history_part_for_another_centre_or_past_its_end_is_refused(lost_card):
    src = EventSource(lost_card)
    events = tuple(src.events(1, 3))
    src.close()
    part = HistoryPart("xa-an-phu", "abcdefgh12", 1, 1, 3, events)
    assert decode_history(encode_history(part), "xa-an-phu") == part
    with pytest.raises(ProtocolError, match="history of centre 'xa-an-phu' on the topic of 'phuong-1'"):
        decode_history(encode_history(part), "phuong-1")
    with pytest.raises(ProtocolError, match="past upto 2"):
        decode_history(encode_history(HistoryPart("xa-an-phu", "abcdefgh12", 1, 1, 2, events)), "xa-an-phu")
