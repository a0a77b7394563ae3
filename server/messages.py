"""The committed queue state as the protocol's messages: the retained board, each counter's
state and the services snapshot, and the tickets in the replies to take and counter commands.

Pure: the engine (server/engine.py) reads the state, the recent calls and the head of the
events log in one transaction and passes them in; nothing here touches the database or a clock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from queuebox.clock import iso
from queuebox.config import Config
from queuebox.protocol import MAX_PAYLOAD, MAX_SERVICES, encode
from server import rating_rules, rules
from server.rules import QueueState, Ticket


def board_message(config: Config, seq: int, at: datetime, calls: list[dict[str, Any]], waiting: dict[str, int],
                  message: str) -> dict[str, Any]:
    """The retained `board` payload: `calls` are the day's recent calls as the store lists them
    (newest first), `waiting` the tickets waiting per service, `at` the time of the last event."""
    names = {c.id: c.name for c in config.counters}
    return {
        "seq": seq,
        "at": iso(at, config.zone),
        "calls": [{"ticket": c["label"], "counter": c["counter"], "counter_name": names.get(c["counter"], c["counter"]),
                   "service": c["service"], "at": c["at"], "recall": c["recall"], "group": c["group"]}
                  for c in calls],
        "waiting": waiting,
        "message": message,
    }


def counter_messages(config: Config, state: QueueState, seq: int, now: datetime,
                     waiting: dict[str, int]) -> dict[str, dict[str, Any]]:
    """Each counter's `counter/<id>/state` payload. ``rating_until`` is when the rating window of
    its last finished ticket closes, null if it has none, was rated, or the window has already
    closed; ``name`` is its name (for a counter display), ``reason`` why it is paused (null unless paused)."""
    counters = {}
    for cfg in config.counters:
        c = state.counters[cfg.id]
        held = state.tickets.get(c.ticket) if c.ticket is not None else None
        until = rating_rules.rating_until(state, cfg.id)
        counters[cfg.id] = {"seq": seq, "state": c.state, "ticket": held.label if held else None,
                            "waiting": {code: waiting.get(code, 0) for code in cfg.services},
                            "rating_until": iso(until, config.zone) if until and until >= now else None,
                            "name": cfg.name, "reason": (c.pause_reason or "") if c.state == "paused" else None}
    return counters


def services_message(config: Config, seq: int, now: datetime) -> dict[str, Any]:
    """The retained `services` payload: every service of `config` in order, and whether it takes
    tickets at `now`. Names are shortened, if need be, to keep it within the protocol's payload size."""
    local = now.astimezone(config.zone)
    services = [{"code": s.code, "name_vi": s.name_vi, "name_en": s.name_en, "open": s.is_open(local)}
                for s in config.services[:MAX_SERVICES]]
    payload = {"seq": seq, "services": services,
               "lookup_url": f"{config.server.public_url.rstrip('/')}/procedures"}  # for a QR code on screens
    for limit in (48, 32, 16):  # only a centre with dozens of long names needs this
        if len(encode(payload)) <= MAX_PAYLOAD:
            break
        for item in services:
            item["name_vi"], item["name_en"] = item["name_vi"][:limit], item["name_en"][:limit]
    return payload


def ticket_view(config: Config, t: Ticket) -> dict[str, Any]:
    """A ticket as counters and the web see it (the `ticket` of a counter command's reply)."""
    svc = config.service(t.service)
    return {
        "label": t.label, "service": t.service, "queue": t.queue,
        "service_name": svc.name_vi if svc else t.service,
        "priority": t.priority, **group_view(config, t), "status": t.status, "counter": t.counter,
        "issued_at": iso(t.issued_at, config.zone),
        "called_at": iso(t.called_at, config.zone) if t.called_at else None,
        "call_count": t.call_count, "transferred_from": t.transferred_from,
    }


def issued_ticket(config: Config, state: QueueState, t: Ticket) -> dict[str, Any]:
    """A ticket just issued, as the kiosk prints it (the `ticket` of a take's reply): with the
    wait ahead of it in `state` and its public status page."""
    ahead, minutes = rules.estimate_wait(state, t)
    svc = config.service(t.service)
    return {
        "label": t.label, "service": t.service, "service_name": svc.name_vi if svc else t.service,
        "service_name_en": svc.name_en if svc else "", "priority": t.priority, **group_view(config, t),
        "group_name_en": group_name(config, t.priority_group, "en"),
        "issued_at": iso(t.issued_at, config.zone), "waiting_ahead": ahead,
        "estimated_wait_min": minutes,
        "status_url": f"{config.server.public_url.rstrip('/')}/t/{t.token}",
    }


def group_view(config: Config, t: Ticket) -> dict[str, Any]:
    """A ticket's priority group as replies and pages show it: its code and Vietnamese name, or nulls."""
    return {"group": t.priority_group, "group_name": group_name(config, t.priority_group, "vi")}


def group_name(config: Config, code: str | None, lang: str) -> str | None:
    """The name of group `code`; the code itself for a group dropped from the config since; None for none."""
    group = config.priority_group(code)
    return group.name(lang) if group else code
