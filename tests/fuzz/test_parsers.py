"""Property fuzzing of every parser of outside input: each returns a valid value or raises
its own defined error, never another exception, and valid values round-trip.

Covered here, beyond tests/test_protocol.py (which already feeds the protocol parsers
arbitrary bytes, text and JSON objects): near-valid payloads (a valid message with one
field retyped, bytes flipped or cut, past the size limit), what an accepted command holds,
generated valid messages through `encode` and back, topics, `parse_moment`; the config
(`config_from_dict` on any TOML-like table, mutations of a valid one, `to_toml` round trip);
the device side (the kiosk's `TicketInfo.from_reply`, the display's `read_board`, `CallGate`
and spoken texts, the keypad's rating window); API tokens (`api_tokens.verify`).
"""

from __future__ import annotations

import dataclasses
import json
import random
import tomllib
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from device.ticket import TicketInfo
from display.announce import CallGate
from queuebox.words import call_text
from display.board import Board, read_board
from queuebox.config import Config, config_from_dict, to_toml
from queuebox.errors import ConfigError
from queuebox.protocol import (COUNTER_ACTIONS, MAX_ID, MAX_LABEL, MAX_PAYLOAD, MAX_REASON, CounterCommand,
                               ProtocolError, RatingCommand, Route, TakeCommand, Topics, encode,
                               parse_counter_command, parse_moment, parse_rating, parse_take, peek_id)
from queuebox.protocol_messages import parse_board, parse_counter_state, parse_event, parse_reply
from server import api_tokens, store
from tests.factories import MONDAY_9AM, make_config
from tests.fuzz import payloads

PARSERS = {"take": parse_take, "command": parse_counter_command, "rating": parse_rating, "board": parse_board,
           "state": parse_counter_state, "event": parse_event, "reply": parse_reply}
FUZZ = settings(max_examples=150, deadline=None)
SERVICE_CODES = st.from_regex(r"[A-Z]{1,3}", fullmatch=True)
IDS = st.text(min_size=1, max_size=MAX_ID)


def parse_or_refuse(parser: Any, data: bytes) -> Any:
    """`parser(data)`, or None when it raised ProtocolError (checked to be well formed)."""
    try:
        return parser(data)
    except ProtocolError as err:
        assert err.code == "bad_request" and err.message
        assert err.command_id is None or (isinstance(err.command_id, str) and 0 < len(err.command_id) <= MAX_ID)
        return None


# --- protocol: near-valid payloads -----------------------------------------------------------

@pytest.mark.parametrize("kind", list(PARSERS))
@FUZZ
@given(rng=st.randoms(use_true_random=False), command_id=IDS)
def test_near_valid_payloads_are_parsed_or_refused_with_protocol_error(kind, rng, command_id):
    data = payloads.payload(kind, rng, command_id)
    parsed = parse_or_refuse(PARSERS[kind], data)
    if parsed is not None:
        assert len(data) <= MAX_PAYLOAD
        assert isinstance(json.loads(data.decode("utf-8")), dict)
    found = peek_id(data)
    assert found is None or 0 < len(found) <= MAX_ID


@FUZZ
@given(rng=st.randoms(use_true_random=False), command_id=IDS)
def test_an_accepted_take_holds_what_the_protocol_allows(rng, command_id):
    data = payloads.payload("take", rng, command_id)
    take = parse_or_refuse(parse_take, data)
    assume(take is not None)
    sent = json.loads(data)
    assert take == TakeCommand(sent["id"], sent["service"], sent.get("priority") is True)  # null: absent
    assert 0 < len(take.id) <= MAX_ID and take.service.isascii() and take.service.isupper()
    assert 1 <= len(take.service) <= 3 and type(take.priority) is bool


@FUZZ
@given(rng=st.randoms(use_true_random=False), command_id=IDS)
def test_an_accepted_counter_command_holds_what_the_protocol_allows(rng, command_id):
    data = payloads.payload("command", rng, command_id)
    cmd = parse_or_refuse(parse_counter_command, data)
    assume(cmd is not None)
    assert cmd.action in COUNTER_ACTIONS and 0 < len(cmd.id) <= MAX_ID
    assert (cmd.to is not None) >= (cmd.action == "transfer") and (cmd.ticket is not None) >= (cmd.action == "call")
    assert cmd.to is None or (cmd.to.isascii() and cmd.to.isalpha() and cmd.to.isupper() and len(cmd.to) <= 3)
    assert cmd.ticket is None or (0 < len(cmd.ticket) <= MAX_LABEL and cmd.ticket.strip())
    assert cmd.reason is None or len(cmd.reason) <= MAX_REASON


COMMANDS = {"take": parse_take, "command": parse_counter_command, "rating": parse_rating}


@pytest.mark.parametrize("kind", list(COMMANDS))
@FUZZ
@given(rng=st.randoms(use_true_random=False), command_id=IDS | st.sampled_from(["s1\ud800", "\udfff", "ok"]))
def test_every_command_gets_a_reply_that_can_be_sent(kind, rng, command_id):
    """Finding 13 of issue 14: an accepted command's strings can be stored and sent back, and a
    refused one's reply (its id if usable, else null) can be encoded: no command goes unanswered."""
    data = payloads.payload(kind, rng, command_id)
    try:
        parsed = COMMANDS[kind](data)
    except ProtocolError as err:
        reply = {"id": peek_id(data), "ok": False, "error": {"code": err.code, "message": err.message}}
    else:
        fields = {k: v for k, v in dataclasses.asdict(parsed).items() if isinstance(v, str)}
        for value in fields.values():
            value.encode("utf-8")  # what SQLite stores; raises on a lone surrogate
        reply = {"id": parsed.id, "ok": True, "ticket": fields}
    assert parse_reply(encode(reply))["id"] == reply["id"]


@FUZZ
@given(rng=st.randoms(use_true_random=False), command_id=IDS)
def test_an_accepted_rating_is_a_score_of_one_to_four(rng, command_id):
    rating = parse_or_refuse(parse_rating, payloads.payload("rating", rng, command_id))
    assume(rating is not None)
    assert type(rating.score) is int and 1 <= rating.score <= 4


# --- protocol: valid messages round-trip --------------------------------------------------------

@given(command_id=IDS, service=SERVICE_CODES, priority=st.none() | st.booleans(), send_null=st.booleans())
def test_a_valid_take_round_trips(command_id, service, priority, send_null):
    sent = {} if priority is None and not send_null else {"priority": priority}  # null counts as absent
    message = {"id": command_id, "service": service, **sent}
    assert parse_take(encode(message)) == TakeCommand(command_id, service, bool(priority))


@given(command_id=IDS, action=st.sampled_from(COUNTER_ACTIONS), to=st.none() | SERVICE_CODES,
       ticket=st.none() | st.text(min_size=1, max_size=MAX_LABEL).filter(str.strip),
       reason=st.none() | st.text(max_size=MAX_REASON))
def test_a_valid_counter_command_round_trips(command_id, action, to, ticket, reason):
    to = to or ("B" if action == "transfer" else None)
    ticket = ticket or ("A023" if action == "call" else None)
    message = {"id": command_id, "action": action, "to": to, "ticket": ticket, "reason": reason}
    assert parse_counter_command(encode(message)) == CounterCommand(command_id, action, to, ticket, reason)


@given(command_id=IDS, score=st.integers(1, 4), extra=st.dictionaries(st.text(max_size=5).filter(
    lambda k: k not in ("id", "score")), st.integers() | st.text(max_size=5), max_size=3))
def test_a_valid_rating_round_trips_ignoring_unknown_fields(command_id, score, extra):
    assert parse_rating(encode({"id": command_id, "score": score, **extra})) == RatingCommand(command_id, score)


WHOLE = st.integers(min_value=0, max_value=2**62)
TIMES = st.datetimes(timezones=st.timezones()).map(lambda t: t.isoformat())
CALLS = st.fixed_dictionaries({"ticket": st.text(max_size=8), "counter": st.text(max_size=4),
                               "counter_name": st.text(max_size=10), "service": SERVICE_CODES, "at": TIMES,
                               "recall": WHOLE})
COUNTS = st.dictionaries(SERVICE_CODES, WHOLE, max_size=5)
SERVER_MESSAGES = [
    (parse_board, st.fixed_dictionaries({"seq": WHOLE, "at": TIMES, "calls": st.lists(CALLS, max_size=10),
                                         "waiting": COUNTS, "message": st.text(max_size=60)})),
    (parse_counter_state, st.fixed_dictionaries({
        "seq": WHOLE, "state": st.sampled_from(["idle", "calling", "serving", "paused"]),
        "ticket": st.none() | st.text(max_size=8), "waiting": COUNTS, "rating_until": st.none() | TIMES})),
    (parse_event, st.fixed_dictionaries({"seq": WHOLE, "at": TIMES, "type": st.sampled_from(
        ["issued", "called", "done", "rated"])}, optional={"ticket": st.text(max_size=8), "counter": st.text(
            max_size=4), "from": st.text(max_size=3), "score": st.integers(1, 4)})),
    (parse_reply, st.fixed_dictionaries({"id": IDS, "ok": st.just(True), "ticket": st.none() | st.dictionaries(
        st.text(max_size=8), st.text(max_size=8) | WHOLE, max_size=6)})),
    (parse_reply, st.fixed_dictionaries({"id": st.none() | IDS, "ok": st.just(False), "error": st.fixed_dictionaries(
        {"code": st.text(min_size=1).filter(str.strip), "message": st.text()})})),
]


@pytest.mark.parametrize("parser,messages", SERVER_MESSAGES, ids=lambda p: getattr(p, "__name__", ""))
@given(data=st.data())
def test_server_messages_encode_then_parse_to_the_same_dict(parser, messages, data):
    message = data.draw(messages)
    try:
        encoded = encode(message)
    except ProtocolError as err:  # only ever for size
        assert "byte limit" in err.message
        return
    assert parser(encoded) == message
    assert encode(parser(encoded)) == encoded


@given(message=st.dictionaries(st.text(max_size=6), st.sets(st.integers(), max_size=2) | st.integers()
                           | st.just(float("nan")) | st.binary(max_size=3), max_size=3))
def test_encode_gives_json_or_protocol_error(message):
    try:
        data = encode(message)
    except ProtocolError as err:
        assert err.message
        return
    assert json.loads(data) == message


def test_encode_refuses_a_message_nested_too_deeply():
    deep: dict[str, Any] = {}
    for _ in range(100_000):
        deep = {"a": deep}
    with pytest.raises(ProtocolError):
        encode({"id": "x", "deep": deep})


# --- topics and times ---------------------------------------------------------------------

TOPICS = Topics("queuebox", "xa-an-phu")
DEVICE_IDS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}", fullmatch=True)


@given(topic=st.text() | st.lists(st.sampled_from(["queuebox", "xa-an-phu", "kiosk", "counter", "board", "events",
                                                   "status", "take", "reply", "command", "rating", "state", "k1",
                                                   "1", "+", "#", "", "$SYS", "Đ"]), max_size=6).map("/".join))
def test_route_returns_a_route_or_none_for_any_topic(topic):
    route = TOPICS.route(topic)
    assert route is None or (isinstance(route, Route) and topic.startswith("queuebox/xa-an-phu/"))


@given(device=DEVICE_IDS)
def test_every_topic_built_for_a_valid_device_routes_back_to_it(device):
    for build, kind in ((TOPICS.kiosk_take, "take"), (TOPICS.counter_command, "command"),
                        (TOPICS.counter_rating, "rating"), (TOPICS.counter_state, "state"),
                        (TOPICS.status, "status")):
        assert TOPICS.route(build(device)) == Route(kind, device)


@given(text=st.text(max_size=40) | TIMES)
def test_parse_moment_gives_an_aware_time_or_value_error(text):
    try:
        moment = parse_moment(text)
    except ValueError:
        return
    assert moment.tzinfo is not None and moment.utcoffset() is not None


# --- config --------------------------------------------------------------------------------

TOML_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
TOML_VALUES = st.recursive(TOML_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=8), inner, max_size=3), max_leaves=8)
# Every key of a valid config, as a table parsed from TOML would hold it.
FULL = json.loads(json.dumps(dataclasses.asdict(make_config())))


def leaves(obj: Any, path: tuple = ()) -> list[tuple]:
    """The paths of every value inside nested dicts and lists."""
    if isinstance(obj, dict):
        return [path] + [p for k, v in obj.items() for p in leaves(v, path + (k,))]
    if isinstance(obj, list):
        return [path] + [p for i, v in enumerate(obj) for p in leaves(v, path + (i,))]
    return [path]


def replaced(obj: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    copy = dict(obj) if isinstance(obj, dict) else list(obj)
    copy[path[0]] = replaced(obj[path[0]], path[1:], new)
    return copy


def build_or_refuse(raw: Any) -> Config | None:
    try:
        return config_from_dict(raw)
    except ConfigError as err:
        assert err.problems and all(isinstance(p, str) and p for p in err.problems)
        return None


def test_the_full_table_is_the_config_it_came_from():
    assert config_from_dict(FULL) == make_config()


@given(raw=st.dictionaries(st.sampled_from(list(FULL) + ["x"]), TOML_VALUES, max_size=5))
def test_config_from_any_table_is_a_config_or_config_error(raw):
    build_or_refuse(raw)


@settings(max_examples=400, deadline=None)
@given(path=st.sampled_from(leaves(FULL)), new=TOML_VALUES)
def test_config_with_one_value_replaced_is_a_config_or_config_error(path, new):
    config = build_or_refuse(replaced(FULL, path, new))
    if config is not None:
        assert config.services and config.counters


def test_a_string_paper_width_is_a_config_error():
    with pytest.raises(ConfigError, match="paper_width_mm"):
        make_config(printer={"paper_width_mm": "58"})


def test_a_language_that_is_not_a_string_is_a_config_error():
    with pytest.raises(ConfigError, match=r"site.languages\[0\]"):
        make_config(site={"id": "t", "name": "n", "languages": [1]})


def test_a_nan_timeout_is_a_config_error():
    with pytest.raises(ConfigError, match="kiosk.reply_timeout_s"):
        make_config(kiosk={"reply_timeout_s": float("nan")})


FINITE = st.floats(min_value=0.01, max_value=1e6, allow_nan=False)
TOML_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
NAMES = TOML_TEXT.filter(lambda s: 0 < len(s) <= 20 and s.strip())


@settings(max_examples=60, deadline=None)
@given(name=NAMES, hotline=TOML_TEXT, message=TOML_TEXT, cooldown=FINITE, end=st.integers(
    2, 10**6), weight=st.integers(1, 10**9), services=st.lists(SERVICE_CODES, min_size=1, max_size=4, unique=True))
def test_to_toml_reads_back_to_the_same_config(name, hotline, message, cooldown, end, weight, services):
    config = make_config(services=[{"code": c, "name_vi": name, "number_end": end} for c in services],
                         counters=[{"id": "q-1", "name": name, "services": {c: weight for c in services}}],
                         site={"id": "s", "name": name, "hotline": hotline}, display={"message": message},
                         kiosk={"cooldown_s": cooldown})
    assert config_from_dict(tomllib.loads(to_toml(config))) == config


def test_to_toml_reads_back_a_name_with_a_del_character():
    config = make_config(site={"id": "s", "name": "Trung t\x7fâm"})
    assert config_from_dict(tomllib.loads(to_toml(config))) == config


# --- device side: what kiosks, displays and keypads do with what the server sends ------------------

KIOSK_TICKETS = st.fixed_dictionaries({}, optional={
    "label": st.text(max_size=6) | TOML_SCALARS, "service": st.text(max_size=3) | TOML_SCALARS,
    "service_name": st.text(max_size=8) | TOML_SCALARS, "issued_at": TIMES | st.text(max_size=30) | TOML_SCALARS,
    "waiting_ahead": st.integers() | TOML_SCALARS, "estimated_wait_min": st.integers() | TOML_SCALARS,
    "priority": TOML_SCALARS, "status_url": TOML_SCALARS, "service_name_en": TOML_SCALARS})


@given(ticket=st.none() | KIOSK_TICKETS)
def test_the_kiosk_reads_any_accepted_reply_ticket_or_refuses_with_value_error(ticket):
    reply = parse_or_refuse(parse_reply, json.dumps({"id": "k1-1", "ok": True, "ticket": ticket}).encode())
    assume(reply is not None)  # NaN or a size over the limit
    try:
        info = TicketInfo.from_reply(reply.get("ticket") or {})  # as device/kiosk.py does
    except ValueError:
        return
    assert info.label.strip() and info.issued_at.tzinfo is not None and info.waiting_ahead >= 0


def test_the_kiosk_refuses_a_rating_reply_on_its_topic_with_value_error():
    reply = parse_reply(b'{"id": "k1-1", "ok": true, "score": 1, "ticket": "A023"}')
    with pytest.raises(ValueError):
        TicketInfo.from_reply(reply.get("ticket") or {})


@FUZZ
@given(raw=TOML_VALUES | st.builds(payloads.board, st.randoms(use_true_random=False)))
def test_the_display_reads_any_json_as_a_board_without_raising(raw):
    board = read_board(raw)
    assert isinstance(board, Board) and len(board.calls) <= 10 and board.seq >= -1
    assert all(0 <= n for _, n in board.waiting)


@FUZZ
@given(rng=st.randoms(use_true_random=False), board_seq=st.none() | st.integers(-1, 50))
def test_the_display_gate_takes_any_accepted_event(rng, board_seq):
    gate = CallGate()
    if board_seq is not None:
        gate.board(board_seq)
    for n in range(5):
        event = parse_or_refuse(parse_event, payloads.payload("event", rng, ""))
        if event is not None:
            for accepted in gate.event(event, float(n)):
                assert accepted["type"] in ("called", "recalled")


LABELS = st.text(max_size=16) | st.from_regex(r"[A-Z]{1,3}[0-9]{1,20}", fullmatch=True)


@given(label=LABELS, counter_name=st.text(max_size=48), counter_id=st.text(max_size=16))
def test_the_spoken_call_is_made_for_any_label_and_counter(label, counter_name, counter_id):
    texts = call_text(label, counter_name, counter_id)
    assert set(texts) == {"vi", "en"} and all(isinstance(t, str) for t in texts.values())


def test_the_spoken_call_is_made_for_a_label_with_a_superscript_digit():
    call_text("A²", "Quầy 1", "1")


@given(rating_until=st.none() | TIMES | st.text(max_size=70))
def test_the_keypad_reads_the_rating_window_of_any_accepted_state(rating_until):
    message = {"seq": 1, "state": "idle", "ticket": None, "waiting": {}, "rating_until": rating_until}
    state = parse_or_refuse(parse_counter_state, json.dumps(message).encode())
    if state is not None and state["rating_until"] is not None:
        parse_moment(state["rating_until"])  # what device/keypad.py does next, unguarded


# --- API tokens -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def token_db(tmp_path_factory):
    db = store.open_database(tmp_path_factory.mktemp("tokens") / "t.db")
    store.migrate(db)
    yield db, api_tokens.create(db, "portal", "test", MONDAY_9AM, scopes=api_tokens.ALL_SCOPES)
    db.close()


@settings(max_examples=200, deadline=None)
@given(token=st.none() | st.text(max_size=200) | st.text(max_size=60).map(lambda s: "qb_" + s))
def test_api_token_verify_is_a_name_or_none_for_any_text(token_db, token):
    db, good = token_db
    assert api_tokens.verify(db, token, MONDAY_9AM) is None
    assert api_tokens.verify(db, good, MONDAY_9AM).name == "portal"


@given(name=st.text(max_size=40) | st.none() | st.integers())
def test_api_token_names_are_checked_without_raising(name):
    problem = api_tokens.check_name(name)
    assert problem is None or isinstance(problem, str)
    assert (problem is None) == (isinstance(name, str) and name == name.lower() and 0 < len(name) <= 28
                                 and name[0].isalnum() and all(c.isalnum() or c in "-_" for c in name)
                                 and name.isascii())


def test_payload_generator_is_replayable_by_seed():
    first = [payloads.payload(k, random.Random(7), "id") for k in PARSERS]
    assert first == [payloads.payload(k, random.Random(7), "id") for k in PARSERS]
