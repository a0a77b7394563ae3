"""The business day and the clock: midnight, a clock set back or forward, a restart on a stale clock.

What is promised (DESIGN invariant 7, queuebox/clock.py):
- Midnight (local, config time zone) opens the next business day by itself, even if no command
  comes: yesterday's waiting, called and serving tickets are ended as `cancelled` (event reason
  `day_closed`, finished at the opening time), counters are freed (paused ones stay paused),
  numbering restarts at each service's `number_start`, and the board and counter states are
  published at once (`Engine.open_day_if_due`, run every second by the server).
- A clock that jumps back (an hour, or to before the last ticket after a restart) is held at
  the last recorded time until it catches up: recorded times never go backwards, the day never
  moves back, numbers continue; waiting and service times are never negative.
- A clock that jumps forward a day opens that day. If the jump was wrong and the clock comes back
  (NTP corrects it), the later day stays, and recorded times stay held at the last (future) time
  until the clock reaches it. Consequences the technician should know: until then, times in the
  reports are flat (waits and service times of 0), and when the real calendar reaches that date
  no new day opens (it is already open), so numbering continues through it. No number is ever
  given twice. The technician fixes the time source (NTP, or an RTC module) and lets it run: the
  next midnight after the clock catches up opens a day as usual.

Most tests drive the engine with a fake clock; the last one moves the clock of a real
`queuebox server` process (QUEUEBOX_CLOCK_OFFSET_FILE) through all of it, over a real broker.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import date, datetime, timedelta, timezone

import pytest

from queuebox.protocol import Topics
from server import reports
from server.engine import Engine
from server.store import EventRecord
from tests.factories import FakeClock, make_config
from tests.helpers.server_process import ServerProcess, Watcher, set_clock

VN = timezone(timedelta(hours=7))
SERVICES = [{"code": "A", "name_vi": "Đất đai"}, {"code": "B", "name_vi": "Hộ tịch"},
            {"code": "C", "name_vi": "Kinh doanh", "number_start": 500}]


def vn(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A time in Ho Chi Minh City, November 2026 (the 23rd is a Monday)."""
    return datetime(2026, 11, day, hour, minute, second, tzinfo=VN)


def rows(db_path, sql, params=()):
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def assert_times_never_go_back(db_path):
    """Recorded times are in commit order, and no ticket's times run backwards (raw, not the
    reports' clamped figures)."""
    at = [datetime.fromisoformat(a) for (a,) in rows(db_path, "SELECT at FROM events ORDER BY seq")]
    assert at == sorted(at), "an event was recorded earlier than the one before it"
    negative = rows(db_path, """SELECT label FROM tickets WHERE julianday(called_at) < julianday(issued_at)
                                OR julianday(started_at) < julianday(called_at)
                                OR julianday(finished_at) < julianday(coalesce(started_at, called_at, issued_at))""")
    assert negative == []


@pytest.fixture
def clock():
    return FakeClock(vn(23, 23, 58))


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "queuebox.db"


@pytest.fixture
def engine(db_path, clock):
    e = Engine(make_config(services=SERVICES), db_path, clock=clock)
    yield e
    e.close()


def test_midnight_opens_the_day_without_a_command(engine, db_path, clock):
    heard: list[tuple[EventRecord, ...]] = []
    engine.add_listener(heard.append)
    for i, service in enumerate("AAAC"):
        engine.take(f"t{i}", "k", service)
    engine.counter("n1", "1", "next")  # A001 called at counter 1
    engine.counter("n2", "2", "next")  # A002 ...
    engine.counter("s2", "2", "start")  # ... served at counter 2
    engine.counter("p3", "3", "pause", reason="họp")
    clock.now = vn(23, 23, 59, 59)
    assert engine.open_day_if_due() == ()
    heard.clear()

    clock.now = vn(24, 0, 0, 1)  # 17:00:01 UTC: a new day only in Vietnam
    opened = engine.open_day_if_due()
    assert [(r.type, r.ticket.label if r.ticket else None) for r in opened] == [
        ("cancelled", "A001"), ("cancelled", "A002"), ("cancelled", "A003"), ("cancelled", "C500"),
        ("day_opened", None)]
    assert heard == [opened], "the listeners (MQTT bridge, live pages) were not told"
    assert opened[-1].data == {"day": "2026-11-24", "previous": "2026-11-23"}
    assert all(r.data["reason"] == "day_closed" and r.at == "2026-11-24T00:00:01.000+07:00" for r in opened[:-1])
    assert rows(db_path, "SELECT label, status, finished_at FROM tickets ORDER BY id") == [
        (label, "cancelled", "2026-11-24T00:00:01.000+07:00") for label in ("A001", "A002", "A003", "C500")]

    board, counters = engine.snapshots()
    assert board["seq"] == opened[-1].seq and board["calls"] == []
    assert board["waiting"] == {"A": 0, "B": 0, "C": 0}
    assert {cid: (c["state"], c["ticket"]) for cid, c in counters.items()} == {
        "1": ("idle", None), "2": ("idle", None), "3": ("paused", None)}
    assert engine.snapshot().day == date(2026, 11, 24)
    assert engine.open_day_if_due() == ()  # once

    clock.advance(hours=8)
    first = engine.take("t9", "k", "C")
    assert first.reply["ticket"]["label"] == "C500"  # numbering restarts at number_start
    assert [r.type for r in first.events] == ["issued"]
    assert engine.take("t10", "k", "A").reply["ticket"]["label"] == "A001"
    assert rows(db_path, "SELECT day FROM days ORDER BY day") == [("2026-11-23",), ("2026-11-24",)]


def test_a_rating_window_open_at_midnight_stays_open(engine, clock):
    engine.take("t1", "k", "A")
    engine.counter("n1", "1", "next")
    clock.now = vn(23, 23, 59, 50)
    engine.counter("d1", "1", "done")
    clock.now = vn(24, 0, 0, 5)
    assert [r.type for r in engine.open_day_if_due()] == ["day_opened"]
    assert engine.rate("r1", "1", 1).reply == {"id": "r1", "ok": True, "ticket": "A001", "score": 1}


def test_a_new_database_opens_its_first_day_on_its_first_command(engine, db_path):
    assert engine.open_day_if_due() == ()
    assert rows(db_path, "SELECT count(*) FROM events") == [(0,)]
    assert [r.type for r in engine.take("t1", "k", "A").events] == ["day_opened", "issued"]


def test_a_day_opened_by_another_process_is_not_opened_twice(engine, db_path, clock):
    engine.take("t1", "k", "A")
    clock.now = vn(24, 8, 0)
    other = Engine(make_config(services=SERVICES), db_path, clock=clock)
    try:
        assert other.take("t2", "k", "B").reply["ticket"]["label"] == "B001"
    finally:
        other.close()
    assert engine.open_day_if_due() == ()
    assert rows(db_path, "SELECT count(*) FROM events WHERE type = 'day_opened'") == [(2,)]


@pytest.mark.parametrize("start", [vn(24, 10, 0), vn(24, 0, 30)], ids=["morning", "just-after-midnight"])
def test_a_clock_set_back_an_hour_holds_time_and_keeps_the_day(db_path, start):
    clock = FakeClock(start)
    engine = Engine(make_config(services=SERVICES), db_path, clock=clock)
    try:
        engine.take("t1", "k", "A")
        engine.counter("n1", "1", "next")
        clock.advance(minutes=2)
        engine.counter("s1", "1", "start")
        clock.advance(hours=-1)  # back an hour (across midnight for the second case)
        assert engine.now() == start + timedelta(minutes=2), "engine.now() runs backwards"
        second = engine.take("t2", "k", "A").reply["ticket"]
        assert second["label"] == "A002" and datetime.fromisoformat(second["issued_at"]) == start + timedelta(minutes=2)
        assert engine.open_day_if_due() == ()
        engine.counter("d1", "1", "done")
        engine.counter("n2", "1", "next")
        engine.record("user_changed", "web/admin", {"login": "an"})
        clock.advance(hours=1, minutes=5)  # caught up: time runs again
        engine.counter("d2", "1", "done")
        assert engine.snapshot().day == start.date()
    finally:
        engine.close()
    assert rows(db_path, "SELECT day, number FROM tickets ORDER BY id") == [(start.date().isoformat(), 1),
                                                                           (start.date().isoformat(), 2)]
    assert rows(db_path, "SELECT count(*) FROM events WHERE type = 'day_opened'") == [(1,)]
    assert_times_never_go_back(db_path)
    assert rows(db_path, "SELECT max(at) FROM events") == [((start + timedelta(minutes=7)).isoformat(timespec="milliseconds"),)]
    facts = reports.ticket_facts(reports.open_readonly(db_path), reports.Period.day(start.date()))
    assert [(f.label, f.wait_s is not None and f.wait_s >= 0, f.service_s is not None and f.service_s >= 0)
            for f in facts] == [("A001", True, True), ("A002", True, True)]


def test_a_clock_a_day_ahead_then_corrected_keeps_the_later_day(engine, db_path, clock):
    clock.now = vn(23, 9, 0)
    engine.take("t1", "k", "A")  # A001 of the 23rd
    clock.now = vn(24, 9, 0)  # wrong: a day ahead
    assert [r.type for r in engine.open_day_if_due()] == ["cancelled", "day_opened"]
    assert engine.take("t2", "k", "A").reply["ticket"]["label"] == "A001"  # of the 24th
    clock.now = vn(23, 9, 5)  # NTP puts it right
    third = engine.take("t3", "k", "A").reply["ticket"]
    assert third["label"] == "A002" and third["issued_at"] == "2026-11-24T09:00:00.000+07:00"  # held
    assert engine.snapshot().day == date(2026, 11, 24) and engine.open_day_if_due() == ()
    clock.now = vn(24, 0, 0, 1)  # the real midnight: the 24th is open already, numbers go on
    assert engine.open_day_if_due() == ()
    assert engine.take("t4", "k", "A").reply["ticket"]["label"] == "A003"
    clock.now = vn(25, 0, 0, 1)  # the next midnight opens a day as usual
    assert [r.type for r in engine.open_day_if_due()] == ["cancelled", "cancelled", "cancelled", "day_opened"]
    assert engine.take("t5", "k", "A").reply["ticket"]["label"] == "A001"
    assert rows(db_path, "SELECT day, number FROM tickets ORDER BY id") == [
        ("2026-11-23", 1), ("2026-11-24", 1), ("2026-11-24", 2), ("2026-11-24", 3), ("2026-11-25", 1)]
    assert_times_never_go_back(db_path)


def test_a_restart_on_a_clock_before_the_last_ticket_holds_time_and_reuses_nothing(db_path, caplog):
    config = make_config(services=SERVICES)
    first = Engine(config, db_path, clock=FakeClock(vn(24, 10, 0)))
    first.take("t1", "k", "A")
    first.counter("n1", "1", "next")
    first.close()
    stale = FakeClock(vn(24, 10, 0) - timedelta(days=30))  # the Pi booted on an old saved time
    second = Engine(config, db_path, clock=stale)
    try:
        with caplog.at_level(logging.WARNING, logger="server.engine"):
            assert second.snapshot().day == date(2026, 11, 24)
            assert second.now() == vn(24, 10, 0)
            reply = second.take("t2", "k", "A").reply["ticket"]
            second.take("t3", "k", "A")
        assert reply["label"] == "A002" and reply["issued_at"] == "2026-11-24T10:00:00.000+07:00"
        assert [r.getMessage().startswith("clock is behind the last recorded event") for r in caplog.records] == [True]
        assert second.open_day_if_due() == ()
        stale.now = vn(24, 10, 1)  # NTP synced: time runs again from there
        assert second.take("t4", "k", "A").reply["ticket"]["issued_at"] == "2026-11-24T10:01:00.000+07:00"
    finally:
        second.close()
    assert rows(db_path, "SELECT day, number FROM tickets ORDER BY id") == [("2026-11-24", n) for n in (1, 2, 3, 4)]
    assert_times_never_go_back(db_path)


# --- a real server process whose clock moves -----------------------------------------------------

def test_a_real_server_across_midnight_and_clock_jumps(tmp_path, broker, mqtt_root):
    """One `queuebox server` process: midnight with no command, back an hour, restarted on a
    clock a month early, a day forward, then corrected back."""
    clock_file = tmp_path / "clock-offset"
    db_path = tmp_path / "queuebox.db"
    config = make_config(services=SERVICES, mqtt={"host": broker.host, "port": broker.port, "root": mqtt_root},
                         database={"path": str(db_path)})
    topics = Topics(mqtt_root, config.site.id)
    watch = Watcher(broker.host, broker.port, f"{mqtt_root}/{config.site.id}")
    server = ServerProcess(config, tmp_path / "server", clock_file)

    def take(command_id: str, service: str = "A") -> dict:
        mark = len(watch.seen)
        watch.publish(topics.kiosk_take("k1"), {"id": command_id, "service": service})
        reply = watch.wait_for(lambda t, b: t == topics.kiosk_reply("k1") and b["id"] == command_id, start=mark)
        assert reply["ok"], reply
        return reply["ticket"]

    def command(command_id: str, counter: str, action: str) -> dict:
        mark = len(watch.seen)
        watch.publish(topics.counter_command(counter), {"id": command_id, "action": action})
        return watch.wait_for(lambda t, b: t == topics.counter_reply(counter) and b["id"] == command_id, start=mark)

    try:
        set_clock(clock_file, vn(23, 23, 0))
        server.start()
        assert take("a")["label"] == "A001" and take("b")["label"] == "A002"
        assert command("n1", "1", "next")["ticket"]["label"] == "A001"
        watch.wait_for(lambda t, b: t == topics.board() and b["waiting"]["A"] == 1)
        assert server.health()["day"] == "2026-11-23"

        # a second before midnight; the clock runs into it by itself and nobody presses anything
        mark = len(watch.seen)
        set_clock(clock_file, vn(23, 23, 59, 59))
        day_opened = watch.wait_for(lambda t, b: t == topics.events() and b["type"] == "day_opened", start=mark)
        assert day_opened["day"] == "2026-11-24" and day_opened["at"] >= "2026-11-24T00:00:00.000+07:00"
        board = watch.wait_for(lambda t, b: t == topics.board() and b["seq"] == day_opened["seq"], start=mark)
        assert board["waiting"] == {"A": 0, "B": 0, "C": 0} and board["calls"] == []
        state = watch.wait_for(lambda t, b: t == topics.counter_state("1") and b["seq"] == day_opened["seq"],
                               start=mark)
        assert state["state"] == "idle" and state["ticket"] is None
        assert server.health()["day"] == "2026-11-24" and server.health()["waiting"]["A"] == 0
        assert take("c")["label"] == "A001"

        set_clock(clock_file, vn(23, 23, 10))  # back almost an hour, across midnight
        held = take("d")
        assert held["label"] == "A002" and held["issued_at"] >= "2026-11-24T00:00:00.000+07:00"
        assert server.health()["day"] == "2026-11-24"

        server.stop()
        set_clock(clock_file, vn(24, 0, 0) - timedelta(days=30))  # restarted on a clock a month early
        server.start()
        assert server.health()["day"] == "2026-11-24"
        early = take("e")
        assert early["label"] == "A003" and early["issued_at"] >= held["issued_at"]

        mark = len(watch.seen)
        set_clock(clock_file, vn(25, 9, 0))  # a day forward: the 25th opens by itself
        watch.wait_for(lambda t, b: t == topics.events() and b["type"] == "day_opened" and b["day"] == "2026-11-25",
                       start=mark)
        assert take("f")["label"] == "A001"
        set_clock(clock_file, vn(24, 9, 0))  # corrected back: the 25th stays, numbers go on
        assert take("g")["label"] == "A002" and server.health()["day"] == "2026-11-25"
    finally:
        server.stop()
        watch.close()
    assert rows(db_path, "SELECT day, label FROM tickets ORDER BY id") == [
        ("2026-11-23", "A001"), ("2026-11-23", "A002"), ("2026-11-24", "A001"), ("2026-11-24", "A002"),
        ("2026-11-24", "A003"), ("2026-11-25", "A001"), ("2026-11-25", "A002")]
    assert rows(db_path, "SELECT day FROM days ORDER BY day") == [("2026-11-23",), ("2026-11-24",), ("2026-11-25",)]
    assert_times_never_go_back(db_path)
