"""The engine on a real SQLite file: durability, idempotency, errors, days and clocks."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from queuebox.errors import SchemaTooNewError
from server import store
from server.engine import Engine
from tests.factories import MONDAY_9AM, FakeClock, make_config

VN = timezone(timedelta(hours=7))


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "queuebox.db"


@pytest.fixture
def engine(db_path, clock):
    e = Engine(make_config(), db_path, clock=clock)
    yield e
    e.close()


def rows(db_path, sql, params=()):
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def test_take_reply_matches_the_protocol(engine):
    reply = engine.take("k1-0001", "kiosk1", "A").reply
    ticket = reply["ticket"]
    assert reply["id"] == "k1-0001" and reply["ok"] is True
    assert ticket["label"] == "A001" and ticket["service"] == "A" and ticket["service_name"] == "Đất đai"
    assert ticket["issued_at"] == "2026-11-23T09:00:00.000+07:00"
    assert ticket["waiting_ahead"] == 0 and ticket["estimated_wait_min"] == 0
    assert ticket["status_url"].startswith("http://queuebox.local:8080/t/")


def test_a_committed_ticket_is_in_the_file_before_the_reply(engine, db_path):
    engine.take("c1", "kiosk1", "B", priority=True)
    assert rows(db_path, "SELECT label, status, priority, kiosk FROM tickets") == [("B001", "waiting", 1, "kiosk1")]
    assert [r[0] for r in rows(db_path, "SELECT type FROM events ORDER BY seq")] == ["day_opened", "issued"]


def test_a_repeated_command_id_changes_state_once(engine, db_path):
    first = engine.take("same-id", "kiosk1", "A")
    again = engine.take("same-id", "kiosk1", "A")
    assert again.duplicate and not first.duplicate
    assert again.reply == first.reply and again.events == ()
    assert rows(db_path, "SELECT count(*) FROM tickets") == [(1,)]


def test_the_same_id_from_two_devices_is_two_commands(engine):
    a = engine.take("1", "kiosk1", "A").reply["ticket"]["label"]
    b = engine.take("1", "kiosk2", "A").reply["ticket"]["label"]
    assert (a, b) == ("A001", "A002")


def test_a_repeated_failed_command_gets_its_first_error(engine, db_path):
    first = engine.counter("n1", "1", "next")  # empty queue: ok, no ticket
    engine.take("t1", "kiosk1", "A")
    again = engine.counter("n1", "1", "next")
    assert first.reply == again.reply == {"id": "n1", "ok": True, "ticket": None}
    assert rows(db_path, "SELECT status FROM tickets") == [("waiting",)]


@pytest.mark.parametrize("call, code", [
    (lambda e: e.take("x", "k", "Q"), "unknown_service"),
    (lambda e: e.counter("x", "99", "next"), "unknown_counter"),
    (lambda e: e.counter("x", "1", "done"), "not_allowed"),
    (lambda e: e.counter("x", "1", "fly"), "bad_request"),
    (lambda e: e.counter("x" * 65, "1", "next"), "bad_request"),
    (lambda e: e.counter("", "1", "next"), "bad_request"),
])
def test_a_refused_command_changes_nothing(engine, db_path, call, code):
    engine.take("warm", "k", "A")
    before = rows(db_path, "SELECT * FROM tickets"), rows(db_path, "SELECT * FROM events"), \
        rows(db_path, "SELECT * FROM counters")
    result = call(engine)
    assert result.reply["ok"] is False and result.reply["error"]["code"] == code
    assert result.reply["error"]["message"]
    assert result.events == ()
    assert (rows(db_path, "SELECT * FROM tickets"), rows(db_path, "SELECT * FROM events"),
            rows(db_path, "SELECT * FROM counters")) == before


def test_closed_service_and_daily_limit(db_path, clock):
    config = make_config(services=[{"code": "A", "name_vi": "Đất đai", "daily_limit": 1,
                                    "hours": ["07:30-11:30"]}],
                         counters=[{"id": "1", "name": "Quầy 1", "services": {"A": 1}}])
    engine = Engine(config, db_path, clock=clock)
    assert engine.take("1", "k", "A").ok
    assert engine.take("2", "k", "A").reply["error"]["code"] == "daily_limit"
    clock.now = datetime(2026, 11, 24, 12, 0, tzinfo=VN)
    assert engine.take("3", "k", "A").reply["error"]["code"] == "service_closed"
    engine.close()


def test_every_state_change_is_one_event_row(engine, db_path):
    engine.take("t1", "k", "A")
    engine.counter("c1", "1", "next")
    engine.counter("c2", "1", "recall")
    engine.counter("c3", "1", "start")
    engine.counter("c4", "1", "done")
    events = rows(db_path, "SELECT seq, type, ticket, counter, actor, data FROM events ORDER BY seq")
    assert [e[1] for e in events] == ["day_opened", "issued", "called", "recalled", "started", "done"]
    assert [e[0] for e in events] == [1, 2, 3, 4, 5, 6]
    assert events[2][3:5] == ("1", "counter/1")
    assert json.loads(events[3][5]) == {"call_count": 2, "queue": "A", "label": "A001"}
    ticket = rows(db_path, "SELECT status, counter, call_count, called_at, started_at, finished_at FROM tickets")
    assert ticket == [("done", "1", 2, "2026-11-23T09:00:00.000+07:00", "2026-11-23T09:00:00.000+07:00",
                       "2026-11-23T09:00:00.000+07:00")]


def test_restart_continues_numbering_and_queue(db_path, clock):
    first = Engine(make_config(), db_path, clock=clock)
    for i in range(3):
        first.take(f"t{i}", "k", "A")
    first.counter("n", "1", "next")
    first.close()
    second = Engine(make_config(), db_path, clock=clock)
    assert second.take("t9", "k", "A").reply["ticket"]["label"] == "A004"
    assert second.counter("n2", "2", "next").reply["ticket"]["label"] == "A002"
    assert second.counter("n3", "1", "done").reply["ticket"]["label"] == "A001"
    second.close()


def test_two_engines_on_one_file_see_each_other(db_path, clock):
    a = Engine(make_config(), db_path, clock=clock)
    b = Engine(make_config(), db_path, clock=clock)
    assert a.take("1", "k", "A").reply["ticket"]["label"] == "A001"
    assert b.take("2", "k", "A").reply["ticket"]["label"] == "A002"
    assert a.counter("3", "1", "next").reply["ticket"]["label"] == "A001"
    assert b.counter("4", "2", "next").reply["ticket"]["label"] == "A002"
    a.close()
    b.close()


def test_midnight_local_time_opens_a_new_day(engine, db_path, clock):
    clock.now = datetime(2026, 11, 23, 23, 59, tzinfo=VN)
    engine.take("1", "k", "A")
    engine.take("2", "k", "A")
    engine.counter("3", "1", "next")
    clock.now = datetime(2026, 11, 24, 0, 0, 1, tzinfo=VN)  # 17:00:01 UTC: a new day only in Vietnam
    result = engine.take("4", "k", "A")
    assert result.reply["ticket"]["label"] == "A001"
    assert [e.type for e in result.events] == ["cancelled", "cancelled", "day_opened", "issued"]
    assert rows(db_path, "SELECT day, label, status FROM tickets ORDER BY id") == [
        ("2026-11-23", "A001", "cancelled"), ("2026-11-23", "A002", "cancelled"), ("2026-11-24", "A001", "waiting")]
    assert rows(db_path, "SELECT day FROM days ORDER BY day") == [("2026-11-23",), ("2026-11-24",)]
    assert engine.snapshot().counters["1"].state == "idle"


def test_a_failed_command_still_opens_the_new_day(engine, db_path, clock):
    engine.take("1", "k", "A")
    clock.advance(days=1)
    assert engine.counter("2", "1", "done").reply["ok"] is False
    assert rows(db_path, "SELECT status FROM tickets") == [("cancelled",)]
    assert engine.snapshot().day.isoformat() == "2026-11-24"


def test_a_clock_set_back_a_day_never_reopens_the_old_day(engine, db_path, clock):
    engine.take("1", "k", "A")
    clock.advance(days=1)
    engine.take("2", "k", "A")  # A001 of the 24th
    clock.advance(days=-1, hours=1)  # the Pi rebooted with a stale clock
    reply = engine.take("3", "k", "A").reply
    assert reply["ticket"]["label"] == "A002"
    assert rows(db_path, "SELECT day, number FROM tickets ORDER BY id") == [
        ("2026-11-23", 1), ("2026-11-24", 1), ("2026-11-24", 2)]
    # recorded time is held at the last event until the clock catches up
    assert reply["ticket"]["issued_at"] == "2026-11-24T09:00:00.000+07:00"
    at = [r[0] for r in rows(db_path, "SELECT at FROM events ORDER BY seq")]
    assert at == sorted(at)


def test_a_restart_with_a_clock_behind_the_last_ticket_reuses_no_number(db_path, clock):
    first = Engine(make_config(), db_path, clock=clock)
    clock.advance(days=1)
    first.take("1", "k", "A")
    first.close()
    stale = FakeClock(MONDAY_9AM - timedelta(days=30))
    second = Engine(make_config(), db_path, clock=stale)
    assert second.take("2", "k", "A").reply["ticket"]["label"] == "A002"
    second.close()
    assert rows(db_path, "SELECT day, number FROM tickets ORDER BY id") == [("2026-11-24", 1), ("2026-11-24", 2)]


def test_a_database_from_a_newer_schema_is_refused(db_path):
    Engine(make_config(), db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
                 "VALUES ('queuebox', '0999_from_the_future', '2030-01-01')")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaTooNewError, match="newer queuebox"):
        Engine(make_config(), db_path)


def test_database_settings_are_wal_and_fully_synchronous(db_path):
    db = store.open_database(db_path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    db.close()


def test_estimate_in_the_reply_counts_people_ahead(engine):
    for i in range(3):
        engine.take(f"t{i}", "k", "A")
    ticket = engine.take("t9", "k", "A").reply["ticket"]
    # counters 1 and 2 serve A, service_min defaults to 10: 3 ahead × 10 / 2 = 15
    assert (ticket["waiting_ahead"], ticket["estimated_wait_min"]) == (3, 15)


def test_command_ids_are_remembered_for_two_days_then_forgotten(engine, db_path, clock):
    first = engine.take("k1-0001", "kiosk1", "A").reply
    engine.counter("c1-0001", "1", "next")
    clock.advance(days=1, hours=23)
    assert engine.prune_commands(keep_at_least=0) == 0
    repeat = engine.take("k1-0001", "kiosk1", "A")  # a re-send within the window: the first reply
    assert repeat.duplicate and repeat.reply == first
    clock.advance(hours=1, seconds=1)
    assert engine.prune_commands() == 0  # too few to prune: the newest 10,000 stay whatever the clock says
    assert engine.prune_commands(keep_at_least=0) == 2
    assert rows(db_path, "SELECT count(*) FROM commands") == [(0,)]
    assert rows(db_path, "SELECT count(*) FROM events WHERE type IN ('issued', 'called')") == [(2,)]  # history stays


def test_pruning_deletes_in_batches_and_keeps_recent_ids(db_path, clock):
    engine = Engine(make_config(), db_path, clock=clock)
    try:
        for i in range(7):
            engine.take(f"old-{i}", "k", "B")
        clock.advance(days=3)
        engine.take("new", "k", "B")
        assert engine.prune_commands(batch=3, keep_at_least=0) == 7
        assert rows(db_path, "SELECT id FROM commands") == [("kiosk/k:new",)]
        assert engine.take("new", "k", "B").duplicate
    finally:
        engine.close()


def test_a_clock_far_ahead_does_not_forget_the_newest_ids(engine, db_path, clock):
    for i in range(5):
        engine.take(f"k-{i}", "kiosk1", "A")
    clock.advance(days=365)  # a clock set a year ahead: every id looks old
    assert engine.prune_commands(keep_at_least=3) == 2
    assert rows(db_path, "SELECT id FROM commands ORDER BY rowid") == [(f"kiosk/kiosk1:k-{i}",) for i in (2, 3, 4)]
    assert engine.take("k-4", "kiosk1", "A").duplicate
