"""A centre's uplink and the hub over a real Mosquitto (the hub broker) into a real PostgreSQL:
every event arrives once, in order, and a hub broker away for a while loses nothing."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import psycopg
import pytest

from hub.main import run_hub
from hub.store import centre, event_count
from server import uplink
from server.uplink import run_uplink
from server.uplink_source import EventSource
from tests.hub.site import hub_config, run_in_thread, wait_for
from tests.mqtt_broker import Broker
from server.engine import Engine
from tests.factories import FakeClock
from tests.report_fixtures import MONDAY, ZONE, report_config, simulate_days


@pytest.fixture
def centre_db(tmp_path):
    path = tmp_path / "centre.db"
    simulate_days(path, [(MONDAY, 60), (MONDAY + timedelta(days=1), 60)], seed=3)
    return path


def test_every_event_reaches_postgresql_once_through_an_outage_of_the_hub_broker(
        tmp_path, mosquitto_path, hub_dsn, centre_db, mqtt_root):
    broker = Broker(tmp_path / "hub-broker", executable=mosquitto_path).start()
    config = hub_config(broker, hub_dsn, mqtt_root)
    source = EventSource(centre_db)
    head = source.head()
    source.close()
    hub_stop, hub_thread = run_in_thread(run_hub, config)
    up_stop, up_thread = run_in_thread(run_uplink, config, str(centre_db))
    try:
        with psycopg.connect(hub_dsn, autocommit=True) as conn:
            assert wait_for(lambda: event_count(conn, config.site.id) == head), "not every event arrived"
            broker.stop()
            time.sleep(1.0)  # the broker is away for a while
            broker.start()
            assert wait_for(lambda: (c := centre(conn, config.site.id)) is not None and c.live is not None
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
    config = hub_config(broker, hub_dsn, mqtt_root)
    hub_stop, hub_thread = run_in_thread(run_hub, config)
    up_stop, up_thread = run_in_thread(run_uplink, config, str(centre_db))
    try:
        with psycopg.connect(hub_dsn, autocommit=True) as conn:
            assert wait_for(lambda: event_count(conn, config.site.id) > 0)
    finally:
        up_stop.set(), hub_stop.set()
        up_thread.join(10), hub_thread.join(10)
        broker.stop()
    assert centre_db.read_bytes() == before


def test_a_quiet_centre_is_still_heard_from_by_its_heartbeat(tmp_path, mosquitto_path, hub_dsn, mqtt_root,
                                                             monkeypatch):
    # A centre with nobody waiting (a day opened, no ticket): its live summary never changes.
    quiet_db = tmp_path / "quiet.db"
    clock = FakeClock(datetime.combine(MONDAY, datetime.min.time(), ZONE) + timedelta(hours=7))
    Engine(report_config(), quiet_db, clock=clock).close()
    monkeypatch.setattr(uplink, "LIVE_HEARTBEAT_S", 1.0)
    broker = Broker(tmp_path / "hub-broker", executable=mosquitto_path).start()
    config = hub_config(broker, hub_dsn, mqtt_root)
    hub_stop, hub_thread = run_in_thread(run_hub, config)
    up_stop, up_thread = run_in_thread(uplink.run_uplink, config, str(quiet_db))
    try:
        with psycopg.connect(hub_dsn, autocommit=True) as conn:
            assert wait_for(lambda: (c := centre(conn, config.site.id)) is not None and c.live_at is not None)
            first = centre(conn, config.site.id)
            assert wait_for(lambda: centre(conn, config.site.id).live_at > first.live_at, 10.0), \
                "the hub heard nothing more from a centre whose summary did not change"
            assert centre(conn, config.site.id).live == first.live
    finally:
        up_stop.set(), hub_stop.set()
        up_thread.join(10), hub_thread.join(10)
        broker.stop()
