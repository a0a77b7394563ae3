"""Random command streams through the engine on a real SQLite file, with what
tests/test_invariants.py leaves out: the administration reconfiguring services, counters
and the queue policy mid-stream (accepted or refused), command ids repeated with a
different command, counters and services that do not exist (or exist only after a
reconfigure), bad scores. The invariants are checked on the engine and on the file after
every step, and once more after a restart on the same file. And each check of
tests/fuzz/invariants.py finds the breach it is for.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from queuebox.errors import ConfigError
from server import store
from server.engine import Engine
from tests.factories import ALL_DAYS, FakeClock, make_config
from tests.fuzz.invariants import check_database, recorded_replies
from tests.test_invariants import check_holding

SERVICES = [{"code": "A", "name_vi": "Đất đai", "number_end": 4}, {"code": "B", "name_vi": "Hộ tịch"},
            {"code": "C", "name_vi": "Kinh doanh"}]
COUNTERS = [{"id": "1", "name": "Quầy 1", "services": {"A": 1}}, {"id": "2", "name": "Quầy 2", "services": {"A": 1, "B": 1}},
            {"id": "3", "name": "Quầy 3", "services": {"B": 2, "C": 1}}]
D = {"code": "D", "name_vi": "Lao động", "open_days": ALL_DAYS, "hours": []}
OPEN = {"open_days": ALL_DAYS, "hours": []}
# Sections the administration might save: some are refused (a counter serving a service that
# is gone, a service with people waiting removed, a counter holding a ticket removed).
CHANGES = [
    {"queue": {"priority": "strict"}},
    {"queue": {"priority": "interleave", "interleave_every": 1, "transfer_position": "first", "no_show_min_calls": 1}},
    {"services": [{**s, **OPEN} for s in SERVICES] + [D]},
    {"services": [{**s, **OPEN} for s in SERVICES[:2]]},
    {"services": [{**SERVICES[0], **OPEN, "number_end": 2}, {**SERVICES[1], **OPEN}, {**SERVICES[2], **OPEN}]},
    {"services": [{**s, **OPEN, "override": "closed"} for s in SERVICES]},
    {"counters": COUNTERS + [{"id": "4", "name": "Quầy 4", "services": {"A": 1, "D": 3}}]},
    {"counters": COUNTERS + [{"id": "4", "name": "Quầy 4", "services": {"C": 1}}]},
    {"counters": COUNTERS[:2]},
    {"counters": [{**COUNTERS[0], "services": {"B": 1}}] + COUNTERS[1:]},
    {"message": "Nghỉ trưa 11:30"},
]
KIOSKS = ["k1", "k2"]
ALL_COUNTERS = ["1", "2", "3", "4", "9", "-"]
ALL_SERVICES = ["A", "B", "C", "D", "Z"]
LABELS = ["A001", "A002", "A003", "B001", "B002", "C001", "D001", "Z001"]
ACTIONS = ["next"] * 4 + ["recall", "start", "done", "done", "no_show", "transfer", "call", "pause", "resume", "jump"]

ids = st.one_of(st.integers(0, 3).map(lambda n: ("again", n)), st.just(("new", 0)), st.just(("new", 0)))
step = st.one_of(
    st.tuples(st.just("take"), st.sampled_from(KIOSKS), st.sampled_from(ALL_SERVICES), st.booleans(), ids),
    st.tuples(st.just("counter"), st.sampled_from(ALL_COUNTERS), st.sampled_from(ACTIONS),
              st.sampled_from(ALL_SERVICES), st.sampled_from(LABELS), ids),
    st.tuples(st.just("counter"), st.sampled_from(["1", "2", "3"]), st.just("next"), st.just("A"), st.just(""), ids),
    st.tuples(st.just("rate"), st.sampled_from(ALL_COUNTERS), st.integers(0, 5), ids),
    st.tuples(st.just("reconfigure"), st.sampled_from(range(len(CHANGES)))),
    st.tuples(st.just("tick"), st.sampled_from([0, 1, 30, 90])),
    st.tuples(st.just("day")),
)


class Run:
    """One engine on one file, the stream applied step by step, with the ids each origin used."""

    def __init__(self, path: Any) -> None:
        self.path = path
        self.clock = FakeClock()
        self.config = make_config(services=SERVICES, counters=COUNTERS)
        self.engine = Engine(self.config, path, clock=self.clock)
        self.used: dict[str, list[str]] = {}
        self.first: dict[str, dict[str, Any]] = {}
        self.n = 0

    def command_id(self, origin: str, choice: tuple[str, int]) -> str:
        used = self.used.setdefault(origin, [])
        if choice[0] == "again" and used:
            return used[choice[1] % len(used)]
        self.n += 1
        used.append(f"c{self.n}")
        return used[-1]

    def apply(self, step: tuple) -> None:
        kind = step[0]
        seq_before = store.head(self.engine._db)[0]
        if kind == "tick":
            self.clock.advance(seconds=step[1])
        elif kind == "day":
            self.clock.advance(days=1)
        elif kind == "reconfigure":
            try:
                self.engine.reconfigure(CHANGES[step[1]], "fuzz")
            except ConfigError:  # refused: nothing changed
                event("reconfigure refused")
                assert store.head(self.engine._db)[0] == seq_before
            else:
                event("reconfigure applied")
                assert store.head(self.engine._db)[0] == seq_before + 1
        else:
            origin, command_id, result = self.command(step)
            key = f"{origin}:{command_id}"
            event("ok" if result.reply["ok"] else result.reply["error"]["code"])
            if key in self.first:  # 3. a repeated id gets the first reply again and changes nothing
                event("repeated id")
                assert result.duplicate and result.reply == self.first[key] and not result.events
                assert store.head(self.engine._db)[0] == seq_before
            else:
                assert not result.duplicate and result.reply["id"] == command_id
                assert (result.reply["ok"] is True) or result.reply["error"]["code"]
                self.first[key] = result.reply
            assert [r.seq for r in result.events] == list(range(seq_before + 1, seq_before + 1 + len(result.events)))

    def command(self, step: tuple) -> tuple[str, str, Any]:
        if step[0] == "take":
            _, kiosk, service, priority, choice = step
            command_id = self.command_id(f"kiosk/{kiosk}", choice)
            return f"kiosk/{kiosk}", command_id, self.engine.take(command_id, kiosk, service, priority)
        if step[0] == "rate":
            _, counter, score, choice = step
            command_id = self.command_id(f"counter/{counter}", choice)
            return f"counter/{counter}", command_id, self.engine.rate(command_id, counter, score)
        _, counter, action, to, label, choice = step
        command_id = self.command_id(f"counter/{counter}", choice)
        return f"counter/{counter}", command_id, self.engine.counter(command_id, counter, action, to=to,
                                                                     ticket=label or None, reason="r")

    def check(self) -> None:
        state = self.engine.snapshot()
        check_holding(state)
        assert set(state.counters) == {c.id for c in self.engine.config.counters}
        assert check_database(self.path, self.engine.config.queue.rating_window_s) == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stream=st.lists(step, min_size=1, max_size=40))
def test_streams_with_reconfiguration_and_repeated_ids_keep_the_invariants(tmp_path_factory, stream):
    run = Run(tmp_path_factory.mktemp("db") / "q.db")
    try:
        for s in stream:
            run.apply(s)
            run.check()
        before = run.engine.snapshot()
        board, counters = run.engine.snapshots()
        assert board["seq"] == store.head(run.engine._db)[0]
    finally:
        run.engine.close()
    assert recorded_replies(run.path) == run.first
    # a restart on the same file reads back the same state, under the saved configuration
    again = Engine(make_config(services=SERVICES, counters=COUNTERS), run.path, clock=FakeClock(run.clock.now))
    try:
        after = again.snapshot()
        assert after.tickets == before.tickets and after.counters == before.counters
        assert again.config == run.engine.config
        assert again.snapshots() == (board, counters)
    finally:
        again.close()


CORRUPTIONS = [
    ("UPDATE tickets SET number = 7 WHERE label = 'B001'", "number 7 after 0"),
    ("UPDATE counters SET ticket = NULL WHERE id = '1'", "counter 1 is calling without a ticket"),
    ("UPDATE counters SET state = 'idle', ticket = NULL WHERE id = '1'", "A001 is called at 1 but held by None"),
    ("UPDATE counters SET ticket = (SELECT ticket FROM counters WHERE id = '1') WHERE id = '2'", "held by counters"),
    ("UPDATE tickets SET status = 'done' WHERE label = 'A002'", "is done, its events say waiting"),
    ("DELETE FROM events WHERE seq = 2", "event seq 3 where 2 was due"),
    ("UPDATE events SET at = '2020-01-01T00:00:00.000+07:00' WHERE seq = 3", "is before the one before it"),
    ("UPDATE tickets SET label = 'A001', status = 'waiting' WHERE label = 'A002'", "label A001 is active 2 times"),
    ("UPDATE commands SET reply = '{\"id\": \"other\", \"ok\": true}'", "recorded reply"),
    ("INSERT INTO ratings (ticket, counter, score, at) SELECT id, '1', 1, issued_at FROM tickets WHERE label = 'A002'",
     "rating of ticket"),
]


@pytest.mark.parametrize("sql,finding", CORRUPTIONS)
def test_check_database_finds_each_broken_invariant(tmp_path, sql, finding):
    engine = Engine(make_config(services=SERVICES, counters=COUNTERS), tmp_path / "q.db", clock=FakeClock())
    for n, service in enumerate(["A", "A", "B"]):
        engine.take(f"t{n}", "k1", service)
    engine.counter("n1", "1", "next")
    engine.close()
    assert check_database(tmp_path / "q.db") == []
    conn = sqlite3.connect(tmp_path / "q.db")
    conn.execute(sql)
    conn.commit()
    conn.close()
    assert any(finding in problem for problem in check_database(tmp_path / "q.db")), check_database(tmp_path / "q.db")
