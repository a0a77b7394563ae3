"""Tickets rebuilt from a centre's events, as the centre's own `tickets` table has them: by the
province hub (hub/ingest.py) and by a centre restoring its history from the hub
(server/restore_fold.py). Pure: the events come in seq order, nothing is read or written here.

Each event type changes a ticket as `server/rules.py` did when it wrote the event, so the
figures computed from these rows (hub/store.py `ticket_facts`) follow the definitions of
`queuebox/figures.py` exactly. `first_called_at` is the earliest call time (the report's waiting
time is first call − issue, `min(at)` of the `called` events); `ended_by` the actor of the last
`done` or `no_show`. A ticket's business day is the day in force when it was issued: the last
`day_opened` event before it (or, before any, the local date of its issue time). A
`rating_reason` event gives its ticket's rating the reason (`reason_of`); the first one counts,
as `server/rating_rules.py` accepts only one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from queuebox.hub_protocol import HubEvent
from queuebox.protocol_fields import parse_moment


@dataclass(frozen=True)
class TicketRow:
    """One ticket of the hub's `tickets` table (times as the centre wrote them)."""
    id: int
    day: str
    service: str
    label: str
    priority: bool
    status: str
    queue: str
    counter: str | None = None
    issued_at: str = ""
    first_called_at: str | None = None
    called_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    transferred: bool = False
    ended_by: str | None = None
    priority_group: str | None = None


@dataclass(frozen=True)
class RatingRow:
    ticket: int
    counter: str | None
    score: int
    at: str


def business_day(day: str | None, event: HubEvent) -> str | None:
    """The business day after `event`, `day` before it (ISO dates)."""
    if event.type == "day_opened" and isinstance(event.data.get("day"), str):
        return event.data["day"]
    return day


def apply_event(row: TicketRow | None, event: HubEvent, day: str | None) -> TicketRow | None:
    """The ticket after `event` (which is about it); `day` is the business day in force.
    An event about a ticket the hub never saw issued (or of a type it does not know) leaves it as it is."""
    at, kind = event.at, event.type
    if kind == "issued":
        service = str(event.data.get("service", ""))
        return TicketRow(id=event.ticket or 0, day=day or at[:10], service=service,
                         label=str(event.data.get("label", "")), priority=bool(event.data.get("priority")),
                         status="waiting", queue=service, issued_at=at,
                         priority_group=event.data["group"] if isinstance(event.data.get("group"), str) else None)
    if row is None:
        return None
    if kind == "called":
        first = row.first_called_at
        if first is None or parse_moment(at) < parse_moment(first):
            first = at
        return replace(row, status="called", counter=event.counter, called_at=at, first_called_at=first,
                       started_at=None, finished_at=None)
    if kind == "recalled":
        return replace(row, called_at=at)
    if kind == "started":
        return replace(row, status="serving", started_at=at)
    if kind == "done":
        return replace(row, status="done", finished_at=at, ended_by=event.actor)
    if kind == "no_show":
        return replace(row, status="no_show", finished_at=at, counter=event.counter, ended_by=event.actor)
    if kind == "transferred":
        return replace(row, status="waiting", queue=str(event.data.get("to", row.queue)), transferred=True,
                       counter=None, called_at=None, started_at=None)
    if kind == "cancelled":
        return replace(row, status="cancelled", finished_at=at)
    return row


def rating_of(event: HubEvent) -> RatingRow | None:
    """The rating a `rated` event records, or None."""
    score = event.data.get("score")
    if event.type != "rated" or event.ticket is None or type(score) is not int or not 1 <= score <= 4:
        return None
    return RatingRow(event.ticket, event.counter, score, event.at)


def reason_of(event: HubEvent) -> tuple[int, str] | None:
    """(ticket, reason) that a `rating_reason` event gives its ticket's rating, or None. It comes
    after the `rated` event in seq order; only the first reason of a rating counts."""
    reason = event.data.get("reason")
    if event.type != "rating_reason" or event.ticket is None or not isinstance(reason, str):
        return None
    return event.ticket, reason
