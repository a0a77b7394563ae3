"""The server's messages, as a client reads them: the retained board, services, procedures,
voice and counter states, the events stream and the replies to commands (DESIGN.md §4).

The topics, the commands the server parses and the limits are queuebox/protocol.py, which
describes the whole protocol; how a payload's JSON and fields are read is
queuebox/protocol_fields.py. Pure: no MQTT client, no I/O.
"""

from __future__ import annotations

import re
from typing import Any

from queuebox.protocol import COUNTER_STATES, MAX_CALLS, MAX_LABEL, MAX_PROCEDURE_ITEMS, MAX_SERVICES
from queuebox.protocol_fields import Fields, load_object, show

__all__ = ["parse_board", "parse_counter_state", "parse_event", "parse_procedures", "parse_reply", "parse_services",
           "parse_voice"]

_EVENT_TYPE = re.compile(r"[a-z][a-z_]*")


def parse_board(payload: bytes | str) -> dict[str, Any]:
    """A retained `board` snapshot, validated (newest call first, at most 10); returns the dict.
    A call's ``"group"`` is the called ticket's priority group code, null or absent for none."""
    obj = load_object(payload)
    f = Fields(obj)
    f.integer("seq", low=0)
    f.text("at", required=True)
    calls = f.array("calls", MAX_CALLS)
    for i, call in enumerate(calls):
        c = f.child(f"calls[{i}]", call)
        for key in ("ticket", "counter", "counter_name", "service", "at"):
            c.text(key, required=True)
        c.integer("recall", low=0)
        c.group("group")
    f.counts("waiting")
    f.text("message", required=True)
    return obj


def parse_services(payload: bytes | str) -> dict[str, Any]:
    """A retained `services` snapshot, validated: ``{"seq", "services": [{"code", "name_vi",
    "name_en", "open"}, …]}`` in the order the centre lists them; returns the dict."""
    obj = load_object(payload)
    f = Fields(obj)
    f.integer("seq", low=0)
    for i, item in enumerate(f.array("services", MAX_SERVICES)):
        s = f.child(f"services[{i}]", item)
        s.service("code")
        s.text("name_vi", required=True)
        s.text("name_en")
        s.boolean("open")
    f.text("lookup_url")
    return obj


def parse_voice(payload: bytes | str) -> dict[str, Any]:
    """A retained `voice` message, validated: ``{"version": 16 hex digits naming the pack, "clips":
    how many it holds}``; a display with another version downloads the pack (docs/protocol.md)."""
    obj = load_object(payload)
    f = Fields(obj)
    version = f.text("version", 16, required=True)
    if not re.fullmatch(r"[0-9a-f]{16}", version or ""):
        raise f.error(f'"version" must be 16 hexadecimal digits, not {show(version)}')
    f.integer("clips", low=0)
    return obj


def parse_procedures(payload: bytes | str) -> dict[str, Any] | None:
    """A retained `procedures/<service>` summary, validated: ``{"seq", "service", "procedures":
    [{"id", "code", "name_vi", "name_en", "processing_time", "fee", "on_the_spot"}, …], "more"}``
    in the catalogue's order; None for an empty payload (the service has no procedures any more)."""
    if payload in (b"", ""):
        return None
    obj = load_object(payload)
    f = Fields(obj)
    f.integer("seq", low=0)
    f.service("service")
    for i, item in enumerate(f.array("procedures", MAX_PROCEDURE_ITEMS)):
        p = f.child(f"procedures[{i}]", item)
        p.integer("id", low=0)
        p.text("code")
        p.text("name_vi", required=True)
        for key in ("name_en", "processing_time", "fee"):
            p.text(key)
        p.boolean("on_the_spot", default=False)
    if obj.get("more") is not None:  # how many did not fit; absent is 0
        f.integer("more", low=0)
    return obj


def parse_counter_state(payload: bytes | str) -> dict[str, Any]:
    """A retained `counter/<counter>/state` message, validated; returns the dict.

    ``rating_until`` may be absent (a server before ratings): read it as null. The optional
    ``name`` (the counter's name) and ``reason`` (why it is paused) are read leniently: one that
    is neither a string nor null is left out, and the rest of the state still holds.
    """
    obj = load_object(payload)
    f = Fields(obj)
    f.integer("seq", low=0)
    f.choice("state", COUNTER_STATES)
    if "ticket" not in obj:
        raise f.error('"ticket" is required (null when the counter holds no ticket)')
    f.text("ticket")
    f.counts("waiting")
    f.moment("rating_until")
    for key in ("name", "reason"):  # additions to v1: a server before them sends neither
        if obj.get(key) is not None and not isinstance(obj[key], str):
            del obj[key]
    return obj


def parse_event(payload: bytes | str) -> dict[str, Any]:
    """An `events` message, validated; keys beyond seq/at/type/ticket/counter/service are kept as they are.

    ``type`` is any name of lower-case letters and ``_``: the queue's (`EVENT_TYPES`), the
    administration's (``config_changed``, ``catalogue_changed``, …) and types a newer server adds.
    A client acts on the types it knows and passes over the others."""
    obj = load_object(payload)
    f = Fields(obj)
    f.integer("seq", low=0)
    f.text("at", required=True)
    event_type = f.text("type", 32, required=True, what="an event type")
    if not _EVENT_TYPE.fullmatch(event_type or ""):
        raise f.error(f'"type" must be an event type of lower-case letters and "_", not {show(event_type)}')
    for key in ("ticket", "counter", "service"):
        f.text(key)
    return obj


def parse_reply(payload: bytes | str) -> dict[str, Any]:
    """A `kiosk/<kiosk>/reply` or `counter/<counter>/reply` message, validated; returns the dict.

    `ticket` is optional (an object or null); in the reply to a rating, which has `score`
    (1 to 4), it is the rated ticket's label. `error` is required when `ok` is false.
    The error code is any non-empty string, so a client keeps working when codes are added.
    `id` is null only in an error reply to a command whose id could not be read.
    """
    obj = load_object(payload)
    f = Fields(obj)
    if not ("id" in obj and obj["id"] is None and obj.get("ok") is False):
        f.command_id()
    ok = f.boolean("ok")
    if "score" in obj:
        f.integer("score", low=1, high=4)
        f.text("ticket", MAX_LABEL, what="the rated ticket's label")
    elif obj.get("ticket") is not None and not isinstance(obj["ticket"], dict):
        raise f.error(f'"ticket" must be an object or null, not {show(obj["ticket"])}')
    if "error" in obj or not ok:
        if "error" not in obj:
            raise f.error('"error" is required when "ok" is false')
        e = f.child("error", obj["error"])
        e.text("code", required=True, blank=False, what="a non-blank string")
        e.text("message", required=True)
    return obj
