"""The hub protocol: what a centre's uplink and the province hub say to each other over the
province's MQTT v5 broker (docs/protocol.md, "The hub protocol"). Pure, no I/O.

Topics, under the hub root (`uplink.root`, e.g. ``province``):

- `<root>/centre/<centre>/events`: the uplink's batches, QoS 1, never retained.
- `<root>/centre/<centre>/ack`: the hub's acknowledgement, retained: the epoch (history) and
  the highest seq up to which every event is stored, with that event's time as a fingerprint;
  `resend_from` asks for a gap again; `refused` says a batch was refused and why.
- `<root>/centre/<centre>/live`: the uplink's live summary, retained.
- `<root>/centre/<centre>/setup`: the centre's services and counters (names, targets), retained.
- `<root>/centre/<centre>/restore`: a rebuilt centre asks for its history back (`queuebox
  restore --from-hub`), QoS 1, never retained.
- `<root>/centre/<centre>/history`: the hub's answer, parts of the stored events, QoS 1
  (`RestoreRequest`, `HistoryPart`).

A batch payload is zlib-compressed UTF-8 JSON, at most MAX_BATCH_BYTES on the wire and
MAX_BATCH_JSON once inflated: ``{"v": 1, "centre", "epoch", "from", "events": [...]}``. It
holds every event of the centre with `from` ≤ seq ≤ the last event's seq, in seq order, each as
its `events` row: seq, at (local time with offset), type, ticket (its id), counter, actor (who
did it: ``web/<login>``, ``counter/<id>``…; never a citizen), data. Events carry no personal
data: a ticket is a number, a rating a score.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass
from typing import Any

from queuebox.protocol_fields import ProtocolError, parse_moment

VERSION = 1
MAX_BATCH_BYTES = 64 * 1024  # compressed, on the wire
MAX_BATCH_JSON = 1024 * 1024  # inflated: a batch that inflates past this is refused (a zip bomb)
MAX_SMALL = 16 * 1024  # ack, live and setup payloads (plain JSON)
# A centre's uplink publishes its live summary when it changes, at most once a second, and at
# least this often unchanged: the hub tells a quiet centre that is up from one whose link is down.
LIVE_HEARTBEAT_S = 60.0
HUB_SHARE = "hub"  # the shared-subscription group of the hub processes
_CENTRE_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")  # site.id's rule (queuebox/config_check.py)
_EVENT_TYPE = re.compile(r"[a-z][a-z_]{0,31}")
_SHORT = 80  # characters of counter and actor


@dataclass(frozen=True)
class HubTopics:
    """The topics of one centre (or, with `centre="+"`, of every centre) under the hub root."""
    root: str
    centre: str

    def __post_init__(self) -> None:
        levels = self.root.split("/")
        if levels[0].startswith("$") or any(not level or set(level) & {"+", "#", "\0"} for level in levels):
            raise ValueError(f"hub topic root {self.root!r} must be non-empty levels without '+', '#' or a leading '$'")
        if self.centre != "+" and not _CENTRE_ID.fullmatch(self.centre):
            raise ValueError(f"centre id {self.centre!r} must be 1 to 32 lower-case letters, digits, '-' or '_'")

    def _topic(self, leaf: str) -> str:
        return f"{self.root}/centre/{self.centre}/{leaf}"

    @property
    def events(self) -> str:
        return self._topic("events")

    @property
    def ack(self) -> str:
        return self._topic("ack")

    @property
    def live(self) -> str:
        return self._topic("live")

    @property
    def setup(self) -> str:
        return self._topic("setup")

    @property
    def restore(self) -> str:
        return self._topic("restore")

    @property
    def history(self) -> str:
        return self._topic("history")

    @property
    def shared_events(self) -> str:
        """The hub's shared subscription to every centre's batches (MQTT v5)."""
        return f"$share/{HUB_SHARE}/{self.root}/centre/+/events"

    @property
    def shared_restore(self) -> str:
        """The hub's shared subscription to restore requests: one hub process answers each."""
        return f"$share/{HUB_SHARE}/{self.root}/centre/+/restore"


def centre_of(root: str, topic: str) -> tuple[str, str] | None:
    """(centre, leaf) of a hub topic under `root`, or None when it is not one."""
    prefix = f"{root}/centre/"
    if not topic.startswith(prefix):
        return None
    parts = topic[len(prefix):].split("/")
    if len(parts) != 2 or not _CENTRE_ID.fullmatch(parts[0]):
        return None
    return parts[0], parts[1]


# --- batches ----------------------------------------------------------------------------

@dataclass(frozen=True)
class HubEvent:
    """One row of a centre's `events` table."""
    seq: int
    at: str
    type: str
    ticket: int | None
    counter: str | None
    actor: str | None
    data: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": self.at, "type": self.type, "ticket": self.ticket,
                "counter": self.counter, "actor": self.actor, "data": self.data}


@dataclass(frozen=True)
class Batch:
    """Every event of `centre` with seq from `first` to `last` (both included), in seq order."""
    centre: str
    epoch: int
    first: int
    events: tuple[HubEvent, ...]

    @property
    def last(self) -> int:
        return self.events[-1].seq


def encode_batch(batch: Batch) -> bytes:
    """The batch as it goes on the wire (zlib JSON); ProtocolError if over MAX_BATCH_BYTES."""
    body = {"v": VERSION, "centre": batch.centre, "epoch": batch.epoch, "from": batch.first,
            "events": [e.as_json() for e in batch.events]}
    return _compress(body, "batch")


def decode_batch(payload: bytes, centre: str) -> Batch:
    """The batch in `payload`, sent on centre `centre`'s topic; ProtocolError naming the first
    problem otherwise (nothing of a refused batch is used)."""
    body = _inflate(payload, "batch")
    if body.get("v") != VERSION:
        raise ProtocolError(f"batch version {body.get('v')!r}; this hub reads version {VERSION}")
    if body.get("centre") != centre:
        raise ProtocolError(f"batch of centre {body.get('centre')!r} on the topic of {centre!r}")
    epoch, first, raw = body.get("epoch"), body.get("from"), body.get("events")
    if not _whole(epoch) or epoch < 0:
        raise ProtocolError("epoch must be a whole number ≥ 0")
    if not _whole(first) or first < 1:
        raise ProtocolError("from must be a whole number ≥ 1")
    if not isinstance(raw, list) or not raw:
        raise ProtocolError("events must be a non-empty list")
    return Batch(centre, epoch, first, _events(raw, first))


def _compress(body: dict[str, Any], what: str) -> bytes:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if len(text) > MAX_BATCH_JSON:
        raise ProtocolError(f"{what} is {len(text)} bytes of JSON, more than {MAX_BATCH_JSON}")
    data = zlib.compress(text, 6)
    if len(data) > MAX_BATCH_BYTES:
        raise ProtocolError(f"{what} is {len(data)} bytes compressed, more than {MAX_BATCH_BYTES}")
    return data


def _inflate(payload: bytes, what: str) -> dict[str, Any]:
    if len(payload) > MAX_BATCH_BYTES:
        raise ProtocolError(f"{what} is {len(payload)} bytes, more than {MAX_BATCH_BYTES}")
    try:
        inflater = zlib.decompressobj()
        text = inflater.decompress(payload, MAX_BATCH_JSON + 1)
    except zlib.error as exc:
        raise ProtocolError(f"{what} is not zlib data: {exc}") from None
    if len(text) > MAX_BATCH_JSON or inflater.unconsumed_tail:
        raise ProtocolError(f"{what} inflates past {MAX_BATCH_JSON} bytes")
    return _load(text)


def _events(raw: list[Any], first: int) -> tuple[HubEvent, ...]:
    events = tuple(_event(item, i) for i, item in enumerate(raw))
    previous = first - 1
    for e in events:
        if e.seq <= previous:
            raise ProtocolError(f"event seq {e.seq} is not after {previous}: events must be in seq order from 'from'")
        previous = e.seq
    return events


def _event(item: Any, index: int) -> HubEvent:
    where = f"events[{index}]"
    if not isinstance(item, dict):
        raise ProtocolError(f"{where}: must be an object")
    seq, at, type_ = item.get("seq"), item.get("at"), item.get("type")
    ticket, counter, actor, data = item.get("ticket"), item.get("counter"), item.get("actor"), item.get("data")
    if not _whole(seq) or seq < 1:
        raise ProtocolError(f"{where}.seq: must be a whole number ≥ 1")
    if not isinstance(at, str):
        raise ProtocolError(f"{where}.at: must be a time with its UTC offset")
    try:
        parse_moment(at)
    except ValueError:
        raise ProtocolError(f"{where}.at: {at[:40]!r} is not a time with its UTC offset") from None
    if not isinstance(type_, str) or not _EVENT_TYPE.fullmatch(type_):
        raise ProtocolError(f"{where}.type: must be lower-case letters and '_'")
    if ticket is not None and (not _whole(ticket) or ticket < 1):
        raise ProtocolError(f"{where}.ticket: must be a ticket id or null")
    for name, value in (("counter", counter), ("actor", actor)):
        if value is not None and (not isinstance(value, str) or not 0 < len(value) <= _SHORT):
            raise ProtocolError(f"{where}.{name}: must be text of 1 to {_SHORT} characters or null")
    if not isinstance(data, dict):
        raise ProtocolError(f"{where}.data: must be an object")
    return HubEvent(seq, at, type_, ticket, counter, actor, data)


# --- restoring a centre's history ------------------------------------------------------------

_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")


@dataclass(frozen=True)
class RestoreRequest:
    """A rebuilt centre asks for its events from seq `first` on (1 at first; later, the first
    part it missed). `request` is its own random id, repeated in every part of the answer."""
    request: str
    first: int = 1


def encode_restore(req: RestoreRequest) -> bytes:
    return json.dumps({"v": VERSION, "request": req.request, "from": req.first}).encode("utf-8")


def decode_restore(payload: bytes) -> RestoreRequest:
    """The request in `payload`; ProtocolError if it is not one."""
    body = load_small(payload, "restore request")
    request, first = body.get("request"), body.get("from")
    if body.get("v") != VERSION:
        raise ProtocolError(f"restore request version {body.get('v')!r}; this hub reads version {VERSION}")
    if not isinstance(request, str) or not _REQUEST_ID.fullmatch(request):
        raise ProtocolError("restore request: request must be 8 to 64 letters, digits, '-' or '_'")
    if not _whole(first) or first < 1:
        raise ProtocolError("restore request: from must be a whole number ≥ 1")
    return RestoreRequest(request, first)


@dataclass(frozen=True)
class HistoryPart:
    """One part of the hub's answer to `request`: the events of `centre`'s current `epoch` from
    seq `first` (every one of them up to the last in `events`); `upto` is the last seq of the
    whole answer (the hub's ack), 0 when the hub has no history of the centre."""
    centre: str
    request: str
    epoch: int
    first: int
    upto: int
    events: tuple[HubEvent, ...]


def encode_history(part: HistoryPart) -> bytes:
    """The part as it goes on the wire (zlib JSON, as a batch); ProtocolError if over MAX_BATCH_BYTES."""
    body = {"v": VERSION, "centre": part.centre, "request": part.request, "epoch": part.epoch,
            "from": part.first, "upto": part.upto, "events": [e.as_json() for e in part.events]}
    return _compress(body, "history part")


def decode_history(payload: bytes, centre: str) -> HistoryPart:
    """The part in `payload`, sent on centre `centre`'s history topic; ProtocolError otherwise."""
    body = _inflate(payload, "history part")
    if body.get("v") != VERSION:
        raise ProtocolError(f"history part version {body.get('v')!r}; this queuebox reads version {VERSION}")
    if body.get("centre") != centre:
        raise ProtocolError(f"history of centre {body.get('centre')!r} on the topic of {centre!r}")
    request, epoch, first, upto, raw = (body.get(k) for k in ("request", "epoch", "from", "upto", "events"))
    if not isinstance(request, str):
        raise ProtocolError("history part: request must be text")
    if not all(_whole(n) and n >= 0 for n in (epoch, first, upto)):
        raise ProtocolError("history part: epoch, from and upto must be whole numbers ≥ 0")
    if not isinstance(raw, list):
        raise ProtocolError("history part: events must be a list")
    events = _events(raw, first)
    if events and events[-1].seq > upto:
        raise ProtocolError(f"history part: event seq {events[-1].seq} is past upto {upto}")
    return HistoryPart(centre, request, epoch, first, upto, events)


# --- acknowledgements --------------------------------------------------------------------

@dataclass(frozen=True)
class Ack:
    """The hub has every event of `epoch` up to `seq` (0: none yet); `at` is that event's time
    (the fingerprint the uplink checks against its own database). `resend_from`: send again
    from this seq (a gap). `refused`: a batch starting at that seq was refused (`reason`)."""
    epoch: int
    seq: int
    at: str | None = None
    resend_from: int | None = None
    refused_from: int | None = None
    reason: str | None = None


def encode_ack(ack: Ack) -> bytes:
    body: dict[str, Any] = {"epoch": ack.epoch, "seq": ack.seq, "at": ack.at}
    if ack.resend_from is not None:
        body["resend_from"] = ack.resend_from
    if ack.refused_from is not None:
        body["refused"] = {"from": ack.refused_from, "reason": ack.reason or ""}
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def decode_ack(payload: bytes) -> Ack:
    """The acknowledgement in `payload`; ProtocolError if it is not one."""
    body = _load(payload)
    epoch, seq, at, resend = body.get("epoch"), body.get("seq"), body.get("at"), body.get("resend_from")
    refused = body.get("refused")
    if not _whole(epoch) or epoch < 0 or not _whole(seq) or seq < 0:
        raise ProtocolError("ack: epoch and seq must be whole numbers ≥ 0")
    if at is not None and not isinstance(at, str):
        raise ProtocolError("ack: at must be text or null")
    if resend is not None and (not _whole(resend) or resend < 1):
        raise ProtocolError("ack: resend_from must be a whole number ≥ 1")
    refused_from = reason = None
    if refused is not None:
        if not isinstance(refused, dict) or not _whole(refused.get("from")):
            raise ProtocolError("ack: refused must be {\"from\": seq, \"reason\": text}")
        refused_from, reason = refused["from"], str(refused.get("reason", ""))
    return Ack(epoch, seq, at, resend, refused_from, reason)


def load_small(payload: bytes, what: str) -> dict[str, Any]:
    """A live or setup payload: a JSON object of at most MAX_SMALL bytes; ProtocolError otherwise."""
    if len(payload) > MAX_SMALL:
        raise ProtocolError(f"{what} is {len(payload)} bytes, more than {MAX_SMALL}")
    return _load(payload)


def dump_small(body: dict[str, Any]) -> bytes:
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")
    if len(data) > MAX_SMALL:
        raise ProtocolError(f"payload is {len(data)} bytes, more than {MAX_SMALL}")
    return data


def _load(data: bytes) -> dict[str, Any]:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(items)
        if len(obj) != len(items):
            raise ProtocolError("a key appears twice in one object")
        return obj

    try:
        body = json.loads(data.decode("utf-8"), object_pairs_hook=pairs,
                          parse_constant=lambda name: _refuse(f"{name} is not JSON"))
    except UnicodeDecodeError:
        raise ProtocolError("payload is not valid UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"payload is not JSON: {exc.msg}") from None
    if not isinstance(body, dict):
        raise ProtocolError("payload must be a JSON object")
    return body


def _refuse(message: str) -> Any:
    raise ProtocolError(message)


def _whole(value: Any) -> bool:
    return type(value) is int
