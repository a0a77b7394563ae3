"""The MQTT protocol (DESIGN.md §4): topics, command parsing, server message validation, encoding."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from queuebox.errors import QueueboxError
from queuebox.protocol import (COUNTER_ACTIONS, ERROR_CODES, EVENT_TYPES, MAX_ID, MAX_PAYLOAD, CounterCommand,
                               ProtocolError, RatingCommand, Route, TakeCommand, Topics, encode,
                               parse_counter_command, parse_rating, parse_take, peek_id)
from queuebox.protocol_messages import parse_board, parse_counter_state, parse_event, parse_reply, parse_voice

T = Topics("queuebox", "xa-an-phu")
BASE = "queuebox/xa-an-phu"
CALL_VI = "Mời số A023 đến quầy 3"
COMMAND_PARSERS = [parse_take, parse_counter_command, parse_rating]
ALL_PARSERS = COMMAND_PARSERS + [parse_board, parse_counter_state, parse_event, parse_reply, parse_voice]


def js(obj) -> bytes:
    """A payload as a client would send it (plain json.dumps, not our encoder)."""
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


def refused(parser, payload) -> ProtocolError:
    with pytest.raises(ProtocolError) as err:
        parser(payload)
    return err.value


def padded(obj: dict, size: int) -> bytes:
    """`obj` as JSON of exactly `size` bytes, grown with an unknown field."""
    data = js({**obj, "pad": ""})
    data = js({**obj, "pad": "x" * (size - len(data))})
    assert len(data) == size
    return data


# --- topics -------------------------------------------------------------------------------

@pytest.mark.parametrize("topic,expected,kind,device", [
    (T.kiosk_take("k1"), f"{BASE}/kiosk/k1/take", "take", "k1"),
    (T.kiosk_reply("k1"), f"{BASE}/kiosk/k1/reply", "kiosk_reply", "k1"),
    (T.counter_command("3"), f"{BASE}/counter/3/command", "command", "3"),
    (T.counter_reply("3"), f"{BASE}/counter/3/reply", "counter_reply", "3"),
    (T.counter_rating("q-3_b"), f"{BASE}/counter/q-3_b/rating", "rating", "q-3_b"),
    (T.counter_state("Q3"), f"{BASE}/counter/Q3/state", "state", "Q3"),
    (T.board(), f"{BASE}/board", "board", None),
    (T.events(), f"{BASE}/events", "events", None),
    (T.status("kiosk-k1"), f"{BASE}/status/kiosk-k1", "status", "kiosk-k1"),
])
def test_topic_builders_and_their_route(topic, expected, kind, device):
    assert topic == expected
    assert T.route(topic) == Route(kind, device)


def test_the_simulated_kiosk_topic_is_the_one_its_account_may_read():
    from server.credentials import accounts, acl_rules
    from tests.factories import make_config

    assert T.kiosk_simulate("k1") == f"{BASE}/kiosk/k1/simulate"
    config = make_config()
    kiosk = next(a for a in accounts(config) if a.kind == "kiosk")
    topics = Topics(config.mqtt.root, config.site.id)
    assert ("read", topics.kiosk_simulate(kiosk.device)) in acl_rules(kiosk, f"{topics.root}/{topics.site}/")
    with pytest.raises(ValueError):
        T.kiosk_simulate("k/1")


def test_server_subscribes_to_the_three_command_topics_and_the_statuses():
    assert T.server_subscriptions() == [f"{BASE}/kiosk/+/take", f"{BASE}/counter/+/command", f"{BASE}/counter/+/rating",
                                        f"{BASE}/status/+"]


def test_the_uplink_reads_every_clients_status_through_one_wildcard():
    assert T.all_status() == f"{BASE}/status/+"
    with pytest.raises(ValueError):  # a single client's topic never takes a wildcard
        T.status("+")


@pytest.mark.parametrize("concrete,kind", [
    (f"{BASE}/kiosk/k9/take", "take"), (f"{BASE}/counter/7/command", "command"), (f"{BASE}/counter/7/rating", "rating"),
    (f"{BASE}/status/display-d1", "status"),
])
def test_every_subscription_routes_what_it_matches(concrete, kind):
    matching = [f for f in T.server_subscriptions()
                if all(a in ("+", b) for a, b in zip(f.split("/"), concrete.split("/")))]
    assert len(matching) == 1
    assert T.route(concrete).kind == kind


def test_a_root_of_several_levels_builds_and_routes():
    topics = Topics("test/run-7", "site1")
    assert topics.counter_command("2") == "test/run-7/site1/counter/2/command"
    assert topics.route("test/run-7/site1/counter/2/command") == Route("command", "2")
    assert topics.route("queuebox/site1/counter/2/command") is None


def test_the_longest_device_id_is_accepted():
    device = "a" * 32
    assert T.route(T.kiosk_take(device)) == Route("take", device)


@pytest.mark.parametrize("topic", [
    "queuebox/other-site/counter/3/command",          # another site
    "queuebox/xa-an-phu-2/board",                     # a site that only starts like ours
    "other/xa-an-phu/counter/3/command",              # another root
    "queuebox2/xa-an-phu/board",
    "xa-an-phu/board",
    f"{BASE}/counter/3/command/extra",                # extra level
    f"{BASE}/board/extra",
    f"{BASE}/status/a/b",
    f"{BASE}/kiosk/k1",                               # missing level
    f"{BASE}/counter//command",                       # empty device
    f"{BASE}/kiosk/+/take",                           # wildcards
    f"{BASE}/counter/#",
    f"{BASE}/#",
    f"{BASE}/counter/3/take",                         # a kiosk leaf under counter
    f"{BASE}/kiosk/k1/command",                       # a counter leaf under kiosk
    f"{BASE}/kiosk/k1/state",
    f"{BASE}/counter/3/Command",                      # leaves are lowercase
    f"{BASE}/counter/-3/command",                     # device must start with a letter or digit
    f"{BASE}/counter/quầy3/command",                  # ASCII only
    f"{BASE}/counter/{'a' * 33}/command",             # too long
    f"{BASE}/counter/3\n/command",
    f"{BASE}/board/",
    f"{BASE}/",
    BASE,
    "",
    "$SYS/broker/uptime",
])
def test_route_refuses_topics_that_are_not_ours(topic):
    assert T.route(topic) is None


def test_route_refuses_what_is_not_a_string():
    assert T.route(b"queuebox/xa-an-phu/board") is None  # type: ignore[arg-type]


BAD_DEVICES = ["", "a/b", "+", "#", "k+", "k#", "-k", "_k", "a" * 33, "quầy", " k1", "k1\n", None, 3]


@pytest.mark.parametrize("builder", [T.kiosk_take, T.kiosk_reply, T.counter_command, T.counter_reply,
                                     T.counter_rating, T.counter_state, T.status])
@pytest.mark.parametrize("device", BAD_DEVICES)
def test_topic_builders_refuse_bad_device_ids(builder, device):
    with pytest.raises(ValueError, match="must be 1 to 32 letters"):
        builder(device)


@pytest.mark.parametrize("root,site", [
    ("", "s"), ("a//b", "s"), ("a/", "s"), ("/a", "s"), ("qu+eue", "s"), ("q/#", "s"), ("$SYS", "s"),
    ("queuebox", ""), ("queuebox", "a/b"), ("queuebox", "+"), ("queuebox", "#"),
])
def test_topics_refuse_a_bad_root_or_site(root, site):
    with pytest.raises(ValueError):
        Topics(root, site)


# --- commands: accepted -------------------------------------------------------------------

@pytest.mark.parametrize("payload,expected", [
    ({"id": "k1-1", "service": "A"}, TakeCommand("k1-1", "A", False)),
    ({"id": "k1-2", "service": "BCD", "priority": True}, TakeCommand("k1-2", "BCD", True)),
    ({"id": "x" * MAX_ID, "service": "E", "priority": False}, TakeCommand("x" * MAX_ID, "E", False)),
    ({"id": "Mời-1", "service": "A", "lang": "vi", "extra": {"nested": [1, 2]}}, TakeCommand("Mời-1", "A")),
    ({"id": "k1-3", "service": "A", "priority": None}, TakeCommand("k1-3", "A", False)),  # null counts as absent
    # a priority group: the ticket is priority whether "priority" is true, absent or null
    ({"id": "g1", "service": "A", "group": "CT"}, TakeCommand("g1", "A", True, "CT")),
    ({"id": "g2", "service": "A", "group": "KT", "priority": True}, TakeCommand("g2", "A", True, "KT")),
    ({"id": "g3", "service": "A", "group": "TE6", "priority": None}, TakeCommand("g3", "A", True, "TE6")),
    ({"id": "g4", "service": "A", "group": "9"}, TakeCommand("g4", "A", True, "9")),
    ({"id": "g5", "service": "A", "group": None}, TakeCommand("g5", "A", False, None)),  # null: no group
    ({"id": "g6", "service": "A", "group": None, "priority": True}, TakeCommand("g6", "A", True, None)),
])
def test_parse_take_accepts(payload, expected):
    assert parse_take(js(payload)) == expected


@pytest.mark.parametrize("action", [a for a in COUNTER_ACTIONS if a not in ("transfer", "call")])
def test_parse_counter_command_accepts_each_simple_action(action):
    assert parse_counter_command(js({"id": "c-1", "action": action})) == CounterCommand("c-1", action)


@pytest.mark.parametrize("payload,expected", [
    ({"id": "c1", "action": "transfer", "to": "B"}, CounterCommand("c1", "transfer", to="B")),
    ({"id": "c2", "action": "call", "ticket": "A023"}, CounterCommand("c2", "call", ticket="A023")),
    ({"id": "c3", "action": "call", "ticket": "A" * 16}, CounterCommand("c3", "call", ticket="A" * 16)),
    ({"id": "c4", "action": "pause", "reason": "nghỉ trưa"}, CounterCommand("c4", "pause", reason="nghỉ trưa")),
    ({"id": "c5", "action": "pause", "reason": "r" * 200}, CounterCommand("c5", "pause", reason="r" * 200)),
    ({"id": "c6", "action": "pause", "reason": ""}, CounterCommand("c6", "pause", reason="")),
    ({"id": "c7", "action": "transfer", "to": "CD", "ticket": None, "reason": "sai lĩnh vực", "by": "ui"},
     CounterCommand("c7", "transfer", to="CD", reason="sai lĩnh vực")),
    ({"id": "c8", "action": "next", "to": None, "ticket": None, "reason": None}, CounterCommand("c8", "next")),
])
def test_parse_counter_command_accepts(payload, expected):
    assert parse_counter_command(js(payload)) == expected


@pytest.mark.parametrize("score", [1, 2, 3, 4])
def test_parse_rating_accepts_scores_one_to_four(score):
    assert parse_rating(js({"id": "r1", "score": score, "comment": "ignored"})) == RatingCommand("r1", score)


@pytest.mark.parametrize("payload", [
    '{"id":"s1","service":"A"}',                      # str payloads are read as UTF-8
    bytearray(b'{"id":"s1","service":"A"}'),
    memoryview(b'{"id":"s1","service":"A"}'),
    b' \n{"id" : "s1", "service" : "A"}\t',           # whitespace around JSON tokens
])
def test_parsers_read_any_buffer_of_json(payload):
    assert parse_take(payload) == TakeCommand("s1", "A")


# --- commands: refused --------------------------------------------------------------------

NOT_JSON = [
    (b"", "not JSON"),
    (b"next", "not JSON"),
    (b"{'id': 'a'}", "not JSON"),
    (b'{"id": "a",}', "not JSON"),
    (b'{"id": "a", "score": NaN}', "NaN is not JSON"),
    (b'{"id": "a", "score": Infinity}', "Infinity is not JSON"),
    (b'[{"id": "a"}]', "must be a JSON object, not an array"),
    (b'"online"', "must be a JSON object, not a string"),
    (b"3", "must be a JSON object, not a number"),
    (b"null", "must be a JSON object, not null"),
    (b"true", "must be a JSON object, not a boolean"),
    (b'{"id": "a\xff"}', "not UTF-8"),
    (b"\xc3\x28", "not UTF-8"),
    (b"\xed\xa0\x80", "not UTF-8"),                  # an encoded surrogate
    ('{"id": "a"}'.encode("utf-16"), "not UTF-8"),    # json.loads alone would accept UTF-16
    (b"\xef\xbb\xbf{}", "BOM"),
    (b'{"id": "a", "id": "b"}', 'key "id" appears twice'),
    ("{\"id\": \"\udc80\"}", "not valid UTF-8"),       # a str with a lone surrogate
    (b"x" * (1 << 20), "1048576 bytes, more than the 4096-byte limit"),
    (b"{" + b" " * (MAX_PAYLOAD - 2) + b"}" + b" ", "4097 bytes"),
    (b"\xff" * (MAX_PAYLOAD + 1), "4097 bytes"),       # length is checked before decoding
    ("ờ" * (MAX_PAYLOAD // 2), "more than the 4096-byte limit"),
    (None, "must be bytes"),
    ({"id": "a"}, "must be bytes"),
]


@pytest.mark.parametrize("parser", ALL_PARSERS)
@pytest.mark.parametrize("payload,reason", NOT_JSON)
def test_parsers_refuse_what_is_not_a_json_object(parser, payload, reason):
    err = refused(parser, payload)
    assert reason in err.message
    assert err.command_id is None


LONE = "\\ud800"  # a lone surrogate, as a JSON escape in the payload text (finding 13 of issue 14)


@pytest.mark.parametrize("parser,payload,command_id", [
    (parse_take, '{"id": "s1' + LONE + '", "service": "A"}', None),
    (parse_take, '{"id": "s2", "service": "' + LONE + '"}', "s2"),
    (parse_take, '{"id": "s3", "service": "A", "note": ["' + LONE + '"]}', "s3"),
    (parse_take, '{"id": "s4", "service": "A", "x": {"' + "\\udfff" + '": 1}}', "s4"),
    (parse_counter_command, '{"id": "c1", "action": "call", "ticket": "A' + LONE + '"}', "c1"),
    (parse_counter_command, '{"id": "c2", "action": "pause", "reason": "' + LONE + '"}', "c2"),
    (parse_rating, '{"id": "' + LONE + '", "score": 1}', None),
])
def test_a_lone_surrogate_escape_is_refused_with_the_id_when_it_is_usable(parser, payload, command_id):
    err = refused(parser, payload.encode())
    assert "lone surrogate" in err.message
    assert (err.command_id, peek_id(payload.encode())) == (command_id, command_id)


def test_a_pair_of_surrogate_escapes_is_one_character_and_accepted():
    assert parse_take(b'{"id": "k\\ud83d\\ude00", "service": "A"}').id == "k\U0001F600"


@pytest.mark.parametrize("parser,minimal", [
    (parse_take, {"id": "a", "service": "A"}),
    (parse_counter_command, {"id": "a", "action": "next"}),
    (parse_rating, {"id": "a", "score": 4}),
])
def test_a_payload_of_exactly_the_limit_is_accepted_and_one_byte_more_refused(parser, minimal):
    assert parser(padded(minimal, MAX_PAYLOAD)).id == "a"
    assert "4097 bytes" in refused(parser, padded(minimal, MAX_PAYLOAD + 1)).message


ID_CASES = [
    ({}, '"id" is required'),
    ({"id": None}, '"id" must be a string, not null'),
    ({"id": 12}, '"id" must be a string, not 12'),
    ({"id": True}, '"id" must be a string, not true'),
    ({"id": ["a"]}, '"id" must be a string, not ["a"]'),
    ({"id": ""}, '"id" must be 1 to 64 characters, not 0'),
    ({"id": "x" * 65}, '"id" must be 1 to 64 characters, not 65'),
]


@pytest.mark.parametrize("parser,rest", [
    (parse_take, {"service": "A"}), (parse_counter_command, {"action": "next"}), (parse_rating, {"score": 3}),
    (parse_reply, {"ok": True}),
])
@pytest.mark.parametrize("id_part,reason", ID_CASES)
def test_commands_and_replies_need_a_valid_id(parser, rest, id_part, reason):
    err = refused(parser, js({**rest, **id_part}))
    assert err.message == reason
    assert err.command_id is None


TAKE_REFUSALS = [
    ({"id": "a"}, '"service" is required'),
    ({"id": "a", "service": None}, '"service" is required'),
    ({"id": "a", "service": "a"}, '"service" must be a service code of 1 to 3 capital letters, not "a"'),
    ({"id": "a", "service": ""}, '"service" must be a service code'),
    ({"id": "a", "service": "ABCD"}, '"service" must be a service code'),
    ({"id": "a", "service": "Đ"}, '"service" must be a service code'),
    ({"id": "a", "service": "A1"}, '"service" must be a service code'),
    ({"id": "a", "service": "A\n"}, '"service" must be a service code'),
    ({"id": "a", "service": 1}, '"service" must be a service code of 1 to 3 capital letters, not 1'),
    ({"id": "a", "service": "A", "priority": "yes"}, '"priority" must be true or false, not "yes"'),
    ({"id": "a", "service": "A", "priority": 1}, '"priority" must be true or false, not 1'),
    ({"id": "a", "service": "A", "priority": 0}, '"priority" must be true or false, not 0'),
    ({"id": "a", "service": "A", "group": "CT", "priority": False}, '"priority": false contradicts "group": "CT"'),
    ({"id": "a", "service": "A", "group": "ct"}, '"group" must be a priority group code of 1 to 4 capital letters'),
    ({"id": "a", "service": "A", "group": "CTKTM"}, '"group" must be a priority group code'),
    ({"id": "a", "service": "A", "group": ""}, '"group" must be a priority group code'),
    ({"id": "a", "service": "A", "group": "C T"}, '"group" must be a priority group code'),
    ({"id": "a", "service": "A", "group": "CƯ"}, '"group" must be a priority group code'),
    ({"id": "a", "service": "A", "group": 1}, '"group" must be a priority group code of 1 to 4 capital letters '
                                              'or digits, not 1'),
    ({"id": "a", "service": "A", "group": ["CT"]}, '"group" must be a priority group code'),
]

COUNTER_REFUSALS = [
    ({"id": "a"}, '"action" is required: one of next, recall'),
    ({"id": "a", "action": "jump"}, '"action" must be one of next, recall, start, done, no_show, transfer, call, '
                                    'pause, resume, not "jump"'),
    ({"id": "a", "action": "NEXT"}, '"action" must be one of'),
    ({"id": "a", "action": "next "}, '"action" must be one of'),
    ({"id": "a", "action": ["next"]}, '"action" must be one of'),
    ({"id": "a", "action": None}, '"action" must be one of'),
    ({"id": "a", "action": "transfer"}, '"to" is required for action "transfer"'),
    ({"id": "a", "action": "transfer", "to": None}, '"to" is required for action "transfer"'),
    ({"id": "a", "action": "transfer", "to": "b"}, '"to" must be a service code of 1 to 3 capital letters, not "b"'),
    ({"id": "a", "action": "transfer", "to": 2}, '"to" must be a service code'),
    ({"id": "a", "action": "next", "to": "lowercase"}, '"to" must be a service code'),
    ({"id": "a", "action": "call"}, '"ticket" is required for action "call"'),
    ({"id": "a", "action": "call", "ticket": 23}, '"ticket" must be a non-blank ticket label of at most 16 characters'),
    ({"id": "a", "action": "call", "ticket": ""}, '"ticket" must be a non-blank ticket label'),
    ({"id": "a", "action": "call", "ticket": "   "}, '"ticket" must be a non-blank ticket label'),
    ({"id": "a", "action": "call", "ticket": "A" * 17}, '"ticket" must be a non-blank ticket label of at most 16'),
    ({"id": "a", "action": "pause", "reason": 5}, '"reason" must be a string of at most 200 characters, not 5'),
    ({"id": "a", "action": "pause", "reason": "r" * 201}, '"reason" must be a string of at most 200 characters'),
    ({"id": "a", "action": "pause", "reason": {"text": "x"}}, '"reason" must be a string'),
]

RATING_REFUSALS = [
    ({"id": "a"}, '"score" is required'),
    ({"id": "a", "score": 0}, '"score" must be a whole number from 1 to 4, not 0'),
    ({"id": "a", "score": 5}, '"score" must be a whole number from 1 to 4, not 5'),
    ({"id": "a", "score": -1}, '"score" must be a whole number from 1 to 4, not -1'),
    ({"id": "a", "score": True}, '"score" must be a whole number from 1 to 4, not true'),
    ({"id": "a", "score": False}, '"score" must be a whole number from 1 to 4, not false'),
    ({"id": "a", "score": "3"}, '"score" must be a whole number from 1 to 4, not "3"'),
    ({"id": "a", "score": 3.0}, '"score" must be a whole number from 1 to 4, not 3.0'),
    ({"id": "a", "score": 2.5}, '"score" must be a whole number from 1 to 4, not 2.5'),
    ({"id": "a", "score": None}, '"score" must be a whole number from 1 to 4, not null'),
    ({"id": "a", "score": [3]}, '"score" must be a whole number from 1 to 4, not [3]'),
]


@pytest.mark.parametrize("parser,payload,reason",
                         [(parse_take, p, r) for p, r in TAKE_REFUSALS]
                         + [(parse_counter_command, p, r) for p, r in COUNTER_REFUSALS]
                         + [(parse_rating, p, r) for p, r in RATING_REFUSALS])
def test_commands_refuse_wrong_fields_naming_the_field(parser, payload, reason):
    err = refused(parser, js(payload))
    assert err.message.startswith(reason)
    assert err.command_id == "a"  # the id was readable, so the server can answer bad_request to it


def test_protocol_error_is_a_bad_request_value_error():
    err = refused(parse_rating, js({"id": "r-9", "score": 9}))
    assert isinstance(err, QueueboxError)
    assert isinstance(err, ValueError)
    assert err.code == "bad_request"
    assert err.code in ERROR_CODES
    assert str(err) == err.message


def test_a_long_bad_value_is_shortened_in_the_message():
    err = refused(parse_take, js({"id": "a", "service": "X" * 500}))
    assert len(err.message) < 120
    assert err.message.endswith("…")


@pytest.mark.parametrize("parser", ALL_PARSERS)
@pytest.mark.parametrize("payload", [
    b"[" * 2000 + b"]" * 2000,
    b'{"id":"a","service":' + b"[" * 2000 + b"]" * 2000 + b"}",
])
def test_deep_nesting_is_a_protocol_error_not_a_crash(parser, payload):
    """Python 3.11's decoder hits the recursion limit at this depth; newer ones may not, but neither may crash."""
    err = refused(parser, payload)
    assert err.message
    assert err.command_id in (None, "a")


def test_a_deeply_nested_bad_value_is_still_reported():
    payload = b'{"id":"a","score":' + b"[" * 900 + b"]" * 900 + b"}"
    assert refused(parse_rating, payload).message.startswith('"score" must be a whole number from 1 to 4')


# --- peek_id ------------------------------------------------------------------------------

@pytest.mark.parametrize("payload,expected", [
    (b'{"id": "k1-7", "service": "lowercase"}', "k1-7"),
    (b'{"id": "k1-7", "score": true}', "k1-7"),
    (b'{"id": "x"}', "x"),
    ('{"id": "chuỗi"}', "chuỗi"),
    (js({"id": "y" * MAX_ID}), "y" * MAX_ID),
    (js({"id": "y" * (MAX_ID + 1)}), None),
    (b'{"id": ""}', None),
    (b'{"id": 7}', None),
    (b'{"id": null}', None),
    (b'{"service": "A"}', None),
    (b'[{"id": "x"}]', None),
    (b'{"id": "x"', None),
    (b'{"id": "x", "id": "y"}', None),
    (b"\xff\xfe", None),
    (b"", None),
    (padded({"id": "big"}, MAX_PAYLOAD + 1), None),
    (None, None),
    (42, None),
])
def test_peek_id(payload, expected):
    assert peek_id(payload) == expected


@given(st.binary(max_size=MAX_PAYLOAD + 16))
def test_peek_id_never_raises_on_bytes(payload):
    found = peek_id(payload)
    assert found is None or (isinstance(found, str) and 0 < len(found) <= MAX_ID)


@given(st.text())
def test_peek_id_never_raises_on_text(payload):
    found = peek_id(payload)
    assert found is None or (isinstance(found, str) and 0 < len(found) <= MAX_ID)


@pytest.mark.parametrize("parser", ALL_PARSERS)
@given(payload=st.one_of(st.binary(), st.text()))
def test_parsers_raise_only_protocol_error_on_garbage(parser, payload):
    try:
        parser(payload)
    except ProtocolError as err:
        assert err.message
        assert err.command_id == peek_id(payload)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
FIELDS = ["id", "service", "priority", "action", "to", "ticket", "reason", "score", "seq", "at", "type", "state",
          "calls", "waiting", "message", "ok", "error"]


@pytest.mark.parametrize("parser", ALL_PARSERS)
@given(obj=st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), JSON_VALUES, max_size=8))
def test_parsers_raise_only_protocol_error_on_json_objects_of_any_shape(parser, obj):
    payload = js(obj)
    try:
        parser(payload)
    except ProtocolError as err:
        assert err.message
        assert err.command_id == peek_id(payload)


# --- encode -------------------------------------------------------------------------------

def test_encode_is_compact_utf8_json_keeping_key_order():
    assert encode({"id": "k1-1", "ok": True, "ticket": None}) == b'{"id":"k1-1","ok":true,"ticket":null}'


def test_encode_keeps_vietnamese_text_byte_exact():
    board = {"seq": 5, "at": "2026-11-23T09:00:00+07:00", "calls": [], "waiting": {"A": 0}, "message": CALL_VI}
    data = encode(board)
    assert CALL_VI.encode("utf-8") in data
    assert b"\\u" not in data
    assert parse_board(data) == board
    assert parse_board(data)["message"].encode("utf-8") == CALL_VI.encode("utf-8")
    assert encode(parse_board(data)) == data


def test_encode_accepts_exactly_the_limit():
    message = {"seq": 1, "at": "", "calls": [], "waiting": {}, "message": ""}
    filler = MAX_PAYLOAD - len(encode(message))
    assert len(encode({**message, "message": "x" * filler})) == MAX_PAYLOAD


@pytest.mark.parametrize("message,size", [
    ({"id": "big", "message": "x" * MAX_PAYLOAD}, None),
    ({"id": "big", "message": "ờ" * 1366}, 4123),       # 1,389 characters, 4,123 bytes: the limit is in bytes
])
def test_encode_refuses_an_oversize_message(message, size):
    with pytest.raises(ProtocolError) as err:
        encode(message)
    assert "more than the 4096-byte limit" in err.value.message
    assert size is None or f"{size} bytes" in err.value.message
    assert err.value.command_id == "big"


@pytest.mark.parametrize("message", [{"score": float("nan")}, {"score": float("inf")}, {"text": "\udc80"}])
def test_encode_refuses_what_is_not_json(message):
    with pytest.raises(ProtocolError, match="not valid JSON"):
        encode(message)


@pytest.mark.parametrize("message", [["a"], "online", None])
def test_encode_takes_only_dicts(message):
    with pytest.raises(TypeError):
        encode(message)


# --- server messages: board ---------------------------------------------------------------

def a_call(**overrides) -> dict:
    return {"ticket": "A023", "counter": "3", "counter_name": "Quầy 3", "service": "A",
            "at": "2026-11-23T09:00:00+07:00", "recall": 0, **overrides}


def a_board(**overrides) -> dict:
    return {"seq": 42, "at": "2026-11-23T09:00:01+07:00", "calls": [a_call(), a_call(ticket="B002", recall=2)],
            "waiting": {"A": 4, "B": 0}, "message": CALL_VI, **overrides}


@pytest.mark.parametrize("board", [
    a_board(),
    a_board(seq=0, calls=[], waiting={}, message=""),
    a_board(calls=[a_call(ticket=f"A{i:03d}") for i in range(10)]),
    a_board(theme="dark", calls=[a_call(lang="vi")]),
    a_board(calls=[a_call(group="CT"), a_call(group=None), a_call()]),  # a group, null and absent are all fine
])
def test_parse_board_accepts(board):
    assert parse_board(js(board)) == board


@pytest.mark.parametrize("board,reason", [
    ({k: v for k, v in a_board().items() if k != "message"}, '"message" is required'),
    ({k: v for k, v in a_board().items() if k != "calls"}, '"calls" is required'),
    (a_board(seq=-1), '"seq" must be a whole number of 0 or more, not -1'),
    (a_board(seq="42"), '"seq" must be a whole number of 0 or more, not "42"'),
    (a_board(seq=True), '"seq" must be a whole number of 0 or more, not true'),
    (a_board(at=None), '"at" is required'),
    (a_board(at=20261123), '"at" must be a string, not 20261123'),
    (a_board(calls={}), '"calls" must be an array of at most 10 entries, not {}'),
    (a_board(calls=[a_call()] * 11), '"calls" must be an array of at most 10 entries'),
    (a_board(calls=["A023"]), '"calls[0]" must be an object, not "A023"'),
    (a_board(calls=[a_call(), a_call(recall=-1)]), '"calls[1].recall" must be a whole number of 0 or more, not -1'),
    (a_board(calls=[a_call(recall=False)]), '"calls[0].recall" must be a whole number of 0 or more, not false'),
    (a_board(calls=[a_call(counter=3)]), '"calls[0].counter" must be a string, not 3'),
    (a_board(calls=[{k: v for k, v in a_call().items() if k != "counter_name"}]), '"calls[0].counter_name" is required'),
    (a_board(calls=[a_call(group="ct")]), '"calls[0].group" must be a priority group code of 1 to 4 capital letters'),
    (a_board(calls=[a_call(group=7)]), '"calls[0].group" must be a priority group code'),
    (a_board(waiting=[4]), '"waiting" must be an object of service code: count, not [4]'),
    (a_board(waiting={"A": -1}), '"waiting.A" must be a whole number of 0 or more, not -1'),
    (a_board(waiting={"A": "4"}), '"waiting.A" must be a whole number of 0 or more, not "4"'),
    (a_board(message=None), '"message" is required'),
    (a_board(message=["x"]), '"message" must be a string, not ["x"]'),
])
def test_parse_board_refuses(board, reason):
    err = refused(parse_board, js(board))
    assert err.message.startswith(reason)


# --- server messages: counter state, events, replies ----------------------------------------

@pytest.mark.parametrize("state", [
    {"seq": 7, "state": "idle", "ticket": None, "waiting": {}},
    {"seq": 8, "state": "calling", "ticket": "A023", "waiting": {"A": 4, "B": 1}},
    {"seq": 9, "state": "serving", "ticket": "A023", "waiting": {"A": 3}, "name": "Quầy 3"},
    {"seq": 10, "state": "paused", "ticket": None, "waiting": {"A": 3}},
    {"seq": 11, "state": "paused", "ticket": None, "waiting": {}, "name": "Quầy 3", "reason": "Họp giao ban"},
    {"seq": 12, "state": "idle", "ticket": None, "waiting": {}, "name": "Quầy 3", "reason": None},
])
def test_parse_counter_state_accepts(state):
    assert parse_counter_state(js(state)) == state


@pytest.mark.parametrize("extra", [{"reason": 5}, {"reason": ["Họp"]}, {"name": {"vi": "Quầy 3"}}, {"name": True}])
def test_a_counter_states_name_or_reason_of_the_wrong_type_is_left_out(extra):
    """Additions to v1, read leniently: the rest of the state still holds."""
    base = {"seq": 3, "state": "paused", "ticket": None, "waiting": {}}
    assert parse_counter_state(js({**base, **extra})) == base


@pytest.mark.parametrize("state,reason", [
    ({"state": "idle", "ticket": None, "waiting": {}}, '"seq" is required'),
    ({"seq": 1, "state": "busy", "ticket": None, "waiting": {}},
     '"state" must be one of idle, calling, serving, paused, not "busy"'),
    ({"seq": 1, "ticket": None, "waiting": {}}, '"state" is required: one of idle, calling, serving, paused'),
    ({"seq": 1, "state": "idle", "waiting": {}}, '"ticket" is required (null when the counter holds no ticket)'),
    ({"seq": 1, "state": "calling", "ticket": 23, "waiting": {}}, '"ticket" must be a string, not 23'),
    ({"seq": 1, "state": "idle", "ticket": None}, '"waiting" is required'),
    ({"seq": 1, "state": "idle", "ticket": None, "waiting": {"A": 1.5}},
     '"waiting.A" must be a whole number of 0 or more, not 1.5'),
])
def test_parse_counter_state_refuses(state, reason):
    assert refused(parse_counter_state, js(state)).message == reason


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_parse_event_accepts_every_type_keeping_other_keys(event_type):
    event = {"seq": 12, "at": "2026-11-23T09:00:00+07:00", "type": event_type, "ticket": "A023", "service": "A",
             "counter": "3", "call_count": 2, "from": "A", "to": "B", "reason": "nghỉ trưa"}
    assert parse_event(js(event)) == event


@pytest.mark.parametrize("event_type", ["config_changed", "catalogue_changed", "a_type_of_a_newer_server"])
def test_parse_event_passes_the_administration_and_newer_types_on(event_type):
    """A display must not drop, with a warning each time, the events of a manager's changes."""
    event = {"seq": 12, "at": "2026-11-23T09:00:00+07:00", "type": event_type, "actor": "web/manager"}
    assert parse_event(js(event)) == event


def test_parse_event_accepts_the_minimal_event():
    event = {"seq": 0, "at": "2026-11-23T07:00:00+07:00", "type": "day_opened"}
    assert parse_event(js(event)) == event


@pytest.mark.parametrize("event,reason", [
    ({"at": "t", "type": "called"}, '"seq" is required'),
    ({"seq": "1", "at": "t", "type": "called"}, '"seq" must be a whole number of 0 or more, not "1"'),
    ({"seq": 1, "type": "called"}, '"at" is required'),
    ({"seq": 1, "at": "t"}, '"type" is required'),
    ({"seq": 1, "at": "t", "type": 7}, '"type" must be an event type of at most 32 characters, not 7'),
    ({"seq": 1, "at": "t", "type": "Called!"}, '"type" must be an event type of lower-case letters'),
    ({"seq": 1, "at": "t", "type": "called", "ticket": 23}, '"ticket" must be a string, not 23'),
    ({"seq": 1, "at": "t", "type": "called", "counter": 3}, '"counter" must be a string, not 3'),
])
def test_parse_event_refuses(event, reason):
    assert refused(parse_event, js(event)).message.startswith(reason)


KIOSK_REPLY = {"id": "k1-1", "ok": True, "ticket": {
    "label": "A023", "service": "A", "service_name": "Đất đai", "service_name_en": "Land", "priority": False,
    "issued_at": "2026-11-23T09:00:00+07:00", "waiting_ahead": 4, "estimated_wait_min": 12,
    "status_url": "http://queuebox.local:8080/t/abc"}}


@pytest.mark.parametrize("reply", [
    KIOSK_REPLY,
    {"id": "c-1", "ok": True, "ticket": None},
    {"id": "c-2", "ok": True},
    {"id": "c-3", "ok": False, "error": {"code": "queue_empty", "message": "Không còn ai chờ"}},
    {"id": "c-4", "ok": False, "error": {"code": "some_future_code", "message": ""}},
    {"id": None, "ok": False, "error": {"code": "bad_request", "message": "payload is not JSON"}},
])
def test_parse_reply_accepts(reply):
    assert parse_reply(js(reply)) == reply


@pytest.mark.parametrize("code", ERROR_CODES)
def test_parse_reply_accepts_every_error_code(code):
    reply = {"id": "c", "ok": False, "error": {"code": code, "message": "why"}}
    assert parse_reply(encode(reply)) == reply


@pytest.mark.parametrize("reply,reason", [
    ({"id": "c"}, '"ok" is required'),
    ({"id": "c", "ok": "true"}, '"ok" must be true or false, not "true"'),
    ({"id": "c", "ok": 1}, '"ok" must be true or false, not 1'),
    ({"id": "c", "ok": True, "ticket": "A023"}, '"ticket" must be an object or null, not "A023"'),
    ({"id": "c", "ok": False}, '"error" is required when "ok" is false'),
    ({"id": "c", "ok": False, "error": "queue_empty"}, '"error" must be an object, not "queue_empty"'),
    ({"id": "c", "ok": False, "error": {"message": "m"}}, '"error.code" is required'),
    ({"id": "c", "ok": False, "error": {"code": "", "message": "m"}}, '"error.code" must be a non-blank string'),
    ({"id": "c", "ok": False, "error": {"code": 400, "message": "m"}}, '"error.code" must be a non-blank string'),
    ({"id": "c", "ok": False, "error": {"code": "bad_request"}}, '"error.message" is required'),
    ({"id": "c", "ok": False, "error": {"code": "bad_request", "message": 5}}, '"error.message" must be a string'),
])
def test_parse_reply_refuses(reply, reason):
    err = refused(parse_reply, js(reply))
    assert err.message.startswith(reason)
    assert err.command_id == "c"


@pytest.mark.parametrize("reply", [{"id": None, "ok": True, "ticket": None}, {"id": None, "ok": "false"}])
def test_a_null_reply_id_is_only_for_error_replies(reply):
    assert refused(parse_reply, js(reply)).message == '"id" must be a string, not null'


@pytest.mark.parametrize("message,parser", [
    (KIOSK_REPLY, parse_reply),
    (a_board(), parse_board),
    ({"seq": 3, "state": "serving", "ticket": "B002", "waiting": {"B": 1}}, parse_counter_state),
    ({"seq": 4, "at": "2026-11-23T09:00:00+07:00", "type": "transferred", "ticket": "B002", "from": "B", "to": "A"},
     parse_event),
])
def test_encode_then_parse_is_the_identity(message, parser):
    assert parser(encode(message)) == message


# --- voice (an addition of December 2026) ---------------------------------------------------------

def test_the_voice_topic_routes_and_its_message_parses():
    topics = Topics("queuebox", "xa-an-phu")
    assert topics.voice() == f"{BASE}/voice" and topics.route(f"{BASE}/voice").kind == "voice"
    assert parse_voice(js({"version": "3f2a9c0d41b7e5a8", "clips": 38, "later": 1}))["clips"] == 38


@pytest.mark.parametrize("payload,reason", [
    ({"version": "3F2A9C0D41B7E5A8", "clips": 1}, "16 hexadecimal digits"),
    ({"version": "../../etc", "clips": 1}, "16 hexadecimal digits"),
    ({"clips": 1}, "version"),
    ({"version": "3f2a9c0d41b7e5a8", "clips": -1}, "clips"),
    ({"version": "3f2a9c0d41b7e5a8"}, "clips"),
])
def test_a_bad_voice_message_is_refused(payload, reason):
    assert reason in refused(parse_voice, js(payload)).message

