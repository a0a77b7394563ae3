"""A centre's uplink and the hub over a real Mosquitto (the hub broker) into a real PostgreSQL:
every event arrives once, in order, and a hub broker away for a while loses nothing."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import psycopg
import pytest

from hub.main import run_hub
from hub.store import centre, event_count
from server.uplink import run_uplink
from server.uplink_source import EventSource
from tests.mqtt_broker import Broker
from tests.report_fixtures import MONDAY, report_config, simulate_days


def _config(broker, hub_dsn, root):
    base = report_config()
    from dataclasses import replace
    return replace(base, uplink=replace(base.uplink, host=broker.host, port=broker.port, tls=False, root=root,
                                        batch_size=50, ack_timeout_s=2.0, poll_s=0.05),
                   hub=replace(base.hub, host=broker.host, port=broker.port, root=root, database=hub_dsn,
                               username="", client_id=f"hub-{root}"))


def _run(target, *args):
    stop = threading.Event()
    thread = threading.Thread(target=target, args=args, kwargs={"stop": stop}, daemon=True)
    thread.start()
    return stop, thread


def _wait_for(predicate, timeout_s=30.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)  # polling another process's progress, not test logic
    return False


@pytest.fixture
def centre_db(tmp_path):
    path = tmp_path / "centre.db"
    simulate_days(path, [(MONDAY, 60), (MONDAY + timedelta(days=1), 60)], seed=3)
    return path


def test_every_event_reaches_postgresql_once_through_an_outage_of_the_hub_broker(
        tmp_path, mosquitto_path, hub_dsn, centre_db, mqtt_root):
    broker = Broker(tmp_path / "hub-broker", executable=mosquitto_path).start()
    config = _config(broker, hub_dsn, mqtt_root)
    source = EventSource(centre_db)
    head = source.head()
    source.close()
    hub_stop, hub_thread = _run(run_hub, config)
    up_stop, up_thread = _run(run_uplink, config, str(centre_db))
    try:
        with psycopg.connect(hub_dsn, autocommit=True) as conn:
            assert _wait_for(lambda: event_count(conn, config.site.id) == head), "not every event arrived"
            broker.stop()
            time.sleep(1.0)  # the broker is away for a while
            broker.start()
            assert _wait_for(lambda: (c := centre(conn, config.site.id)) is not None and c.live is not None
                             and c.setup is not None)
            found = centre(conn, config.site.id)
            assert found.acked == head and event_count(conn, config.site.id) == head
            seqs = [r[0] for r in conn.execute("SELECT seq FROM events ORDER BY seq")]
            assert seqs == list(range(1, head + 1))
            assert {"waiting", "served_today", "services", "faults", "software"} <= set(found.live)
    finally:
        up_stop.set(), hub_stop.set()
        up_thread.join(10), hub_thread.join(10)
        broker.stop()


def test_the_uplink_never_writes_the_centres_database(tmp_path, mosquitto_path, hub_dsn, centre_db, mqtt_root):
    before = centre_db.read_bytes()
    broker = Broker(tmp_path / "hub-broker", executable=mosquitto_path).start()
    config = _config(broker, hub_dsn, mqtt_root)
    hub_stop, hub_thread = _run(run_hub, config)
    up_stop, up_thread = _run(run_uplink, config, str(centre_db))
    try:
        with psycopg.connect(hub_dsn, autocommit=True) as conn:
            assert _wait_for(lambda: event_count(conn, config.site.id) > 0)
    finally:
        up_stop.set(), hub_stop.set()
        up_thread.join(10), hub_thread.join(10)
        broker.stop()
    assert centre_db.read_bytes() == before
