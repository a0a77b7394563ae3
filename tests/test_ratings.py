"""Ratings: the pure rule (which ticket, which window, once), the engine on a real SQLite
file (ratings row, `rated` event, idempotency, restarts), the counter state's `rating_until`.

Decisions tested here (see `server.rules`): any finish opens the window — `done`, and `next`
or `call` finishing the held ticket; a no-show, a transfer or a cancelled ticket opens none;
the window's end is included; the first rating counts, later ones are `already_rated`.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from datetime import date, datetime, timedelta

import pytest

from queuebox.errors import CommandRejected
from queuebox.protocol import ERROR_CODES, ProtocolError, encode
from queuebox.protocol_messages import parse_counter_state, parse_event, parse_reply
from server import rating_rules, rules, store
from server.engine import Engine
from tests.factories import MONDAY_9AM, FakeClock, make_config

CONFIG = make_config(queue={"rating_window_s": 60, "no_show_min_calls": 1})
DAY = date(2026, 11, 23)


# --- the rule -------------------------------------------------------------------------------

class Desk:
    """The pure rules driven step by step at counter 1, with a time that moves."""

    def __init__(self, config=CONFIG) -> None:
        self.now = MONDAY_9AM
        self.state = rules.empty_state(config, DAY)

    def at(self, seconds: float) -> datetime:
        return MONDAY_9AM + timedelta(seconds=seconds)

    def apply(self, outcome: rules.Outcome) -> rules.Outcome:
        self.state = outcome.state
        return outcome

    def take(self, service: str = "A") -> rules.Ticket:
        return self.apply(rules.issue_ticket(self.state, service, self.now, token=f"t{self.state.next_id}")).ticket

    def act(self, action: str, counter: str = "1", **kw) -> rules.Outcome:
        return self.apply(rules.counter_action(self.state, counter, action, self.now, **kw))

    def rate(self, score: int, counter: str = "1") -> rules.Outcome:
        return self.apply(rating_rules.rate(self.state, counter, score, self.now))

    def refusal(self, score: int, counter: str = "1") -> str:
        with pytest.raises(CommandRejected) as caught:
            rating_rules.rate(self.state, counter, score, self.now)
        return caught.value.code


def served(desk: Desk, finish: str = "done") -> rules.Ticket:
    """Issue A001, call it at counter 1, finish it with `finish` at 09:00:00."""
    t = desk.take()
    desk.act("next")
    if finish == "next":
        desk.act("next")
    else:
        desk.act(finish)
    return t


def test_a_rating_attaches_to_the_ticket_the_counter_finished_last():
    desk = Desk()
    t = served(desk)
    outcome = desk.rate(2)
    assert outcome.ticket.id == t.id and outcome.ticket.status == "done"
    [event] = outcome.events
    assert (event.type, event.ticket.label, event.counter, dict(event.data)) == ("rated", "A001", "1", {"score": 2})
    assert desk.state.finished["1"].score == 2


@pytest.mark.parametrize("after_s, accepted", [(0, True), (59.999, True), (60, True), (60.001, False), (3600, False)])
def test_the_window_runs_from_the_finish_and_includes_its_end(after_s, accepted):
    desk = Desk()
    served(desk)
    desk.now = desk.at(after_s)
    if accepted:
        assert desk.rate(1).ticket.label == "A001"
    else:
        assert desk.refusal(1) == "no_ticket"


def test_a_ticket_is_rated_once_the_first_rating_counts():
    desk = Desk()
    served(desk)
    desk.rate(4)
    assert desk.refusal(1) == "already_rated"
    assert desk.state.finished["1"].score == 4


def test_nothing_finished_yet_is_no_ticket():
    desk = Desk()
    desk.take()
    desk.act("next")  # called, not finished
    assert desk.refusal(3) == "no_ticket"


@pytest.mark.parametrize("finish", ["done", "next"])
def test_done_and_next_finishing_the_held_ticket_both_open_a_window(finish):
    desk = Desk()
    served(desk, finish)
    assert desk.rate(1).ticket.label == "A001"


def test_call_finishing_the_held_ticket_opens_a_window():
    desk = Desk()
    desk.take(), desk.take()
    desk.act("next")  # A001
    desk.act("call", ticket="A002")  # finishes A001
    assert desk.rate(3).ticket.label == "A001"


def test_a_no_show_opens_no_window():
    desk = Desk()
    desk.take()
    desk.act("next")
    desk.act("no_show")
    assert desk.refusal(1) == "no_ticket"


def test_a_transfer_opens_no_window():
    desk = Desk()
    desk.take()
    desk.act("next")
    desk.act("transfer", to="B")
    assert desk.refusal(1) == "no_ticket"


def test_a_no_show_after_a_done_leaves_the_done_ticket_rateable():
    desk = Desk()
    desk.take(), desk.take()
    desk.act("next")
    desk.act("next")  # A001 done, A002 called
    desk.now = desk.at(20)
    desk.act("no_show")  # A002 did not come
    assert desk.rate(2).ticket.label == "A001"


def test_each_counter_rates_its_own_ticket():
    desk = Desk()
    desk.take("A"), desk.take("B")
    desk.act("next", "1")
    desk.act("done", "1")
    desk.now = desk.at(30)
    desk.act("next", "3")
    desk.act("done", "3")
    assert desk.refusal(1, "2") == "no_ticket"
    assert desk.rate(4, "3").ticket.label == "B001"
    desk.now = desk.at(61)
    assert desk.refusal(1, "1") == "no_ticket"  # counter 1 finished at 0 s


def test_a_new_finish_replaces_the_ticket_to_rate():
    desk = Desk()
    desk.take(), desk.take()
    desk.act("next")
    desk.act("next")
    desk.rate(1)  # A001
    desk.act("done")  # A002
    assert desk.rate(4).ticket.label == "A002"


def test_a_window_open_at_midnight_stays_open_on_the_new_day():
    desk = Desk()
    desk.now = datetime(2026, 11, 23, 23, 59, 50, tzinfo=CONFIG.zone)
    served(desk)
    desk.now = datetime(2026, 11, 24, 0, 0, 30, tzinfo=CONFIG.zone)
    desk.apply(rules.open_day(desk.state, DAY + timedelta(days=1), desk.now))
    assert desk.state.counters["1"].last_done is not None
    assert desk.rate(1).ticket.label == "A001"


@pytest.mark.parametrize("score", [0, 5, -1, True, 2.0, "3", None])
def test_a_score_that_is_not_1_to_4_is_a_bad_request(score):
    desk = Desk()
    served(desk)
    assert desk.refusal(score) == "bad_request"


def test_an_unknown_counter_is_refused():
    desk = Desk()
    assert desk.refusal(1, "9") == "unknown_counter"


def test_rating_until_is_the_finish_plus_the_window_until_rated():
    desk = Desk()
    assert rating_rules.rating_until(desk.state, "1") is None
    served(desk)
    assert rating_rules.rating_until(desk.state, "1") == desk.at(60)
    desk.rate(1)
    assert rating_rules.rating_until(desk.state, "1") is None


# --- the engine -----------------------------------------------------------------------------

@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "q.db"


@pytest.fixture
def engine(db_path, clock):
    e = Engine(CONFIG, db_path, clock=clock)
    yield e
    e.close()


def rows(db_path, sql):
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def serve_one(engine, counter="1", finish="done"):
    engine.take("t1", "kiosk1", "A")
    engine.counter("n1", counter, "next")
    engine.counter("f1", counter, finish)


def test_engine_rate_replies_writes_the_rating_row_and_one_rated_event(engine, db_path, clock):
    serve_one(engine)
    clock.advance(seconds=10)
    result = engine.rate("r1", "1", 2)
    assert result.reply == {"id": "r1", "ok": True, "ticket": "A001", "score": 2}
    assert parse_reply(encode(result.reply)) == result.reply
    assert rows(db_path, "SELECT r.ticket = t.id, r.counter, r.score, r.at FROM ratings r JOIN tickets t "
                         "ON t.label = 'A001'") == [(1, "1", 2, "2026-11-23T09:00:10.000+07:00")]
    [event] = result.events
    assert (event.type, event.ticket.label, event.counter, event.data) == ("rated", "A001", "1", {"score": 2, "label": "A001"})
    message = event.message()
    assert parse_event(encode(message)) == message
    assert message["type"] == "rated" and message["ticket"] == "A001" and message["score"] == 2
    assert rows(db_path, "SELECT type, counter, actor, json_extract(data, '$.score') FROM events WHERE type = 'rated'") \
        == [("rated", "1", "counter/1", 2)]
    assert rows(db_path, "SELECT status FROM tickets") == [("done",)]


def test_a_repeated_rating_id_gets_the_first_reply_and_changes_nothing(engine, db_path):
    serve_one(engine)
    first = engine.rate("r1", "1", 3)
    again = engine.rate("r1", "1", 3)
    assert again.duplicate and again.reply == first.reply and again.events == ()
    assert rows(db_path, "SELECT count(*) FROM ratings") == [(1,)]


def test_a_second_rating_is_refused_logged_at_info_and_ignored(engine, db_path, caplog):
    serve_one(engine)
    engine.rate("r1", "1", 1)
    with caplog.at_level(logging.INFO, "server.engine"):
        second = engine.rate("r2", "1", 4)
    assert second.reply["error"]["code"] == "already_rated" and second.events == ()
    assert any(r.levelno == logging.INFO and "already" in r.getMessage() for r in caplog.records)
    assert rows(db_path, "SELECT score FROM ratings") == [(1,)]
    assert rows(db_path, "SELECT count(*) FROM events WHERE type = 'rated'") == [(1,)]


@pytest.mark.parametrize("after_s, code", [(60, None), (61, "no_ticket")])
def test_engine_window_edges(engine, clock, after_s, code):
    serve_one(engine)
    clock.advance(seconds=after_s)
    reply = engine.rate("r1", "1", 1).reply
    assert (reply.get("error") or {}).get("code") == code


@pytest.mark.parametrize("counter, score, code", [("9", 1, "unknown_counter"), ("1", 5, "bad_request"),
                                                  ("1", 0, "bad_request"), ("2", 1, "no_ticket")])
def test_engine_refusals(engine, counter, score, code):
    serve_one(engine)
    assert engine.rate("r1", counter, score).reply["error"]["code"] == code


def test_every_refusal_code_is_in_the_protocol():
    assert {"no_ticket", "already_rated", "bad_request", "unknown_counter"} <= set(ERROR_CODES)


def test_the_tablet_origin_is_its_own_command_space_and_actor(engine, db_path):
    serve_one(engine)
    assert engine.rate("x", "1", 2, origin="tablet/1").reply["ok"]
    assert engine.rate("x", "1", 2).reply["error"]["code"] == "already_rated"  # the keypad's "x" is another command
    assert rows(db_path, "SELECT actor FROM events WHERE type = 'rated'") == [("tablet/1",)]
    assert {k for (k,) in rows(db_path, "SELECT id FROM commands WHERE id LIKE '%:x'")} == {"tablet/1:x", "counter/1:x"}


def test_the_window_and_the_rating_survive_a_restart(db_path, clock):
    first = Engine(CONFIG, db_path, clock=clock)
    serve_one(first)
    first.close()
    clock.advance(seconds=30)
    second = Engine(CONFIG, db_path, clock=clock)
    try:
        assert second.rate("r1", "1", 2).reply["ticket"] == "A001"
    finally:
        second.close()
    third = Engine(CONFIG, db_path, clock=clock)
    try:
        assert third.rate("r2", "1", 1).reply["error"]["code"] == "already_rated"
        assert third.snapshots()[1]["1"]["rating_until"] is None
    finally:
        third.close()


def test_the_state_loaded_from_the_file_is_the_state_in_memory(engine, db_path, clock):
    engine.take("t1", "kiosk1", "A"), engine.take("t2", "kiosk1", "B")
    engine.counter("n1", "1", "next"), engine.counter("d1", "1", "done")
    engine.counter("n3", "3", "next"), engine.counter("d3", "3", "next")
    engine.rate("r3", "3", 4)
    cached = engine.snapshot()
    db = store.open_database(db_path)
    try:
        loaded = store.load_state(db, CONFIG)
    finally:
        db.close()
    assert loaded.finished == cached.finished
    assert {c: f.score for c, f in loaded.finished.items()} == {"1": None, "3": 4}


# --- the counter state: rating_until --------------------------------------------------------

def test_rating_until_appears_in_the_counter_state_after_done(engine, clock):
    assert engine.snapshots()[1]["1"]["rating_until"] is None
    serve_one(engine)
    states = engine.snapshots()[1]
    assert states["1"]["rating_until"] == "2026-11-23T09:01:00.000+07:00"
    assert states["2"]["rating_until"] is None
    assert parse_counter_state(encode(states["1"])) == states["1"]


def test_rating_until_is_null_once_rated(engine):
    serve_one(engine)
    engine.rate("r1", "1", 1)
    assert engine.snapshots()[1]["1"]["rating_until"] is None


def test_rating_until_is_null_once_the_window_has_passed(engine, clock):
    serve_one(engine)
    clock.advance(seconds=60)
    assert engine.snapshots()[1]["1"]["rating_until"] is not None
    clock.advance(seconds=1)
    assert engine.snapshots()[1]["1"]["rating_until"] is None


def test_a_no_show_gives_no_rating_until(engine):
    engine.take("t1", "kiosk1", "A")
    engine.counter("n1", "1", "next")
    engine.counter("r1", "1", "recall")
    engine.counter("x1", "1", "no_show")
    assert engine.snapshots()[1]["1"]["rating_until"] is None


# --- the protocol ---------------------------------------------------------------------------

@pytest.mark.parametrize("until", ["2026-11-23T09:01:00.000+07:00", "2026-11-23T02:01:00Z", None])
def test_the_counter_state_accepts_rating_until(until):
    state = {"seq": 3, "state": "idle", "ticket": None, "waiting": {"A": 0}, "rating_until": until}
    assert parse_counter_state(json.dumps(state)) == state


def test_a_counter_state_without_rating_until_is_accepted():
    state = {"seq": 3, "state": "idle", "ticket": None, "waiting": {}}
    assert parse_counter_state(json.dumps(state)) == state


@pytest.mark.parametrize("until", ["2026-11-23T09:01:00", "soon", 60, "2026-13-45T00:00:00+07:00"])
def test_the_counter_state_refuses_a_bad_rating_until(until):
    state = {"seq": 3, "state": "idle", "ticket": None, "waiting": {}, "rating_until": until}
    with pytest.raises(ProtocolError, match='"rating_until" must be'):
        parse_counter_state(json.dumps(state))


@pytest.mark.parametrize("reply, ok", [
    ({"id": "r", "ok": True, "ticket": "A001", "score": 1}, True),
    ({"id": "r", "ok": True, "ticket": "A001", "score": 9}, False),
    ({"id": "r", "ok": True, "ticket": {"label": "A001"}, "score": 1}, False),
    ({"id": "r", "ok": True, "ticket": "A001"}, False),  # a label is only a rating's ticket
])
def test_a_rating_reply_carries_the_label(reply, ok):
    if ok:
        assert parse_reply(json.dumps(reply)) == reply
    else:
        with pytest.raises(ProtocolError):
            parse_reply(json.dumps(reply))
