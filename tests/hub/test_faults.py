"""Faults between a centre and the hub, each with its defined behaviour and nothing lost:
the hub's PostgreSQL restarting mid-ingest, the hub broker away while thousands of events
pile up, a centre whose clock is a day ahead, a batch replayed after later ones."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta

import psycopg
import pytest

from hub.ingest import ingest
from hub.main import run_hub
from hub.store import centre, centre_reports, event_count
from queuebox.figures import Period
from queuebox.hub_protocol import Batch
from server.engine import Engine
from server.uplink import run_uplink
from server.uplink_source import EventSource
from tests.factories import FakeClock
from tests.hub.batches import DAY, batch, event, ticket_story
from tests.hub.site import hub_config, run_in_thread, wait_for
from tests.mqtt_broker import Broker
from tests.report_fixtures import MONDAY, ZONE, report_config, simulate_days

# The uplink backs off up to 30 s between reconnections while the hub broker is away.
DRAIN_TIMEOUT_S = 120.0


def _head(db) -> int:
    source = EventSource(db)
    try:
        return source.head()
    finally:
        source.close()


def _seqs(conn, centre_id) -> list[int]:
    return [r[0] for r in conn.execute("SELECT seq FROM events WHERE centre = %s ORDER BY seq", [centre_id])]


def test_postgresql_restarting_mid_ingest_loses_nothing_and_stores_each_event_once(
        tmp_path, mosquitto_path, postgres, hub_dsn, mqtt_root):
    db = tmp_path / "centre.db"
    simulate_days(db, [(MONDAY, 400)], seed=11)
    head = _head(db)
    broker = Broker(tmp_path / "hub-broker", executable=mosquitto_path).start()
    # Small batches, slowly: the restart lands while batches are in flight.
    config = hub_config(broker, hub_dsn, mqtt_root, batch_size=20, max_events_per_s=400)
    hub_stop, hub_thread = run_in_thread(run_hub, config)
    up_stop, up_thread = run_in_thread(run_uplink, config, str(db))
    try:
        with psycopg.connect(hub_dsn, autocommit=True) as conn:
            assert wait_for(lambda: 0 < event_count(conn, config.site.id) < head / 2)
        postgres.restart("immediate")  # a crash: open transactions are lost, not half-kept
        with psycopg.connect(hub_dsn, autocommit=True) as conn:
            assert wait_for(lambda: event_count(conn, config.site.id) == head, DRAIN_TIMEOUT_S), \
                f"{event_count(conn, config.site.id)} of {head} events after the restart"
            assert _seqs(conn, config.site.id) == list(range(1, head + 1))
            assert wait_for(lambda: centre(conn, config.site.id).acked == head)
    finally:
        up_stop.set(), hub_stop.set()
        up_thread.join(10), hub_thread.join(10)
        broker.stop()


def test_the_hub_broker_away_while_thousands_of_events_pile_up_then_the_backlog_drains(
        tmp_path, mosquitto_path, hub_dsn, mqtt_root):
    db = tmp_path / "centre.db"
    simulate_days(db, [(MONDAY, 10)], seed=12)
    broker = Broker(tmp_path / "hub-broker", executable=mosquitto_path).start()
    config = hub_config(broker, hub_dsn, mqtt_root)
    hub_stop, hub_thread = run_in_thread(run_hub, config)
    up_stop, up_thread = run_in_thread(run_uplink, config, str(db))
    try:
        with psycopg.connect(hub_dsn, autocommit=True) as conn:
            assert wait_for(lambda: event_count(conn, config.site.id) == _head(db))
            broker.stop()
            # The centre works on while its uplink cannot reach the province: 3,000 tickets issued.
            started = time.monotonic()
            issued = _issue(db, 3000)
            working_s = time.monotonic() - started
            head = _head(db)
            assert issued == 3000 and head > 3000
            assert up_thread.is_alive() and event_count(conn, config.site.id) < head
            broker.start()
            assert wait_for(lambda: event_count(conn, config.site.id) == head, DRAIN_TIMEOUT_S), \
                f"{event_count(conn, config.site.id)} of {head} events after the broker came back"
            assert _seqs(conn, config.site.id) == list(range(1, head + 1))
            assert working_s < 60, f"the centre's busy day took {working_s:.0f} s with the link down"
    finally:
        up_stop.set(), hub_stop.set()
        up_thread.join(10), hub_thread.join(10)
        broker.stop()


def _issue(db, tickets: int) -> int:
    """Issue `tickets` through the centre's engine the next day, a second apart; how many it issued."""
    clock = FakeClock(datetime.combine(MONDAY + timedelta(days=1), datetime.min.time(), ZONE) + timedelta(hours=7))
    engine = Engine(report_config(), db, clock=clock)
    try:
        done = 0
        for n in range(tickets):
            clock.advance(seconds=1)
            done += bool(engine.take(f"t{n}", "k1", "ABCD"[n % 4]).reply["ok"])
        return done
    finally:
        engine.close()


# --- a centre's clock a day ahead -----------------------------------------------------------

def _ahead(e):
    """The event as a centre whose clock is a day ahead writes it."""
    ahead = (date.fromisoformat(DAY) + timedelta(days=1)).isoformat()
    return type(e)(e.seq, e.at.replace(DAY, ahead), e.type, e.ticket, e.counter, e.actor, dict(e.data))


@pytest.fixture
def conn(hub_dsn):
    with psycopg.connect(hub_dsn) as connection:
        yield connection


def test_a_centre_whose_clock_is_a_day_ahead_is_stored_as_sent_and_counted_on_its_own_business_day(conn):
    """The hub keeps each event's time as the centre wrote it (and its own receipt time beside
    it), and a ticket counts on the business day the centre had open when it was issued
    (its `day_opened` events), exactly as the centre's own report counts it: the hub never
    moves a centre's tickets to another day by its own clock."""
    tomorrow = (date.fromisoformat(DAY) + timedelta(days=1)).isoformat()
    opened = event(1, "day_opened", counter=None, actor="system", day=tomorrow)
    story = [_ahead(e) for e in [opened] + ticket_story(2, 1, "A001")]
    ingest(conn, Batch("c1", 0, 1, tuple(story)))
    stored = conn.execute("SELECT at, received_at FROM events WHERE centre = 'c1' ORDER BY seq").fetchall()
    assert [at for at, _ in stored] == [e.at for e in story]
    assert conn.execute("SELECT day::text, issued_at FROM tickets WHERE centre = 'c1'").fetchall() == \
        [(tomorrow, story[1].at)]
    ahead_by = conn.execute("SELECT max(at::timestamptz - received_at) FROM events WHERE centre = 'c1'").fetchone()[0]
    assert ahead_by is not None  # what a dashboard shows as the centre's clock skew
    day_ahead = centre_reports(conn, "c1", Period.day(date.fromisoformat(tomorrow)), "service")["service"]
    today = centre_reports(conn, "c1", Period.day(date.fromisoformat(DAY)), "service")["service"]
    assert (day_ahead.totals.issued, day_ahead.totals.served, today.totals.issued) == (1, 1, 0)


def test_a_clock_jumping_a_day_ahead_within_an_open_day_keeps_tickets_on_that_day(conn):
    opened = event(1, "day_opened", counter=None, actor="system", day=DAY)
    story = [opened] + [_ahead(e) for e in ticket_story(2, 1, "A001")]
    ingest(conn, Batch("c1", 0, 1, tuple(story)))
    assert conn.execute("SELECT day::text FROM tickets WHERE centre = 'c1'").fetchall() == [(DAY,)]


# --- replayed and out of order ----------------------------------------------------------------

def test_an_old_batch_replayed_after_later_ones_changes_nothing_and_keeps_the_ack(conn):
    ingest(conn, batch("c1", 1, 10))
    ingest(conn, batch("c1", 11, 20))
    latest = ingest(conn, batch("c1", 21, 30))
    replayed = ingest(conn, batch("c1", 5, 15))
    assert replayed.inserted == 0 and replayed.ack == latest.ack and replayed.ack.seq == 30
    assert conn.execute("SELECT count(*) FROM events WHERE centre = 'c1'").fetchone()[0] == 30
