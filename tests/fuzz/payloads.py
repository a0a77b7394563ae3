"""Payloads for fuzzing the MQTT protocol: valid messages of every kind, and random or
mutated ones that break it in the ways a faulty or hostile client would.

Everything is drawn from a `random.Random` the caller owns, so a run is replayed by its
seed; the property tests pass hypothesis's own `st.randoms()` to the same functions.
"""

from __future__ import annotations

import json
import random
import string
from typing import Any, Callable

from queuebox.protocol import COUNTER_ACTIONS, COUNTER_STATES, EVENT_TYPES, ERROR_CODES, MAX_PACKET_SIZE, MAX_PAYLOAD

# Texts that have broken parsers elsewhere: Vietnamese (NFC and decomposed), controls,
# direction marks, a NUL, non-ASCII digits, emoji, lookalikes of our own values, lone
# surrogates (sent as JSON escapes, see `_dumps`) and a valid surrogate pair.
ODD_TEXTS = ["", " ", "A", "a", "AB", "ABCD", "Đ", "Ạ", "A023", "A²", "٣", "Mời số A023 đến quầy 3",
             "Mo\u0300\u031bi", "\u202equầy\u202c", "\x00", "\n\t\r",
             "💥", "null", "true", "{}", "[]", "\"", "\\", "next", "NEXT", "transfer", "x" * 65, "x" * 64,
             "é" * 300, "1e999", "-0", "0x10", "2026-11-23T09:00:00+07:00", "2026-11-23T09:00:00",
             "9999-12-31T23:59:59+14:00", "0001-01-01T00:00:00-23:59", "\ud800", "s1\udfff", "\udbff\udc00"]
# The largest payload sent: the broker disconnects a client whose packet is over MAX_PACKET_SIZE
# (tests/integration/test_mqtt_hardening.py), so bigger ones would only measure reconnections.
MAX_SENT = MAX_PACKET_SIZE - 512
HUGE_NUMBERS = [0, -1, 1, 2, 3, 4, 5, 2**31, 2**53 + 1, 2**63, -2**63 - 1, 10**300, -10**300, 1.0, 2.5, -0.0,
                1e308, -1e308, 5e-324, 3.0, 4.0000000000000001]
NUMBER_LITERALS = [b"1e999", b"-1e999", b"NaN", b"Infinity", b"-Infinity", b"1" * 4000, b"0.1e-99999", b"01",
                   b"+1", b".5", b"1.", b"0x10", b"1_000"]
FIELDS = ["id", "service", "priority", "action", "to", "ticket", "reason", "score", "seq", "at", "type", "state",
          "calls", "waiting", "message", "ok", "error", "rating_until", "counter"]


def text(rng: random.Random, max_len: int = 12) -> str:
    """A short string: printable ASCII, Vietnamese, or one of the odd texts."""
    kind = rng.random()
    if kind < 0.3:
        return rng.choice(ODD_TEXTS)
    if kind < 0.6:
        return "".join(rng.choice(string.printable) for _ in range(rng.randint(0, max_len)))
    alphabet = "AĂÂBCDĐEÊGHIKLMNOÔƠPQRSTUƯVXYaăâđêôơưàáảãạờ0123456789 -_"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, max_len)))


def scalar(rng: random.Random) -> Any:
    """A JSON scalar, often an extreme one."""
    return rng.choice([None, True, False, rng.choice(HUGE_NUMBERS), rng.randint(-10, 10),
                       rng.uniform(-1e6, 1e6), text(rng), text(rng, 300)])


def value(rng: random.Random, depth: int = 3) -> Any:
    """Any JSON value, nested at most `depth` deep."""
    if depth <= 0 or rng.random() < 0.6:
        return scalar(rng)
    if rng.random() < 0.5:
        return [value(rng, depth - 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(FIELDS + [text(rng)]): value(rng, depth - 1) for _ in range(rng.randint(0, 4))}


def service(rng: random.Random) -> str:
    return rng.choice(["A", "B", "C", "D", "E", "Z", "AB", "ABC"]) if rng.random() < 0.9 else text(rng)


# --- valid messages ------------------------------------------------------------------------

def take(rng: random.Random, command_id: str) -> dict[str, Any]:
    message: dict[str, Any] = {"id": command_id, "service": service(rng)}
    if rng.random() < 0.5:
        message["priority"] = rng.choice([None, False, True, False])  # null counts as absent
    return message


def command(rng: random.Random, command_id: str) -> dict[str, Any]:
    action = rng.choice(list(COUNTER_ACTIONS) + ["next"] * 6)
    message: dict[str, Any] = {"id": command_id, "action": action}
    if action == "transfer" or rng.random() < 0.1:
        message["to"] = service(rng)
    if action == "call" or rng.random() < 0.1:
        message["ticket"] = rng.choice(["A001", "A002", "B001", "C003", "Z999"]) if rng.random() < 0.8 else text(rng)
    if rng.random() < 0.2:
        message["reason"] = text(rng, 40)
    for key in ("to", "ticket", "reason"):
        if key not in message and rng.random() < 0.05:
            message[key] = None  # null counts as absent
    return message


def rating(rng: random.Random, command_id: str) -> dict[str, Any]:
    return {"id": command_id, "score": rng.randint(1, 4)}


def board(rng: random.Random, command_id: str = "") -> dict[str, Any]:
    calls = [{"ticket": text(rng), "counter": text(rng), "counter_name": text(rng), "service": text(rng, 3),
              "at": text(rng), "recall": rng.randint(0, 3)} for _ in range(rng.randint(0, 10))]
    return {"seq": rng.randint(0, 10**6), "at": text(rng), "calls": calls,
            "waiting": {text(rng, 3): rng.randint(0, 99) for _ in range(rng.randint(0, 5))}, "message": text(rng)}


def state(rng: random.Random, command_id: str = "") -> dict[str, Any]:
    return {"seq": rng.randint(0, 10**6), "state": rng.choice(COUNTER_STATES),
            "ticket": rng.choice([None, text(rng)]), "waiting": {text(rng, 3): rng.randint(0, 9)},
            "rating_until": rng.choice([None, "2026-11-23T09:00:00.000+07:00"])}


def event(rng: random.Random, command_id: str = "") -> dict[str, Any]:
    message = {"seq": rng.randint(0, 10**6), "at": text(rng), "type": rng.choice(EVENT_TYPES)}
    for key in ("ticket", "counter", "service"):
        if rng.random() < 0.5:
            message[key] = text(rng)
    return message


def reply(rng: random.Random, command_id: str) -> dict[str, Any]:
    if rng.random() < 0.5:
        return {"id": command_id, "ok": True, "ticket": rng.choice([None, {"label": text(rng)}])}
    return {"id": command_id, "ok": False, "error": {"code": rng.choice(ERROR_CODES), "message": text(rng)}}


VALID: dict[str, Callable[[random.Random, str], dict[str, Any]]] = {
    "take": take, "command": command, "rating": rating, "board": board, "state": state, "event": event,
    "reply": reply}


# --- breaking them ---------------------------------------------------------------------------

def _dumps(obj: Any) -> bytes:
    try:
        return json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: only a JSON escape carries it, "\ud800"
        return json.dumps(obj).encode("ascii")


def mutate_object(obj: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """`obj` with one field removed, retyped or added."""
    obj = dict(obj)
    roll = rng.random()
    if roll < 0.25 and obj:
        del obj[rng.choice(list(obj))]
    elif roll < 0.8:
        obj[rng.choice(list(obj) or FIELDS)] = value(rng)
    else:
        obj[rng.choice(FIELDS + [text(rng)])] = value(rng)
    return obj


def _deep(rng: random.Random) -> bytes:
    depth = rng.choice([50, 500, 1000, 1200])  # deeper than the parser allows, under MAX_SENT
    opener, closer = rng.choice([(b"[", b"]"), (b'{"a":', b"}")])
    return opener * depth + b"1" + closer * depth


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    """`data` broken at the byte level: cut, flipped, spliced, re-encoded, grown past the limit."""
    ops: list[Callable[[], bytes]] = [
        lambda: data[: rng.randint(0, len(data))],
        lambda: _flip(data, rng),
        lambda: _insert(data, rng, bytes([rng.randint(0, 255)]) * rng.randint(1, 3)),
        lambda: _insert(data, rng, rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
                                               b"\xc0\xaf", b"\x00"])),
        lambda: b"\xef\xbb\xbf" + data,
        lambda: data.decode("utf-8", "replace").encode(rng.choice(["utf-16", "utf-32", "latin-1"]), "replace"),
        lambda: b"[" + data + b"]",
        lambda: data + data,
        lambda: data[:-1] + b',"id":"dup"}' if data.endswith(b"}") else data,
        lambda: data[:-1] + b',"x":' + rng.choice(NUMBER_LITERALS) + b"}" if data.endswith(b"}") else data,
        lambda: data[:-1] + b',"pad":"' + b"x" * (MAX_PAYLOAD - len(data) + rng.randint(-3, 3)) + b'"}',
        lambda: data + b" " * (MAX_PAYLOAD + 1 - len(data)),
        lambda: _deep(rng),
        lambda: _lone_surrogate(data, rng),
    ]
    return rng.choice(ops)()


def _lone_surrogate(data: bytes, rng: random.Random) -> bytes:
    """`data` with a lone surrogate escape before one of its quotes: inside a string when the
    quote closes one (finding 13 of issue 14), else a JSON syntax error."""
    quotes = [i for i, byte in enumerate(data) if byte == ord('"')]
    escape = b"\\u%04x" % rng.choice([0xD800, 0xDBFF, 0xDC00, 0xDFFF])
    i = rng.choice(quotes) if quotes else len(data)
    return data[:i] + escape + data[i:]


def _flip(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return b"\x80"
    i = rng.randrange(len(data))
    return data[:i] + bytes([data[i] ^ (1 << rng.randrange(8))]) + data[i + 1:]


def _insert(data: bytes, rng: random.Random, piece: bytes) -> bytes:
    i = rng.randint(0, len(data))
    return data[:i] + piece + data[i:]


def garbage(rng: random.Random) -> bytes:
    """A payload that is not a message at all."""
    return rng.choice([
        lambda: bytes(rng.randint(0, 255) for _ in range(rng.randint(0, 64))),
        lambda: _dumps(value(rng)),
        lambda: rng.choice([b"", b" ", b"null", b"online", b"offline", b"{}", b"[]", b'"x"', b"0", b"\xff\xfe"]),
        lambda: rng.choice(NUMBER_LITERALS),
        lambda: _deep(rng),
        lambda: b"{" + b'"a":1,' * rng.randint(700, (MAX_SENT - 20) // 6) + b'"b":2}',  # many keys, often over
        lambda: bytes(rng.randint(0, 255) for _ in range(rng.randint(MAX_PAYLOAD + 1, MAX_SENT))),
    ])()


def payload(kind: str, rng: random.Random, command_id: str) -> bytes:
    """One payload for a topic of `kind` (a key of VALID): valid about half of the time, else
    a mutated object, mutated bytes, or garbage; at most MAX_SENT bytes (cut there)."""
    message = VALID[kind](rng, command_id)
    roll = rng.random()
    if roll < 0.5:
        data = _dumps(message)
    elif roll < 0.75:
        data = _dumps(mutate_object(message, rng))
    elif roll < 0.93:
        data = mutate_bytes(_dumps(message), rng)
    else:
        data = garbage(rng)
    return data[:MAX_SENT]
