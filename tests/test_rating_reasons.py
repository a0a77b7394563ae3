"""Why a citizen was not satisfied: the pure rule (which rating, which window, once, which
texts), the engine on a real SQLite file (the `ratings.reason` column, the `rating_reason`
event, a refused reason that keeps the score, restarts), the protocol's optional `reason`,
the `queue.rating_reasons` configuration and migration 0005.

Decisions tested here (see `server.rating_rules.give_reason`): a reason attaches to the counter's
last rated ticket, for a score of 3 or 4 only, within REASON_WINDOW_S of its rating (the
end included), once; it must be the Vietnamese text of one of the configured reasons (NFC);
the text recorded is the list's as it was then.
"""

from __future__ import annotations

import sqlite3
import unicodedata
import pytest

from queuebox.errors import CommandRejected, ConfigError
from queuebox.protocol import ERROR_CODES, EVENT_TYPES, REASON_WINDOW_S, ProtocolError, encode, parse_rating
from queuebox.protocol_messages import parse_event, parse_reply
from server import rating_rules, rules, store
from server.engine import Engine
from server.migrations import KNOWN
from tests.factories import FakeClock, make_config
from tests.test_ratings import CONFIG, Desk, served

REASONS = [{"vi": "Chờ lâu", "en": "Long wait"}, {"vi": "Khác", "en": "Other"}]


# --- the rule -------------------------------------------------------------------------------

def reason(desk: Desk, text: str, counter: str = "1") -> rules.Outcome:
    return desk.apply(rating_rules.give_reason(desk.state, counter, text, desk.now))


def refusal(desk: Desk, text: str, counter: str = "1") -> str:
    with pytest.raises(CommandRejected) as caught:
        rating_rules.give_reason(desk.state, counter, text, desk.now)
    return caught.value.code


def test_a_reason_attaches_to_the_rating_just_made():
    desk = Desk()
    served(desk)
    desk.rate(4)
    outcome = reason(desk, "Chờ lâu")
    [event] = outcome.events
    assert (event.type, event.ticket.label, event.counter, dict(event.data)) == \
        ("rating_reason", "A001", "1", {"score": 4, "reason": "Chờ lâu"})
    assert desk.state.finished["1"].score == 4 and desk.state.finished["1"].reason == "Chờ lâu"


@pytest.mark.parametrize("after_s, accepted", [(0, True), (REASON_WINDOW_S, True), (REASON_WINDOW_S + 0.001, False)])
def test_the_reason_window_runs_from_the_rating_and_includes_its_end(after_s, accepted):
    desk = Desk()
    served(desk)
    desk.now = desk.at(50)  # rated late in the rating window: the reason's window starts here
    desk.rate(3)
    desk.now = desk.at(50 + after_s)
    if accepted:
        assert reason(desk, "Khác").ticket.label == "A001"
    else:
        assert refusal(desk, "Khác") == "no_ticket"


@pytest.mark.parametrize("score", [1, 2])
def test_a_satisfied_score_asks_no_reason(score):
    desk = Desk()
    served(desk)
    desk.rate(score)
    assert refusal(desk, "Chờ lâu") == "not_allowed"


def test_a_reason_is_given_once_the_first_counts():
    desk = Desk()
    served(desk)
    desk.rate(4)
    reason(desk, "Chờ lâu")
    assert refusal(desk, "Khác") == "already_rated"
    assert desk.state.finished["1"].reason == "Chờ lâu"


def test_no_rating_no_reason():
    desk = Desk()
    served(desk)
    assert refusal(desk, "Chờ lâu") == "no_ticket"
    assert refusal(desk, "Chờ lâu", counter="2") == "no_ticket"
    assert refusal(desk, "Chờ lâu", counter="9") == "unknown_counter"


@pytest.mark.parametrize("text", ["Cho lau", "chờ lâu", "Long wait", "", "Không có trong danh sách"])
def test_a_reason_not_in_the_list_is_refused_and_the_score_stays(text):
    desk = Desk()
    served(desk)
    desk.rate(4)
    assert refusal(desk, text) == "unknown_reason"
    assert desk.state.finished["1"].score == 4 and desk.state.finished["1"].reason is None


def test_a_decomposed_reason_is_the_same_text_and_is_recorded_composed():
    desk = Desk()
    served(desk)
    desk.rate(4)
    decomposed = unicodedata.normalize("NFD", "Thái độ phục vụ")
    assert decomposed != "Thái độ phục vụ"
    assert reason(desk, decomposed).events[0].data["reason"] == "Thái độ phục vụ"


def test_a_rating_with_a_reason_records_both_or_keeps_the_score_alone():
    desk = Desk()
    served(desk)
    outcome, refused = rating_rules.rate_with_reason(desk.state, "1", 4, "Chờ lâu", desk.now)
    assert refused is None and [e.type for e in outcome.events] == ["rated", "rating_reason"]
    desk = Desk()
    served(desk)
    outcome, refused = rating_rules.rate_with_reason(desk.state, "1", 4, "Made up", desk.now)
    assert refused.code == "unknown_reason" and [e.type for e in outcome.events] == ["rated"]
    assert outcome.state.finished["1"].score == 4


def test_a_second_rating_with_the_same_score_and_a_reason_attaches_it():
    desk = Desk()
    served(desk)
    desk.rate(3)
    outcome, refused = rating_rules.rate_with_reason(desk.state, "1", 3, "Khác", desk.now)
    assert refused is None and [e.type for e in outcome.events] == ["rating_reason"]
    with pytest.raises(CommandRejected) as caught:  # another score: the first counts, no reason attached
        rating_rules.rate_with_reason(desk.state, "1", 4, "Khác", desk.now)
    assert caught.value.code == "already_rated"


def test_the_reasons_are_the_configured_list_as_it_is_now():
    desk = Desk(make_config(queue={"rating_window_s": 60, "rating_reasons": REASONS[:1]}))
    served(desk)
    desk.rate(4)
    assert refusal(desk, "Thái độ phục vụ") == "unknown_reason"  # a default, but not this centre's
    assert reason(desk, "Chờ lâu").ticket.label == "A001"


# --- the engine on a real file ------------------------------------------------------------------

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


def serve_one(engine):
    engine.take("t1", "kiosk1", "A")
    engine.counter("n1", "1", "next")
    engine.counter("f1", "1", "done")


def test_engine_records_the_reason_in_the_rating_row_and_an_event(engine, db_path, clock):
    serve_one(engine)
    assert engine.rate("r1", "1", 4).reply == {"id": "r1", "ok": True, "ticket": "A001", "score": 4}
    clock.advance(seconds=15)
    result = engine.rate("r2", "1", 4, reason="Chờ lâu", origin="tablet/1")
    assert result.reply == {"id": "r2", "ok": True, "ticket": "A001", "score": 4, "reason": "Chờ lâu"}
    assert parse_reply(encode(result.reply)) == result.reply
    assert rows(db_path, "SELECT score, reason, at FROM ratings") == [(4, "Chờ lâu", "2026-11-23T09:00:00.000+07:00")]
    [event] = result.events
    message = event.message()
    assert parse_event(encode(message)) == message
    assert (message["type"], message["ticket"], message["reason"], message["score"]) == \
        ("rating_reason", "A001", "Chờ lâu", 4)
    assert rows(db_path, "SELECT actor, json_extract(data, '$.reason') FROM events WHERE type = 'rating_reason'") \
        == [("tablet/1", "Chờ lâu")]


def test_engine_a_bad_reason_with_the_score_keeps_the_score_and_says_so(engine, db_path):
    serve_one(engine)
    result = engine.rate("r1", "1", 3, reason="Nhân viên tên Lan")
    assert result.reply["ok"] is False and result.reply["error"]["code"] == "unknown_reason"
    assert "the score 3 stays recorded" in result.reply["error"]["message"]
    assert (result.reply["ticket"], result.reply["score"]) == ("A001", 3)
    assert parse_reply(encode(result.reply)) == result.reply
    assert rows(db_path, "SELECT score, reason FROM ratings") == [(3, None)]
    assert [e.type for e in result.events] == ["rated"]
    assert engine.rate("r1", "1", 3, reason="Nhân viên tên Lan").reply == result.reply  # a repeat: the first reply
    assert engine.rate("r2", "1", 3, reason="Khác").reply["reason"] == "Khác"  # a good one still may follow


def test_engine_a_reason_after_its_window_is_refused_and_the_score_stays(engine, db_path, clock):
    serve_one(engine)
    engine.rate("r1", "1", 4)
    clock.advance(seconds=REASON_WINDOW_S + 1)
    assert engine.rate("r2", "1", 4, reason="Chờ lâu").reply["error"]["code"] == "no_ticket"
    assert rows(db_path, "SELECT score, reason FROM ratings") == [(4, None)]


def test_the_reason_window_and_the_reason_survive_a_restart(db_path, clock):
    first = Engine(CONFIG, db_path, clock=clock)
    serve_one(first)
    first.rate("r1", "1", 4)
    first.close()
    clock.advance(seconds=30)
    second = Engine(CONFIG, db_path, clock=clock)
    try:
        assert second.rate("r2", "1", 4, reason="Khác").reply["ok"]
        assert second.rate("r3", "1", 4, reason="Chờ lâu").reply["error"]["code"] == "already_rated"
        db = store.open_database(db_path)
        try:
            assert store.load_state(db, CONFIG).finished == second.snapshot().finished
        finally:
            db.close()
    finally:
        second.close()
    assert rows(db_path, "SELECT reason FROM ratings") == [("Khác",)]


def test_the_recorded_text_is_the_list_of_that_moment(db_path, clock):
    old = make_config(queue={"rating_window_s": 60, "rating_reasons": [{"vi": "Chờ lâu", "en": "Long wait"}]})
    engine = Engine(old, db_path, clock=clock)
    serve_one(engine)
    engine.rate("r1", "1", 4, reason="Chờ lâu")
    engine.reconfigure({"queue": {"rating_window_s": 60, "rating_reasons": [{"vi": "Thời gian chờ quá lâu"}]}},
                       "web/manager")
    engine.close()
    assert rows(db_path, "SELECT reason FROM ratings") == [("Chờ lâu",)]


# --- protocol, configuration, schema -----------------------------------------------------------------

def test_the_protocol_gains_a_code_and_an_event_type():
    assert "unknown_reason" in ERROR_CODES and "rating_reason" in EVENT_TYPES


@pytest.mark.parametrize("payload, score, reason", [
    ('{"id": "k1", "score": 2}', 2, None),  # an older keypad
    ('{"id": "k1", "score": 4, "reason": null}', 4, None),
    ('{"id": "k1", "score": 4, "reason": "Chờ lâu"}', 4, "Chờ lâu"),
])
def test_parse_rating_reads_an_optional_reason(payload, score, reason):
    cmd = parse_rating(payload)
    assert (cmd.score, cmd.reason) == (score, reason)


@pytest.mark.parametrize("bad", ['"x" * 61', "7", '""', '"   "', "[]"])
def test_parse_rating_refuses_a_reason_that_is_not_a_short_text(bad):
    with pytest.raises(ProtocolError, match='"reason"'):
        parse_rating('{"id": "k1", "score": 4, "reason": ' + (f'"{"x" * 61}"' if bad.startswith('"x"') else bad) + "}")


def test_the_default_reasons_are_the_five_of_one_stop_centres():
    config = make_config()
    assert config.queue.reason_texts() == ("Chờ lâu", "Hướng dẫn chưa rõ", "Thái độ phục vụ",
                                           "Phải bổ sung hồ sơ nhiều lần", "Khác")
    assert [r["en"] for r in config.queue.rating_reasons][-1] == "Other"


@pytest.mark.parametrize("reasons, problem", [
    ([{"vi": "Lý do %d" % i} for i in range(9)], "queue.rating_reasons: 9 reasons, at most 8"),
    ([{"vi": "x" * 61}], "queue.rating_reasons[0].vi: 61 characters, at most 60"),
    ([{"vi": "Chờ lâu", "en": "y" * 61}], "queue.rating_reasons[0].en: 61 characters, at most 60"),
    ([{"en": "Long wait"}], "queue.rating_reasons[0].vi: must not be empty"),
    ([{"vi": "Chờ lâu", "fr": "Attente"}], "queue.rating_reasons[0].fr: unknown key"),
    ([{"vi": "Chờ lâu"}, {"vi": "chờ lâu"}], "queue.rating_reasons[1].vi: 'chờ lâu' is listed twice"),
    ([{"vi": "Chờ  lâu"}], "queue.rating_reasons[0].vi: must be one line"),
    (["Chờ lâu"], "queue.rating_reasons[0]: must be a table"),
    ([{"vi": 3}], "queue.rating_reasons[0].vi: must be a string"),
])
def test_bad_reason_lists_are_refused_with_their_key_path(reasons, problem):
    with pytest.raises(ConfigError) as caught:
        make_config(queue={"rating_reasons": reasons})
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems


def test_eight_reasons_and_none_are_both_allowed():
    assert len(make_config(queue={"rating_reasons": [{"vi": f"Lý do {i}"} for i in range(8)]}).queue.rating_reasons) == 8
    assert make_config(queue={"rating_reasons": []}).queue.reason_texts() == ()


def test_migration_0005_adds_the_reason_column_to_ratings(db_path, clock):
    engine = Engine(CONFIG, db_path, clock=clock)
    engine.close()
    assert "0005_rating_reasons" in KNOWN
    columns = {name: kind for _cid, name, kind, *_ in rows(db_path, "PRAGMA table_info(ratings)")}
    assert columns["reason"] == "TEXT"
