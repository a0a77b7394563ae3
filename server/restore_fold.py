"""A centre's `tickets`, `ratings`, `days` and counter rows rebuilt from its events, as the
engine wrote them: what `queuebox restore --from-hub` writes beside the events. Pure.

The columns the hub keeps too (status, queue, counter, times) come from `queuebox.ticket_fold`, the one
reading of what each event does to a ticket; the columns only the centre has are read here:
`number` is the ticket's place among its service's tickets of the business day (the engine
numbers them 1, 2, … from each `day_opened`, so the next ticket carries on after it), `kiosk`,
`priority` and `priority_group` come from `issued`, `call_count` from `called`/`recalled`, `transferred_from`
and `front` from `transferred`. Counters follow `server.rules`: calls move the priority streak
(`streak_after_call`), a new day frees every counter that is not paused.

What the events do not hold is not invented: a ticket's status-page token is random again (old
links stop working), and command ids, users, tokens and web settings are not in the history.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable

from queuebox.ticket_fold import TicketRow, apply_event, business_day, rating_of, reason_of
from queuebox.config import Config
from queuebox.hub_protocol import HubEvent
from server.rules import Counter, streak_after_call, transferred_to_front


@dataclass
class Extra:
    """A ticket's columns that only the centre keeps."""
    number: int
    kiosk: str | None
    call_count: int = 0
    transferred_from: str | None = None
    front: bool = False


@dataclass
class Rebuilt:
    """The rows to write; `counters` only for the configured counters."""
    tickets: dict[int, TicketRow] = field(default_factory=dict)
    extras: dict[int, Extra] = field(default_factory=dict)
    ratings: dict[int, dict[str, Any]] = field(default_factory=dict)
    days: dict[str, str] = field(default_factory=dict)
    counters: dict[str, Counter] = field(default_factory=dict)
    issued: dict[tuple[str, str], int] = field(default_factory=dict)  # (day, service): last number

    def ticket_rows(self, new_token: Callable[[], str] = lambda: secrets.token_urlsafe(9)) -> list[dict[str, Any]]:
        """The `tickets` rows, in id order."""
        rows = []
        for tid in sorted(self.tickets):
            t, x = self.tickets[tid], self.extras[tid]
            rows.append({"id": t.id, "day": t.day, "service": t.service, "number": x.number, "label": t.label,
                         "priority": int(t.priority), "token": new_token(), "kiosk": x.kiosk, "status": t.status,
                         "queue": t.queue, "front": int(x.front), "issued_at": t.issued_at,
                         "called_at": t.called_at, "started_at": t.started_at, "finished_at": t.finished_at,
                         "counter": t.counter, "call_count": x.call_count, "transferred_from": x.transferred_from,
                         "priority_group": t.priority_group})
        return rows


def rebuild(config: Config, events: Iterable[HubEvent]) -> Rebuilt:
    """Fold `events` (in seq order, from seq 1) into the centre's rows."""
    out = Rebuilt(counters={c.id: Counter(c.id) for c in config.counters})
    day: str | None = None
    for e in events:
        day = business_day(day, e)
        if e.type == "day_opened" and day is not None:
            out.days.setdefault(day, e.at)
            out.counters = {cid: c if c.state == "paused" else Counter(cid, last_done=c.last_done)
                            for cid, c in out.counters.items()}
        _counter(out, e)
        rating = rating_of(e)
        if rating is not None:
            out.ratings[rating.ticket] = {"ticket": rating.ticket, "counter": rating.counter,
                                          "score": rating.score, "at": rating.at, "reason": None}
        elif e.type == "rating_reason":
            given = reason_of(e)
            found = out.ratings.get(given[0]) if given else None
            if given and found is not None and found["reason"] is None:
                found["reason"] = given[1]
        elif e.ticket is not None:
            _ticket(out, e, day, config)
    return out


def _ticket(out: Rebuilt, e: HubEvent, day: str | None, config: Config) -> None:
    row = apply_event(out.tickets.get(e.ticket or 0), e, day)
    if row is None:
        return
    tid = row.id
    if e.type == "issued":
        key = (row.day, row.service)
        out.issued[key] = out.issued.get(key, 0) + 1
        kiosk = e.data.get("kiosk")
        out.extras[tid] = Extra(out.issued[key], kiosk if isinstance(kiosk, str) else None)
    extra = out.extras[tid]
    if e.type == "called":
        extra.call_count = 1
    elif e.type == "recalled" and type(e.data.get("call_count")) is int:
        extra.call_count = e.data["call_count"]
    elif e.type == "transferred":
        extra.call_count, extra.front = 0, transferred_to_front(config.queue)
        extra.transferred_from = e.data.get("from") if isinstance(e.data.get("from"), str) else None
    out.tickets[tid] = row


def _counter(out: Rebuilt, e: HubEvent) -> None:
    c = out.counters.get(e.counter or "")
    if c is None:
        return
    if e.type == "called" and e.ticket in out.tickets:
        c = replace(c, state="calling", ticket=e.ticket,
                    normal_streak=streak_after_call(c.normal_streak, out.tickets[e.ticket].priority))
    elif e.type == "started":
        c = replace(c, state="serving")
    elif e.type == "done":
        c = replace(c, state="idle", ticket=None, last_done=e.ticket)
    elif e.type in ("no_show", "transferred"):
        c = replace(c, state="idle", ticket=None)
    elif e.type == "paused":
        c = replace(c, state="paused", pause_reason=str(e.data.get("reason", "")))
    elif e.type == "resumed":
        c = replace(c, state="idle", pause_reason=None)
    out.counters[c.id] = c


def event_row(e: HubEvent) -> dict[str, Any]:
    """The `events` row of `e`, seq kept."""
    return {"seq": e.seq, "at": e.at, "type": e.type, "ticket": e.ticket, "counter": e.counter,
            "actor": e.actor, "data": json.dumps(e.data, ensure_ascii=False)}
