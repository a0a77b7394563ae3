"""The queue policy: pure functions over immutable state, no I/O, `now` passed in.

Every rule takes a `QueueState` and returns an `Outcome`: the new state, the events the
change caused (one per state change, each carrying the ticket as it is after the change)
and the ticket the reply is about. A command that cannot apply raises `CommandRejected`
and changes nothing. An empty queue is not an error: `call_next` returns no ticket.

Vocabulary:
- a ticket's `service` is the service it was issued for (its label's prefix, part of its
  identity); its `queue` is the service it waits in now (differs after a transfer);
- `number` is the day's sequence per service (1, 2, 3 …, unique in the day); the printed
  label wraps at the service's `number_end`, the number never does;
- a counter's services carry weights: higher weights are served first, equal weights FIFO;
- queue order is issue order (ticket id), not the clock, so a clock jump cannot reorder it.

Ratings: a citizen rates the ticket the counter finished last (`QueueState.finished`),
once, within `queue.rating_window_s` seconds of its finish. Any finish opens that window:
`done`, and `next` or `call` finishing the ticket the counter held (many clerks never press
`done`: the citizen at the desk must still be able to rate). A no-show, a transfer or a
cancelled ticket opens none. A new day does not close a window that is still open.
Scores: 1 very satisfied, 2 satisfied, 3 neutral, 4 dissatisfied; the rating rules themselves
(`rate`, `give_reason`) are server/rating_rules.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Mapping

from queuebox.config import Config, CounterConfig, QueueConfig
from queuebox.errors import CommandRejected
from queuebox.protocol import COUNTER_ACTIONS

ACTIVE = frozenset({"waiting", "called", "serving"})
HELD = frozenset({"called", "serving"})
RECENT_SERVICE_TIMES = 20


@dataclass(frozen=True)
class Ticket:
    id: int
    day: date
    service: str
    number: int
    label: str
    priority: bool
    token: str
    issued_at: datetime
    queue: str
    status: str = "waiting"
    kiosk: str | None = None
    front: bool = False
    called_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    counter: str | None = None
    call_count: int = 0
    transferred_from: str | None = None
    priority_group: str | None = None  # the code of its priority group; None: none (or not priority)


@dataclass(frozen=True)
class Counter:
    id: str
    state: str = "idle"  # idle | calling | serving | paused
    ticket: int | None = None
    pause_reason: str | None = None
    normal_streak: int | None = None  # normal tickets called since the last priority one; None: none yet
    last_done: int | None = None  # the ticket this counter finished last (ratings attach to it)


@dataclass(frozen=True)
class Finished:
    """The ticket a counter finished last, as it was finished, and its rating once made."""
    ticket: Ticket
    score: int | None = None
    rated_at: datetime | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Event:
    type: str
    ticket: Ticket | None = None
    counter: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class QueueState:
    config: Config
    day: date
    tickets: Mapping[int, Ticket]  # the day's tickets that can still change: active and no-show
    counters: Mapping[str, Counter]
    issued: Mapping[str, int]  # last number issued today, per service
    next_id: int
    service_seconds: Mapping[str, tuple[float, ...]] = field(default_factory=dict)  # recent, per queue
    finished: Mapping[str, Finished] = field(default_factory=dict)  # per counter: its `last_done` ticket


@dataclass(frozen=True)
class Outcome:
    state: QueueState
    events: tuple[Event, ...] = ()
    ticket: Ticket | None = None


def empty_state(config: Config, day: date, next_id: int = 1) -> QueueState:
    """The state of a day that has no tickets yet."""
    counters = {c.id: Counter(c.id) for c in config.counters}
    return QueueState(config, day, {}, counters, {}, next_id)


# --- issuing ------------------------------------------------------------------------------

def issue_ticket(state: QueueState, service: str, now: datetime, *, token: str,
                 priority: bool = False, kiosk: str | None = None, group: str | None = None) -> Outcome:
    """Issue the next ticket of `service`; `token` is the caller's random status-page token.

    A `group` (a code of `config.priority_groups`) makes it a priority ticket of that group; the
    group changes nothing in the order (every priority ticket follows `queue.priority`)."""
    svc = state.config.service(service)
    if svc is None:
        raise CommandRejected("unknown_service", f"no service with code {service!r}")
    if group is not None and state.config.priority_group(group) is None:
        known = ", ".join(g.code for g in state.config.priority_groups) or "none"
        raise CommandRejected("bad_request", f"no priority group with code {group!r}; the groups are {known}")
    if not svc.is_open(now.astimezone(state.config.zone)):
        hours = ", ".join(svc.hours) or "—"
        raise CommandRejected("service_closed", f"service {service} is closed now (hours {hours})")
    number = state.issued.get(service, 0) + 1
    if svc.daily_limit and number > svc.daily_limit:
        raise CommandRejected("daily_limit", f"service {service} has issued its {svc.daily_limit} tickets for today")
    label = svc.label(number)
    wrapped = number > svc.number_end - svc.number_start + 1
    if wrapped and any(t.label == label and t.status in ACTIVE for t in state.tickets.values()):
        raise CommandRejected("daily_limit", f"label {label} is still in use: the number range of {service} is full")
    ticket = Ticket(id=state.next_id, day=state.day, service=service, number=number, label=label,
                    priority=priority or group is not None, token=token, issued_at=now, queue=service, kiosk=kiosk,
                    priority_group=group)
    new = replace(state, tickets={**state.tickets, ticket.id: ticket},
                  issued={**state.issued, service: number}, next_id=state.next_id + 1)
    event = Event("issued", ticket, None, {"service": service, "priority": ticket.priority, "kiosk": kiosk,
                                           "group": group})
    return Outcome(new, (event,), ticket)


def estimate_wait(state: QueueState, ticket: Ticket) -> tuple[int, int | None]:
    """(people ahead of `ticket` in its queue, estimated minutes or None if no counter serves it).

    Minutes = people ahead × mean recent service time of the queue (or the service's
    configured `service_min` until there are real times) / counters open for that queue.
    """
    strict = state.config.queue.priority == "strict"

    def goes_before(t: Ticket) -> bool:
        if strict and t.priority != ticket.priority:
            return t.priority
        return _queue_key(t) < _queue_key(ticket)

    ahead = sum(1 for t in _waiting(state, {ticket.queue}) if t.id != ticket.id and goes_before(t))
    open_counters = sum(1 for c in state.config.counters if ticket.queue in c.services
                        and state.counters[c.id].state != "paused")
    if not open_counters:
        return ahead, None
    recent = state.service_seconds.get(ticket.queue)
    svc = state.config.service(ticket.queue)
    per_person = sum(recent) / len(recent) if recent else svc.service_min * 60
    return ahead, math.ceil(ahead * per_person / 60 / open_counters)


def waiting_counts(state: QueueState) -> dict[str, int]:
    """Number of waiting tickets per queue, every configured service included."""
    counts = {s.code: 0 for s in state.config.services}
    for t in state.tickets.values():
        if t.status == "waiting":
            counts[t.queue] = counts.get(t.queue, 0) + 1
    return counts


# --- the day --------------------------------------------------------------------------------

def open_day(state: QueueState, day: date, now: datetime) -> Outcome:
    """Move to a later business day: unfinished tickets are cancelled, numbering restarts.

    A day that is not after the current one changes nothing (the day never moves back).
    """
    if day <= state.day:
        return Outcome(state)
    events = []
    for t in sorted(state.tickets.values(), key=lambda t: t.id):
        if t.status in ACTIVE:
            closed = replace(t, status="cancelled", finished_at=now)
            events.append(Event("cancelled", closed, t.counter, {"reason": "day_closed"}))
    # Counters holding a ticket are freed by its "cancelled" event; paused ones stay paused.
    # `last_done` (and `finished`) stay: a rating window open at midnight stays open.
    counters = {cid: (c if c.state == "paused" else Counter(cid, last_done=c.last_done))
                for cid, c in state.counters.items()}
    previous = None if state.day == date.min else state.day.isoformat()
    events.append(Event("day_opened", None, None, {"day": day.isoformat(), "previous": previous}))
    new = replace(state, day=day, tickets={}, counters=counters, issued={})
    return Outcome(new, tuple(events))


# --- counters -------------------------------------------------------------------------------

def counter_action(state: QueueState, counter: str, action: str, now: datetime, *,
                   to: str | None = None, ticket: str | None = None, reason: str | None = None) -> Outcome:
    """Apply one counter action of the protocol (`next`, `recall`, … `resume`)."""
    if action not in COUNTER_ACTIONS:
        raise CommandRejected("bad_request", f"unknown action {action!r}; expected one of {', '.join(COUNTER_ACTIONS)}")
    counter_config(state, counter)
    if action == "next":
        return call_next(state, counter, now)
    if action == "recall":
        return recall(state, counter, now)
    if action == "start":
        return start(state, counter, now)
    if action == "done":
        return finish(state, counter, now)
    if action == "no_show":
        return no_show(state, counter, now)
    if action == "transfer":
        if not to:
            raise CommandRejected("bad_request", "transfer needs 'to': the service code to send the ticket to")
        return transfer(state, counter, to, now)
    if action == "call":
        if not ticket:
            raise CommandRejected("bad_request", "call needs 'ticket': the label to call, e.g. 'A023'")
        return call_ticket(state, counter, ticket, now)
    if action == "pause":
        return pause(state, counter, reason or "", now)
    return resume(state, counter, now)


def call_next(state: QueueState, counter: str, now: datetime) -> Outcome:
    """Finish the counter's current ticket if any, then call the next one it serves.

    Services are tried by weight (highest first); inside a weight tier priority tickets go
    first ('strict') or one after every N normal ones ('interleave'); then transferred
    tickets sent to the front; then issue order. No waiting ticket: the counter goes idle
    and the outcome has no ticket.
    """
    counter_config(state, counter)
    _not_paused(state, counter)
    outcome = _finish_current(state, counter, now)
    chosen = call_order(outcome.state, counter, limit=1)
    if not chosen:
        return replace(outcome, ticket=None)
    return chain(outcome, _call(outcome.state, counter, chosen[0], now))


def call_ticket(state: QueueState, counter: str, label: str, now: datetime) -> Outcome:
    """Call a given ticket out of turn: a waiting one, or a no-show back within the rejoin window."""
    counter_config(state, counter)
    _not_paused(state, counter)
    rejoin = timedelta(minutes=state.config.queue.no_show_rejoin_min)
    matches = [t for t in state.tickets.values() if t.label.upper() == label.strip().upper()]
    callable_ = [t for t in matches if t.status == "waiting"
                 or (t.status == "no_show" and t.finished_at is not None and now - t.finished_at <= rejoin)]
    if not callable_:
        if any(t.status in HELD for t in matches):
            raise CommandRejected("not_allowed", f"ticket {label} is already called at another counter")
        raise CommandRejected("unknown_ticket", f"no waiting ticket {label} today")
    target = max(callable_, key=lambda t: t.id)
    if state.counters[counter].ticket == target.id:
        raise CommandRejected("not_allowed", f"ticket {label} is already at this counter; use recall")
    outcome = _finish_current(state, counter, now)
    return chain(outcome, _call(outcome.state, counter, outcome.state.tickets[target.id], now))


def recall(state: QueueState, counter: str, now: datetime) -> Outcome:
    """Call the counter's current ticket again (the citizen has not come yet)."""
    c, t = _held(state, counter, {"called"}, "recall")
    called = replace(t, call_count=t.call_count + 1, called_at=now)
    new = _with(state, tickets={t.id: called})
    data = {"call_count": called.call_count, "queue": t.queue}
    return Outcome(new, (Event("recalled", called, counter, data),), called)


def start(state: QueueState, counter: str, now: datetime) -> Outcome:
    """The citizen has arrived: service time starts."""
    c, t = _held(state, counter, {"called"}, "start")
    serving = replace(t, status="serving", started_at=now)
    new = _with(state, tickets={t.id: serving}, counters={counter: replace(c, state="serving")})
    return Outcome(new, (Event("started", serving, counter),), serving)


def finish(state: QueueState, counter: str, now: datetime) -> Outcome:
    """The counter has finished its ticket (`done`)."""
    _held(state, counter, HELD, "done")
    return _finish_current(state, counter, now)


def no_show(state: QueueState, counter: str, now: datetime) -> Outcome:
    """The called citizen did not come after enough calls; the counter is free again."""
    c, t = _held(state, counter, {"called"}, "no_show")
    needed = state.config.queue.no_show_min_calls
    if t.call_count < needed:
        raise CommandRejected("not_allowed", f"{t.label} was called {t.call_count} time(s); "
                                             f"recall it until {needed} calls before marking it no-show")
    gone = replace(t, status="no_show", finished_at=now, counter=counter)
    new = _with(state, tickets={t.id: gone}, counters={counter: replace(c, state="idle", ticket=None)})
    return Outcome(new, (Event("no_show", gone, counter, {"call_count": t.call_count}),), gone)


def transfer(state: QueueState, counter: str, to: str, now: datetime) -> Outcome:
    """Send the counter's ticket to another service's queue; the citizen keeps the label."""
    c, t = _held(state, counter, HELD, "transfer")
    if state.config.service(to) is None:
        raise CommandRejected("unknown_service", f"no service with code {to!r}")
    if to == t.queue:
        raise CommandRejected("not_allowed", f"{t.label} is already in service {to}")
    front = transferred_to_front(state.config.queue)
    moved = replace(t, status="waiting", queue=to, transferred_from=t.queue, counter=None,
                    called_at=None, started_at=None, call_count=0, front=front)
    new = _with(state, tickets={t.id: moved}, counters={counter: replace(c, state="idle", ticket=None)})
    return Outcome(new, (Event("transferred", moved, counter, {"from": t.queue, "to": to}),), moved)


def pause(state: QueueState, counter: str, reason: str, now: datetime) -> Outcome:
    """Close the counter for a while (break, meeting); it must hold no ticket."""
    c = state.counters[counter]
    if c.state == "paused":
        raise CommandRejected("not_allowed", f"counter {counter} is already paused")
    if c.ticket is not None:
        label = state.tickets[c.ticket].label
        raise CommandRejected("not_allowed", f"finish or transfer {label} before pausing")
    reason = reason.strip()[:200]
    new = _with(state, counters={counter: replace(c, state="paused", pause_reason=reason)})
    return Outcome(new, (Event("paused", None, counter, {"reason": reason}),))


def resume(state: QueueState, counter: str, now: datetime) -> Outcome:
    """Open a paused counter again."""
    c = state.counters[counter]
    if c.state != "paused":
        raise CommandRejected("not_allowed", f"counter {counter} is not paused")
    new = _with(state, counters={counter: replace(c, state="idle", pause_reason=None)})
    return Outcome(new, (Event("resumed", None, counter),))


# --- helpers --------------------------------------------------------------------------------

def counter_config(state: QueueState, counter: str) -> CounterConfig:
    """The config of `counter`; CommandRejected `unknown_counter` if the centre has none."""
    cfg = state.config.counter(counter)
    if cfg is None or counter not in state.counters:
        raise CommandRejected("unknown_counter", f"no counter with id {counter!r}")
    return cfg


def _not_paused(state: QueueState, counter: str) -> None:
    if state.counters[counter].state == "paused":
        raise CommandRejected("not_allowed", f"counter {counter} is paused; resume it first")


def _held(state: QueueState, counter: str, statuses: frozenset[str] | set[str], action: str) -> tuple[Counter, Ticket]:
    c = state.counters[counter]
    t = state.tickets.get(c.ticket) if c.ticket is not None else None
    if t is None:
        raise CommandRejected("not_allowed", f"{action}: counter {counter} has no ticket")
    if t.status not in statuses:
        raise CommandRejected("not_allowed", f"{action}: ticket {t.label} is {t.status}")
    return c, t


def _with(state: QueueState, tickets: Mapping[int, Ticket] = {}, counters: Mapping[str, Counter] = {}) -> QueueState:
    return replace(state, tickets={**state.tickets, **tickets}, counters={**state.counters, **counters})


def chain(first: Outcome, second: Outcome) -> Outcome:
    """`first` then `second` (applied to `first`'s state) as one outcome."""
    return Outcome(second.state, first.events + second.events, second.ticket)


def _queue_key(t: Ticket) -> tuple[bool, int]:
    return (not t.front, t.id)


def _waiting(state: QueueState, queues: set[str]) -> list[Ticket]:
    return [t for t in state.tickets.values() if t.status == "waiting" and t.queue in queues]


def call_order(state: QueueState, counter: str, limit: int | None = None) -> list[Ticket]:
    """The waiting tickets in the order successive Nexts of `counter` would call them, if
    nothing else happened meanwhile (at most `limit`): the one order that Next uses and the
    console lists. See `call_next` for the rule."""
    cfg = counter_config(state, counter)
    left = [t for t in state.tickets.values() if t.status == "waiting" and t.queue in cfg.services]
    streak = state.counters[counter].normal_streak
    order: list[Ticket] = []
    while left and (limit is None or len(order) < limit):
        chosen = _pick_next(left, cfg, streak, state.config.queue)
        order.append(chosen)
        left.remove(chosen)
        streak = streak_after_call(streak, chosen.priority)
    return order


def _pick_next(waiting: list[Ticket], cfg: CounterConfig, streak: int | None, policy: QueueConfig) -> Ticket:
    """The ticket Next calls among `waiting` (not empty, all of services `cfg` serves), after
    `streak` normal tickets in a row (None: no call yet today)."""
    for weight in sorted(set(cfg.services.values()), reverse=True):
        tier = [t for t in waiting if cfg.services[t.queue] == weight]
        if not tier:
            continue
        priority = [t for t in tier if t.priority]
        normal = [t for t in tier if not t.priority]
        if policy.priority == "strict":
            pool = priority or normal
        else:
            due = streak is None or streak >= policy.interleave_every
            pool = priority if priority and (due or not normal) else normal
        return min(pool, key=_queue_key)
    raise AssertionError("no waiting ticket of the counter's services")


def streak_after_call(streak: int | None, priority: bool) -> int:
    """A counter's run of normal tickets after it calls one (`priority` or not)."""
    return 0 if priority else (streak or 0) + 1


def transferred_to_front(policy: QueueConfig) -> bool:
    """Whether a transferred ticket goes before the waiting ones of its new queue."""
    return policy.transfer_position == "first"


def _call(state: QueueState, counter: str, t: Ticket, now: datetime) -> Outcome:
    c = state.counters[counter]
    called = replace(t, status="called", counter=counter, called_at=now, call_count=1,
                     finished_at=None, started_at=None)
    streak = streak_after_call(c.normal_streak, t.priority)
    new = _with(state, tickets={t.id: called},
                counters={counter: replace(c, state="calling", ticket=t.id, normal_streak=streak)})
    data = {"queue": t.queue, "rejoined": t.status == "no_show"}
    return Outcome(new, (Event("called", called, counter, data),), called)


def _finish_current(state: QueueState, counter: str, now: datetime) -> Outcome:
    """Mark the counter's held ticket done (if any) and free the counter."""
    c = state.counters[counter]
    if c.ticket is None:
        return Outcome(state)
    t = state.tickets[c.ticket]
    done = replace(t, status="done", finished_at=now)
    began = t.started_at or t.called_at or now
    seconds = max(0.0, (now - began).total_seconds())
    recent = (state.service_seconds.get(t.queue, ()) + (seconds,))[-RECENT_SERVICE_TIMES:]
    tickets = dict(state.tickets)
    del tickets[t.id]
    new = replace(state, tickets=tickets, service_seconds={**state.service_seconds, t.queue: recent},
                  counters={**state.counters, counter: replace(c, state="idle", ticket=None, last_done=t.id)},
                  finished={**state.finished, counter: Finished(done)})
    return Outcome(new, (Event("done", done, counter, {"service_s": round(seconds, 1)}),), done)
