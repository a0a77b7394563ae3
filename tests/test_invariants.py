"""Property tests: random command streams keep the invariants of DESIGN.md §3,
on the pure rules and through the engine on a real SQLite file; and a ticket has at most
one rating, made after it was done and within the rating window."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from queuebox.errors import CommandRejected
from server import rating_rules, rules, store
from server.engine import Engine
from server.rules import HELD, QueueState
from tests.factories import MONDAY_9AM, FakeClock, make_config

SERVICES = ["A", "B", "C"]
COUNTERS = ["1", "2", "3"]

GROUPS = ["CT", "KT", "MT", "CC", "TE"]  # the default priority groups; "XX" is none of them
take = st.tuples(st.just("take"), st.sampled_from(SERVICES + ["Z"]), st.booleans(),
                 st.sampled_from([None, None, None, *GROUPS, "XX"]))
counter_command = st.tuples(
    st.just("counter"), st.sampled_from(COUNTERS),
    st.sampled_from(["next"] * 4 + ["recall", "start", "done", "no_show", "transfer", "call", "pause", "resume"]),
    st.sampled_from(SERVICES), st.sampled_from(["A001", "A002", "B001", "C001", "A003"]))
tick = st.tuples(st.just("tick"), st.integers(min_value=0, max_value=90))
next_day = st.tuples(st.just("day"))
rate = st.tuples(st.just("rate"), st.sampled_from(COUNTERS), st.integers(min_value=0, max_value=5))
commands = st.lists(st.one_of(take, take, counter_command, counter_command, counter_command, tick, next_day, rate),
                    max_size=60)
# Streams where citizens are served and rate (the streams above rarely finish a ticket): an
# episode is a take, a next and a finish at one counter, a wait of some seconds, a rating.
wait = st.tuples(st.just("wait"), st.integers(min_value=0, max_value=90))  # seconds
episode = st.tuples(st.just("serve"), st.sampled_from(COUNTERS), st.sampled_from(["done", "next", "no_show", "call"]),
                    st.integers(min_value=0, max_value=90), st.integers(min_value=0, max_value=5))
SERVES = {"1": "A", "2": "B", "3": "C"}


def expand(stream):
    """Episodes into the commands they stand for; other commands as they are."""
    out = []
    for cmd in stream:
        if cmd[0] != "serve":
            out.append(cmd)
            continue
        _, counter, finish, seconds, score = cmd
        service = SERVES[counter]
        out += [("take", service, False), ("counter", counter, "next", service, ""),
                ("counter", counter, "recall", service, "")]
        if finish == "call":  # a ticket called out of turn finishes the held one
            out += [("take", service, False), ("counter", counter, "call", service, f"{service}002")]
        else:
            out.append(("counter", counter, finish, service, ""))
        out += [("wait", seconds), ("rate", counter, score)]
    return out


rating_commands = st.lists(st.one_of(episode, episode, wait, rate, next_day), min_size=1, max_size=20).map(expand)
policies = st.fixed_dictionaries({
    "priority": st.sampled_from(["strict", "interleave"]),
    "interleave_every": st.integers(1, 3),
    "transfer_position": st.sampled_from(["keep", "first"]),
    "no_show_min_calls": st.integers(1, 2),
})


def config_for(policy):
    return make_config(services=[{"code": "A", "name_vi": "Đất đai", "number_end": 5},
                                 {"code": "B", "name_vi": "Hộ tịch"}, {"code": "C", "name_vi": "Kinh doanh"}],
                       queue=policy)


def check_holding(state: QueueState) -> None:
    """Invariant 4: a ticket is held by at most one counter, a counter holds at most one ticket."""
    held = {}
    for cid, c in state.counters.items():
        if c.ticket is not None:
            t = state.tickets[c.ticket]
            assert t.status in HELD and t.counter == cid
            assert c.state in ("calling", "serving")
            assert t.id not in held
            held[t.id] = cid
        else:
            assert c.state in ("idle", "paused")
    for t in state.tickets.values():
        if t.status in HELD:
            assert held.get(t.id) == t.counter


def check_call_order(before: QueueState, outcome: rules.Outcome, counter: str) -> None:
    """Invariant 5 (strict policy): the called ticket comes first in its weight tier."""
    called = [e.ticket for e in outcome.events if e.type == "called"]
    if not called or before.config.queue.priority != "strict":
        return
    weights = before.config.counter(counter).services
    t = called[0]
    rivals = [w for w in outcome.state.tickets.values() if w.status == "waiting"
              and weights.get(w.queue) == weights[t.queue]]
    key = lambda x: (not x.priority, not x.front, x.id)  # noqa: E731
    assert all(key(t) < key(r) for r in rivals)
    assert not any(w.status == "waiting" and weights.get(w.queue, 0) > weights[t.queue]
                   for w in outcome.state.tickets.values())


def check_ratings(events) -> None:
    """A ticket has at most one rating, made after it was done (by the rating counter) and
    within the window; no-show, transferred or cancelled tickets are never rated."""
    done: dict[int, rules.Ticket] = {}
    rated: set[int] = set()
    for e in events:
        if e.type == "done":
            done[e.ticket.id] = e.ticket
        elif e.type == "rated":
            t = done.get(e.ticket.id)
            assert t is not None and t.counter == e.counter and e.ticket == t
            assert e.ticket.id not in rated
            assert 1 <= e.data["score"] <= 4
            rated.add(e.ticket.id)


def run_rules(config, stream):
    """Apply `stream` to the pure rules; returns the final state and every event."""
    clock = MONDAY_9AM
    state = rules.empty_state(config, date(2026, 11, 23))
    events = []
    for cmd in stream:
        kind = cmd[0]
        if kind == "tick":
            clock += timedelta(minutes=cmd[1])
            continue
        if kind == "wait":
            clock += timedelta(seconds=cmd[1])
            continue
        if kind == "day":
            clock += timedelta(days=1)
            outcome = rules.open_day(state, state.day + timedelta(days=1), clock)
        else:
            try:
                if kind == "take":
                    outcome = rules.issue_ticket(state, cmd[1], clock, token=f"t{state.next_id}", priority=cmd[2],
                                                 group=cmd[3] if len(cmd) > 3 else None)
                elif kind == "rate":
                    outcome = rating_rules.rate(state, cmd[1], cmd[2], clock)
                    finished = state.finished[cmd[1]].ticket.finished_at
                    assert timedelta(0) <= clock - finished <= timedelta(seconds=config.queue.rating_window_s)
                else:
                    _, counter, action, to, label = cmd
                    outcome = rules.counter_action(state, counter, action, clock, to=to, ticket=label, reason="r")
            except CommandRejected:
                continue
        if kind == "counter" and cmd[2] == "next":
            check_call_order(state, outcome, cmd[1])
        state = outcome.state
        events.extend(outcome.events)
        check_holding(state)
    return state, events


@settings(max_examples=300, deadline=None)
@given(policy=policies, stream=commands)
def test_rules_keep_the_invariants(policy, stream):
    state, events = run_rules(config_for(policy), stream)
    check_ratings(events)
    issued = [e.ticket for e in events if e.type == "issued"]
    # 1. (day, service, number) unique, and numbers grow by one within a day
    keys = [(t.day, t.service, t.number) for t in issued]
    assert len(keys) == len(set(keys))
    last: dict = {}
    for t in issued:
        assert t.number == last.get((t.day, t.service), 0) + 1
        last[(t.day, t.service)] = t.number
    # 6. every state change is an event: the last event of a ticket is the ticket as it is now
    latest = {}
    for e in events:
        if e.ticket is not None:
            latest[e.ticket.id] = e.ticket
    for t in state.tickets.values():
        assert latest[t.id] == t
    for t in latest.values():
        if t.status in ("waiting", "called", "serving", "no_show") and t.day == state.day:
            assert state.tickets[t.id] == t


def apply_to_engine(engine: Engine, clock: FakeClock, stream) -> list:
    replies = []
    for n, cmd in enumerate(stream):
        if cmd[0] == "tick":
            clock.advance(minutes=cmd[1])
        elif cmd[0] == "wait":
            clock.advance(seconds=cmd[1])
        elif cmd[0] == "day":
            clock.advance(days=1)
        elif cmd[0] == "take":
            replies.append(engine.take(f"c{n}", "k1", cmd[1], cmd[2], cmd[3] if len(cmd) > 3 else None).reply)
        elif cmd[0] == "rate":
            replies.append(engine.rate(f"c{n}", cmd[1], cmd[2]).reply)
        else:
            _, counter, action, to, label = cmd
            replies.append(engine.counter(f"c{n}", counter, action, to=to, ticket=label, reason="r").reply)
    return replies


def without_groups(stream):
    """The same stream with each group turned into plain priority, and the takes of an unknown group
    (refused) left out."""
    plain = []
    for cmd in stream:
        if cmd[0] == "take" and len(cmd) > 3 and cmd[3] is not None:
            if cmd[3] not in GROUPS:
                continue
            cmd = ("take", cmd[1], True, None)
        plain.append(cmd)
    return plain


@settings(max_examples=300, deadline=None)
@given(policy=policies, stream=commands)
def test_priority_groups_do_not_change_the_order(policy, stream):
    """Every priority ticket follows queue.priority alike: with groups, the calls are the calls
    of the same tickets as plain priority tickets, and each issued ticket keeps its group."""
    config = config_for(policy)
    _state, events = run_rules(config, stream)
    _plain_state, plain_events = run_rules(config, without_groups(stream))
    calls = [(e.type, e.counter, e.ticket.label) for e in events if e.ticket is not None]
    assert calls == [(e.type, e.counter, e.ticket.label) for e in plain_events if e.ticket is not None]
    issued = [e for e in events if e.type == "issued"]
    assert all(e.data["group"] == e.ticket.priority_group for e in issued)
    assert all(e.ticket.priority for e in issued if e.ticket.priority_group is not None)
    assert {e.ticket.priority_group for e in issued} <= {None, *GROUPS}


@settings(max_examples=300, deadline=None)
@given(policy=policies, stream=rating_commands)
def test_ratings_keep_their_invariants(policy, stream):
    _state, events = run_rules(config_for(policy), stream)
    check_ratings(events)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(policy=policies, stream=commands)
def test_engine_matches_the_rules_and_its_database(tmp_path_factory, policy, stream):
    check_engine_run(tmp_path_factory, config_for(policy), stream)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(policy=policies, stream=rating_commands)
def test_engine_keeps_the_rating_invariants_in_its_database(tmp_path_factory, policy, stream):
    check_engine_run(tmp_path_factory, config_for(policy), stream)


def check_engine_run(tmp_path_factory, config, stream) -> None:
    """Run `stream` through an engine on a new file; check replays, the reloaded state and the rows."""
    path: Path = tmp_path_factory.mktemp("db") / "q.db"
    clock = FakeClock()
    engine = Engine(config, path, clock=clock, new_token=iter(f"tok{i}" for i in range(10**6)).__next__)
    replies = apply_to_engine(engine, clock, stream)
    # 3. replaying the same command ids changes nothing and gives the same replies
    seq_before = store.head(engine._db)[0]
    clock.advance(days=3)  # even on a later day: a repeated id is answered, not re-applied
    assert apply_to_engine(engine, FakeClock(clock.now), stream) == replies
    assert store.head(engine._db)[0] == seq_before
    cached = engine.snapshot()
    engine.close()

    # the database says what the engine holds in memory
    db = store.open_database(path)
    loaded = store.load_state(db, config)
    db.close()
    assert loaded.tickets == cached.tickets
    assert loaded.counters == cached.counters
    assert loaded.issued == cached.issued and loaded.day == cached.day
    assert loaded.finished == cached.finished
    check_holding(loaded)

    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT day, service, number FROM tickets ORDER BY id").fetchall()
    assert len(rows) == len(set(rows))
    seqs = [r[0] for r in conn.execute("SELECT seq FROM events ORDER BY seq")]
    assert seqs == list(range(1, len(seqs) + 1))
    assert conn.execute("SELECT count(*) FROM commands").fetchone()[0] == len(replies)
    # a ticket has at most one rating (the primary key), made after its finish, within the window
    window = timedelta(seconds=config.queue.rating_window_s)
    ratings = conn.execute("SELECT t.status, t.counter, r.counter, t.finished_at, r.at FROM ratings r "
                           "JOIN tickets t ON t.id = r.ticket").fetchall()
    assert len(ratings) == sum(1 for r in replies if r.get("score"))
    assert conn.execute("SELECT count(*) FROM events WHERE type = 'rated'").fetchone()[0] == len(ratings)
    for status, finished_by, rated_by, finished_at, at in ratings:
        assert status == "done" and finished_by == rated_by
        assert timedelta(0) <= datetime.fromisoformat(at) - datetime.fromisoformat(finished_at) <= window
    conn.close()


def test_pure_rules_and_engine_give_the_same_replies(tmp_path):
    stream = [("take", "A", False), ("take", "A", True), ("take", "B", False), ("counter", "1", "next", "A", ""),
              ("counter", "3", "next", "A", ""), ("counter", "1", "transfer", "B", ""), ("counter", "3", "next", "A", ""),
              ("counter", "2", "call", "A", "A001"), ("take", "Z", False), ("counter", "2", "pause", "A", "")]
    config = config_for({"priority": "strict"})
    clock = FakeClock()
    engine = Engine(config, tmp_path / "q.db", clock=clock)
    replies = apply_to_engine(engine, clock, stream)
    state, events = run_rules(config, stream)
    assert [r["ok"] for r in replies] == [True, True, True, True, True, True, True, True, False, False]
    assert [r["ticket"]["label"] for r in replies if r["ok"]] == [
        "A001", "A002", "B001", "A002", "B001", "A002", "A002", "A001"]
    assert replies[-2]["error"]["code"] == "unknown_service"
    assert replies[-1]["error"]["code"] == "not_allowed"
    assert {t.label: t.status for t in state.tickets.values()} == \
        {t.label: t.status for t in engine.snapshot().tickets.values()}
    engine.close()


@settings(max_examples=200, deadline=None)
@given(policy=policies, stream=commands)
def test_call_order_is_the_order_successive_nexts_call(policy, stream):
    """What the console lists as the next numbers (`rules.call_order`) is what Next calls."""
    state, _ = run_rules(config_for(policy), stream)
    now = MONDAY_9AM + timedelta(days=3)
    for counter in COUNTERS:
        if state.counters[counter].state == "paused":
            continue
        order = [t.id for t in rules.call_order(state, counter)]
        called, after = [], state
        for _ in range(len(order) + 1):
            outcome = rules.call_next(after, counter, now)
            after = outcome.state
            if outcome.ticket is None:
                break
            called.append(outcome.ticket.id)
        assert called == order
