"""The MQTT protocol, version 1: topic names, message schemas and their validation.

This is a public contract (DESIGN.md §4): kiosks, counter keypads and displays made by
third parties speak it. Everything here is pure: no MQTT client, no I/O.

Topics live under ``<root>/<site>/`` (root ``queuebox`` by default, site the centre's id).
Every payload is a UTF-8 JSON object of at most 4096 bytes, except ``status``:

  topic                      direction                    payload
  kiosk/<kiosk>/take         kiosk → server, QoS 1        {"id", "service": "A", "priority": false, "group"?}
  kiosk/<kiosk>/reply        server → kiosk               {"id", "ok": true, "ticket": {"label": "A023", ...}}
  counter/<counter>/command  counter → server, QoS 1      {"id", "action", "to"?, "ticket"?, "reason"?}
  counter/<counter>/reply    server → counter             {"id", "ok": true, "ticket": {...} | null}
                                                          a rating: {"id", "ok": true, "ticket": label, "score"}
  counter/<counter>/rating   keypad → server, QoS 1       {"id", "score": 1..4, "reason"?}
  counter/<counter>/state    server → all, retained       {"seq", "state", "ticket": label | null, "waiting",
                                                           "rating_until": ISO-8601 | null}
  board                      server → displays, retained  {"seq", "at", "calls": [...], "waiting", "message"}
  services                   server → all, retained       {"seq", "services": [{"code", "name_vi", "name_en", "open"}], "lookup_url"?}
  procedures/<service>       server → all, retained       {"seq", "service", "procedures": [...], "more"}; empty = none
  events                     server → all                 {"seq", "at", "type", "ticket"?, "counter"?, ...}
  voice                      server → displays, retained  {"version", "clips"}: the recorded voice pack to download
  status/<client>            every client, retained       "online"; last will "offline"

Commands (``take``, ``command``, ``rating``) carry ``"id"``: a unique string of 1 to 64
characters made by the client. It is the idempotency key: the server applies an id once and
answers a repeat with the first reply. A refused command is answered
``{"id", "ok": false, "error": {"code", "message"}}`` with a code from `ERROR_CODES`.

Counter actions: ``next``, ``recall``, ``start``, ``done``, ``no_show``, ``pause``,
``resume``; ``transfer`` needs ``"to"`` (a service code: 1 to 3 capital letters) and
``call`` needs ``"ticket"`` (a label such as ``"A023"``, at most 16 characters);
``"reason"`` (at most 200 characters) is free text, e.g. why a counter pauses. An optional
field that is ``null`` counts as absent; ``"priority"``, when sent, must be true or false.
``"group"`` in a take (an addition to v1) is a priority group code (1 to 4 capital letters or
digits, e.g. ``"CT"``): the ticket is a priority ticket of that group, so ``"priority"`` may be
left out and ``"priority": false`` with a group is refused. Which codes exist is the server's
configuration: an unknown one is refused there (``bad_request``, naming the known codes).
``"priority": true`` without a group is a priority ticket of no group, as before groups.

Ratings: ``score`` 1 very satisfied, 2 satisfied, 3 neutral, 4 dissatisfied (`RATING_SCORES`).
A rating counts for the ticket the counter finished last, once, until the ``rating_until`` of
the counter's state (a time with offset; null when there is nothing to rate). Refusals:
``no_ticket`` (nothing finished, or the window closed), ``already_rated`` (the first counts).
``reason`` (optional, at most 60 characters) is why a citizen who scored 3 or 4
(`REASON_SCORES`) was not satisfied: the Vietnamese text of one of the centre's
``queue.rating_reasons``. It may come with the score, or in a later rating command with the
same score for the ticket already rated, within `REASON_WINDOW_S` seconds of its rating,
once. A reason that is not in the list is refused (``unknown_reason``); when it came with a
score that could be recorded, the score stays recorded and the refusal carries ``ticket``
and ``score`` to say so.

Device ids in topics (kiosk, counter, client) are 1 to 32 ASCII letters, digits, ``-`` and
``_``, starting with a letter or digit. Parsers ignore fields they do not know, so a newer
client can add fields; a field of the wrong type, a payload that is not a JSON object, is
not UTF-8 or is larger than 4096 bytes is refused with `ProtocolError`. JSON objects must not
repeat a key, and ``NaN``/``Infinity`` are not JSON. A lone surrogate escape (``"\\ud800"``)
anywhere is not Unicode text and is refused like bytes that are not UTF-8, so every string
a parser returns can be stored and sent back. How a payload's JSON and fields are read is
in queuebox/protocol_fields.py; how a client reads the server's messages (board, services,
procedures, voice, counter states, events, replies) is queuebox/protocol_messages.py.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from queuebox.protocol_fields import (MAX_ID, MAX_PAYLOAD, Fields, ProtocolError, load_object, parse_moment,
                                      show, valid_id)

# The public contract, with the parsers of the server's messages in protocol_messages; MAX_ID,
# MAX_PAYLOAD, ProtocolError and parse_moment are defined in protocol_fields.
__all__ = [
    "COUNTER_ACTIONS",
    "COUNTER_STATES",
    "CounterCommand",
    "ERROR_CODES",
    "EVENT_TYPES",
    "MAX_CALLS",
    "MAX_ID",
    "MAX_LABEL",
    "MAX_PACKET_SIZE",
    "MAX_PAYLOAD",
    "MAX_REASON",
    "MAX_PROCEDURE_ITEMS",
    "MAX_SERVICES",
    "ProtocolError",
    "RATING_SCORES",
    "REASON_SCORES",
    "REASON_WINDOW_S",
    "MAX_RATING_REASON",
    "RatingCommand",
    "Route",
    "TakeCommand",
    "Topics",
    "encode",
    "parse_counter_command",
    "parse_moment",
    "parse_rating",
    "parse_take",
    "peek_id",
]

# Bytes of one whole MQTT packet: the payload plus room for the fixed header, the topic and the
# v5 properties. The broker refuses bigger packets (`max_packet_size`) and every queuebox
# client announces it in CONNECT (Maximum Packet Size), so nobody is sent one either.
MAX_PACKET_SIZE = 8192
MAX_LABEL = 16  # characters of a ticket label in a `call` command
MAX_REASON = 200  # characters of a `reason`
MAX_RATING_REASON = 60  # characters of a rating's `reason`
MAX_CALLS = 10  # entries of the board's `calls`
MAX_SERVICES = 64  # entries of the `services` snapshot
MAX_PROCEDURE_ITEMS = 64  # entries of one `procedures/<service>` summary

COUNTER_ACTIONS = ("next", "recall", "start", "done", "no_show", "transfer", "call", "pause", "resume")
# One letter per action, the same on the counter console's keyboard and the simulated keypad's
# terminal, so a clerk's habit from one never does something else on the other.
ACTION_KEYS = {"next": "N", "recall": "R", "start": "S", "done": "D", "no_show": "V", "transfer": "T", "call": "G",
               "pause": "P", "resume": "P"}
EVENT_TYPES = ("issued", "called", "recalled", "started", "done", "no_show", "transferred", "rated",
               "paused", "resumed", "day_opened", "cancelled", "rating_reason")
ERROR_CODES = ("bad_request", "unknown_service", "unknown_counter", "unknown_ticket", "service_closed",
               "daily_limit", "queue_empty", "not_allowed", "no_ticket", "already_rated", "unknown_reason")
COUNTER_STATES = ("idle", "calling", "serving", "paused")
# A citizen's rating, best first: score -> (Vietnamese, English).
RATING_SCORES = {1: ("Rất hài lòng", "Very satisfied"), 2: ("Hài lòng", "Satisfied"),
                 3: ("Bình thường", "Neutral"), 4: ("Không hài lòng", "Dissatisfied")}
REASON_SCORES = frozenset({3, 4})  # the scores a citizen is asked the reason of
REASON_WINDOW_S = 120  # seconds after a rating during which its reason is accepted

_DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
_SERVICE = re.compile(r"[A-Z]{1,3}")
_COUNTER_LEAVES = {"command": "command", "reply": "counter_reply", "rating": "rating", "state": "state"}
_KIOSK_LEAVES = {"take": "take", "reply": "kiosk_reply"}


# --- topics -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Route:
    """What an incoming topic is: its `kind` and the kiosk/counter/client id in it (None for board/events)."""
    kind: str  # take, kiosk_reply, command, counter_reply, rating, state, board, events, services, voice or status
    device: str | None


@dataclass(frozen=True)
class Topics:
    """The topic names of one site; `root` may have several levels (``test/run7``), `site` has one."""
    root: str
    site: str

    def __post_init__(self) -> None:
        levels = self.root.split("/") if isinstance(self.root, str) else [""]
        if levels[0].startswith("$") or any(not level or set(level) & {"+", "#", "\0"} for level in levels):
            raise ValueError(f"topic root {self.root!r} must be non-empty levels without '+', '#' or a leading '$'")
        _check_device("site", self.site)

    def kiosk_take(self, kiosk: str) -> str:
        """Where kiosk `kiosk` asks for tickets."""
        return self._topic("kiosk", _check_device("kiosk", kiosk), "take")

    def kiosk_reply(self, kiosk: str) -> str:
        """Where the server answers kiosk `kiosk`."""
        return self._topic("kiosk", _check_device("kiosk", kiosk), "reply")

    def kiosk_simulate(self, kiosk: str) -> str:
        """Where a simulated kiosk (``kiosk --simulate``) takes button presses: the text typed,
        e.g. ``a`` or ``pb``; sent by the server account (the demo's virtual kiosk) or a test."""
        return self._topic("kiosk", _check_device("kiosk", kiosk), "simulate")

    def counter_command(self, counter: str) -> str:
        """Where counter `counter` sends its actions."""
        return self._topic("counter", _check_device("counter", counter), "command")

    def counter_reply(self, counter: str) -> str:
        """Where the server answers counter `counter`."""
        return self._topic("counter", _check_device("counter", counter), "reply")

    def counter_rating(self, counter: str) -> str:
        """Where the rating keypad of counter `counter` sends scores."""
        return self._topic("counter", _check_device("counter", counter), "rating")

    def counter_state(self, counter: str) -> str:
        """The retained state of counter `counter`."""
        return self._topic("counter", _check_device("counter", counter), "state")

    def board(self) -> str:
        """The retained board snapshot the displays draw."""
        return self._topic("board")

    def events(self) -> str:
        """The stream of committed events."""
        return self._topic("events")

    def services(self) -> str:
        """The retained list of the centre's services as the server knows them: names, open or not."""
        return self._topic("services")

    def procedures(self, service: str) -> str:
        """Retained catalogue summary of one service (field): what the board's slides show."""
        if not isinstance(service, str) or not _SERVICE.fullmatch(service):
            raise ValueError(f"service code {service!r} must be 1 to 3 capital letters")
        return self._topic("procedures", service)

    def all_procedures(self) -> str:
        """The wildcard filter of every service's `procedures/<service>` summary (what a display reads)."""
        return self._topic("procedures", "+")

    def voice(self) -> str:
        """The retained version of the recorded voice pack (the displays download it from the server's web)."""
        return self._topic("voice")

    def status(self, client: str) -> str:
        """The retained online/offline status of MQTT client `client`."""
        return self._topic("status", _check_device("client", client))

    def all_status(self) -> str:
        """The wildcard filter of every client's `status/<client>` (what the uplink reads for faults)."""
        return self._topic("status", "+")

    def server_subscriptions(self) -> list[str]:
        """The wildcard filters the server subscribes to: every kiosk's take, every counter's command and rating,
        and every client's status (a display saying "online" gets the board again, live)."""
        return [self._topic("kiosk", "+", "take"), self._topic("counter", "+", "command"),
                self._topic("counter", "+", "rating"), self._topic("status", "+")]

    def route(self, topic: str) -> Route | None:
        """Parse an incoming topic; None if it is not under root/site or not one of the known shapes."""
        prefix = self._topic("")
        if not isinstance(topic, str) or not topic.startswith(prefix):
            return None
        match topic[len(prefix):].split("/"):
            case ["board"]:
                return Route("board", None)
            case ["events"]:
                return Route("events", None)
            case ["services"]:
                return Route("services", None)
            case ["voice"]:
                return Route("voice", None)
            case ["procedures", service] if _SERVICE.fullmatch(service):
                return Route("procedures", service)
            case ["kiosk", device, leaf] if leaf in _KIOSK_LEAVES and _DEVICE_ID.fullmatch(device):
                return Route(_KIOSK_LEAVES[leaf], device)
            case ["counter", device, leaf] if leaf in _COUNTER_LEAVES and _DEVICE_ID.fullmatch(device):
                return Route(_COUNTER_LEAVES[leaf], device)
            case ["status", device] if _DEVICE_ID.fullmatch(device):
                return Route("status", device)
        return None

    def _topic(self, *levels: str) -> str:
        return "/".join((self.root, self.site, *levels))


def _check_device(kind: str, value: str) -> str:
    """`value` if it is a valid id for a topic level, else ValueError."""
    if not isinstance(value, str) or not _DEVICE_ID.fullmatch(value):
        raise ValueError(f"{kind} id {value!r} must be 1 to 32 letters, digits, '-' or '_', "
                         "starting with a letter or digit")
    return value


# --- commands -----------------------------------------------------------------------------

@dataclass(frozen=True)
class TakeCommand:
    """A kiosk asks for a ticket of `service`; a `group` (a priority group code) makes it priority."""
    id: str
    service: str
    priority: bool = False
    group: str | None = None


@dataclass(frozen=True)
class CounterCommand:
    """A counter action; `to` is set for transfer, `ticket` for call, `reason` optionally for any."""
    id: str
    action: str
    to: str | None = None
    ticket: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class RatingCommand:
    """A citizen's score for the ticket the counter finished last: 1 very satisfied, 2 satisfied,
    3 neutral, 4 dissatisfied; `reason`, for a score of 3 or 4, why (None: not given)."""
    id: str
    score: int
    reason: str | None = None


def parse_take(payload: bytes | str) -> TakeCommand:
    """A `kiosk/<kiosk>/take` payload, validated; ProtocolError if it does not follow the protocol."""
    f = Fields(load_object(payload))
    command_id = f.command_id()
    service = f.service("service")
    group = f.group("group")
    priority = f.boolean("priority", group is not None)
    if group is not None and not priority:
        raise f.error(f'"priority": false contradicts "group": {show(group)}: a ticket of a priority group is priority')
    return TakeCommand(id=command_id, service=service, priority=priority, group=group)


def parse_counter_command(payload: bytes | str) -> CounterCommand:
    """A `counter/<counter>/command` payload, validated; ProtocolError if it does not follow the protocol."""
    f = Fields(load_object(payload))
    command_id = f.command_id()
    action = f.choice("action", COUNTER_ACTIONS)
    to = f.service("to", required=False)
    ticket = f.text("ticket", MAX_LABEL, blank=False, what="a non-blank ticket label")
    reason = f.text("reason", MAX_REASON)
    if action == "transfer" and to is None:
        raise f.error('"to" is required for action "transfer": the service code to send the ticket to')
    if action == "call" and ticket is None:
        raise f.error('"ticket" is required for action "call": the label to call, e.g. "A023"')
    return CounterCommand(id=command_id, action=action, to=to, ticket=ticket, reason=reason)


def parse_rating(payload: bytes | str) -> RatingCommand:
    """A `counter/<counter>/rating` payload, validated; ProtocolError if it does not follow the protocol."""
    f = Fields(load_object(payload))
    command_id = f.command_id()
    score = f.integer("score", low=1, high=4)
    reason = f.text("reason", MAX_RATING_REASON, blank=False, what="a non-blank reason")
    return RatingCommand(id=command_id, score=score, reason=reason)


def peek_id(payload: bytes | str) -> str | None:
    """Best effort: the valid "id" of a payload, even one that fails validation; None if unreadable. Never raises."""
    try:
        obj = load_object(payload)
    except ProtocolError as exc:  # e.g. a lone surrogate in another field: the id is still good
        return exc.command_id
    except Exception:  # noqa: BLE001 - best effort by contract: any input, no exception
        return None
    return valid_id(obj.get("id"))


# --- writing a message --------------------------------------------------------------------

def encode(message: dict[str, Any]) -> bytes:
    """`message` as compact UTF-8 JSON; ProtocolError if it is over MAX_PAYLOAD bytes or not representable."""
    if not isinstance(message, dict):
        raise TypeError(f"a message is a dict, not {type(message).__name__}")
    command_id = valid_id(message.get("id"))
    try:
        data = json.dumps(message, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    except (ValueError, TypeError, RecursionError) as exc:  # NaN, a lone surrogate, a set, a cycle, deep nesting
        raise ProtocolError(f"message is not valid JSON: {exc}", command_id) from exc
    if len(data) > MAX_PAYLOAD:
        raise ProtocolError(f"message is {len(data)} bytes, more than the {MAX_PAYLOAD}-byte limit", command_id)
    return data
