"""The report figures, defined once: what happened to the tickets of a period, grouped by
service, counter, clerk, hour of day or day. Pure, stdlib only: the centre (server/reports.py,
from its SQLite file) and the province hub (hub/store.py, from PostgreSQL) each turn their
tickets into the same `TicketFacts` rows, and everything from there on is computed here, so
a month at the hub equals the centre's own `queuebox report` figure for figure.

Every figure is a count, share or percentile over the facts of one group (`figures`). A
ticket belongs to exactly one group, so the rows add up to the totals.

Definitions (docs/reports.md repeats them for the README):

period          business days `start` … `end`, both included. A ticket belongs to the business
                day it was issued on (`tickets.day`: the local date in the centre's time zone,
                so a ticket issued at 23:59 counts on that day, one at 00:01 on the next).
issued          tickets of the period.
served          status `done`.
no_show         status `no_show` (a no-show called back and then served counts as served).
cancelled       status `cancelled`: still waiting or at a counter when the next business day
                opened.
left_without_service
                cancelled tickets that were never called: the citizen waited and went home
                unserved (the day closed on them). A part of `cancelled`, never of `no_show`
                (a no-show was called); these tickets have no waiting time, so the waiting
                figures below leave them out and this figure counts them instead.
                cancelled = left_without_service + tickets cancelled after a call (the day
                closed while the ticket was at a counter, or waiting again after a transfer).
open            status `waiting`, `called` or `serving`: not finished when the report was
                made (today's queue, or the leftovers of a day no command followed yet).
                issued = served + no_show + cancelled + open.
transferred     tickets sent to another service at least once (`transferred_from` is set);
                they also count under their final status.
called          tickets called at least once.
waiting time    first call − issue: the time of the ticket's first `called` event minus
                `issued_at`. Recalls and calls after a transfer do not restart it. Only
                called tickets have one: a ticket never called is in `left_without_service`
                (so also in `cancelled`) or `open`.
service time    served tickets only: `finished_at` − `started_at`, or − `called_at` (the
                last call) when the clerk never pressed start.
median/p90/max  nearest rank: of n sorted values, the p-th percentile is the value at rank
                ⌈p × n / 100⌉ (1-based). The median is p50: the ⌈n/2⌉-th value, the lower
                middle one when n is even. Always a time that really occurred.
within target   share of called tickets whose waiting time ≤ `target_wait_min` of the
                service they were issued for (`services` table).
ratings         scores of the served tickets of the group, counted by ticket (a rating made
                after midnight counts on its ticket's day). Score 1 = very satisfied,
                2 = satisfied, 3 = neutral, 4 = dissatisfied (`SCORES`).
satisfied       share of ratings with score 1 or 2.
response rate   rated served tickets / served tickets.
busiest hours   the hours of day with the most tickets issued over the period, most first
                (ties: the earlier hour), at most 3.
reasons         the reasons given with the ratings of the group (scores 3 and 4 are asked
                one), counted by their Vietnamese text as recorded (`reason_counts`);
                ratings without a reason are not counted.

Groups (`by`):
service         the service the ticket was issued for (its label's prefix), also after a
                transfer; its waiting time was spent in that queue (a ticket is transferred
                only after it was called).
counter         the counter that held the ticket last (`tickets.counter`); none if never called.
clerk           who ended the ticket: the actor of its last `done` or `no_show` event.
                `web/<login>` (the web console) → the login; `counter/<id>` (a keypad) →
                "(keypad)"; another origin such as `api/<name>` → "(api)". None for tickets
                that were not served or marked no-show.
hour            the local hour of issue, 0–23, as recorded in `issued_at`.
day             the business day.
group           a priority ticket's group code (`tickets.priority_group`); "(priority)" for a
                priority ticket of no group; none for a ticket that is not priority.
A group that is none (a ticket never called has no counter) is shown as "—".
"""

from __future__ import annotations

import calendar
from collections import Counter as Tally
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Iterable, Literal, Mapping, Sequence, get_args

from queuebox.errors import QueueboxError

Dimension = Literal["service", "counter", "clerk", "hour", "day", "group"]
DIMENSIONS: tuple[str, ...] = get_args(Dimension)
NO_GROUP = "(priority)"  # the `group` key of a priority ticket of no group (an older kiosk, the priority button)


def group_names() -> dict[str, str]:
    """The names of the `group` keys: the default priority groups' (the database keeps only codes,
    so a centre's own groups show as codes), and of a priority ticket of no group."""
    from queuebox.config import DEFAULT_PRIORITY_GROUPS

    return {NO_GROUP: "Ưu tiên (không nhóm)", **{g.code: g.name_vi for g in DEFAULT_PRIORITY_GROUPS}}
SCORES = {1: "very satisfied", 2: "satisfied", 3: "neutral", 4: "dissatisfied"}
SATISFIED = frozenset({1, 2})
KEYPAD = "(keypad)"
NONE_LABEL = "—"
BUSIEST_HOURS = 3


class ReportError(QueueboxError, ValueError):
    """A report was asked for with an impossible period or grouping."""


MAX_PERIOD_DAYS = 366  # one report covers at most a year (a leap year included)


# --- periods --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    """Business days `start` … `end`, both included."""
    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ReportError(f"the period ends ({self.end}) before it starts ({self.start})")
        if self.days > MAX_PERIOD_DAYS:  # a range of millennia would take minutes and hundreds of MB
            raise ReportError(f"the period {self.start} – {self.end} has {self.days} days; "
                              f"a report covers at most {MAX_PERIOD_DAYS}")

    @classmethod
    def day(cls, day: date) -> Period:
        return cls(day, day)

    @classmethod
    def week(cls, day: date) -> Period:
        """The ISO week (Monday to Sunday) that contains `day`."""
        monday = day - timedelta(days=day.weekday())
        return cls(monday, monday + timedelta(days=6))

    @classmethod
    def month(cls, day: date) -> Period:
        """The calendar month that contains `day`."""
        last = calendar.monthrange(day.year, day.month)[1]
        return cls(day.replace(day=1), day.replace(day=last))

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def __str__(self) -> str:
        return self.start.isoformat() if self.start == self.end else f"{self.start} – {self.end}"


# --- facts: one row per ticket ------------------------------------------------------------------

@dataclass(frozen=True)
class TicketFacts:
    """What the reports need to know about one ticket (times in seconds)."""
    id: int
    day: str
    label: str
    service: str
    counter: str | None
    clerk: str | None
    hour: int
    status: str
    transferred: bool
    wait_s: float | None  # first call − issue; None if never called
    service_s: float | None  # served tickets only
    target_s: float | None  # target wait of the service issued for; None if the service is unknown
    score: int | None  # rating of a served ticket
    group: str | None = None  # its priority group's code, NO_GROUP for priority without one; None: not priority

    def key(self, by: Dimension) -> str | int | None:
        return self.hour if by == "hour" else getattr(self, by)


def clerk_of(actor: str | None) -> str | None:
    """The clerk an event's actor stands for (see the module docstring)."""
    if not actor:
        return None
    kind, _, name = actor.partition("/")
    if kind == "web" and name:
        return name
    if kind == "counter":
        return KEYPAD
    return f"({kind})"


# --- figures -------------------------------------------------------------------------------------

def percentile(values: Sequence[float], p: int) -> float | None:
    """Nearest-rank percentile: the value at rank ⌈p × n / 100⌉ of the sorted values; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-p * len(ordered) // 100))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Figures:
    """The figures of one group (or of all tickets: the totals); times in seconds, shares 0–1."""
    key: str | int | None
    issued: int
    served: int
    no_show: int
    cancelled: int
    left_without_service: int  # cancelled and never called
    open: int
    transferred: int
    called: int
    wait_median_s: float | None
    wait_p90_s: float | None
    wait_max_s: float | None
    service_median_s: float | None
    service_p90_s: float | None
    service_max_s: float | None
    within_target: int  # called tickets whose wait was ≤ the target
    within_target_share: float | None  # of the called tickets with a known target
    ratings: tuple[int, int, int, int]  # count of scores 1, 2, 3, 4
    satisfied_share: float | None
    response_rate: float | None

    @property
    def rated(self) -> int:
        return sum(self.ratings)


def figures(key: str | int | None, facts: Iterable[TicketFacts]) -> Figures:
    """The figures of a group of tickets (see the module docstring for each definition)."""
    facts = list(facts)
    status = Tally(f.status for f in facts)
    waits = [f.wait_s for f in facts if f.wait_s is not None]
    services = [f.service_s for f in facts if f.service_s is not None]
    targeted = [f for f in facts if f.wait_s is not None and f.target_s is not None]
    within = sum(1 for f in targeted if f.wait_s <= f.target_s)  # type: ignore[operator]
    scores = Tally(f.score for f in facts if f.score is not None)
    rated = sum(scores.values())
    served = status["done"]
    return Figures(
        key=key, issued=len(facts), served=served, no_show=status["no_show"], cancelled=status["cancelled"],
        left_without_service=sum(1 for f in facts if f.status == "cancelled" and f.wait_s is None),
        open=status["waiting"] + status["called"] + status["serving"],
        transferred=sum(1 for f in facts if f.transferred), called=len(waits),
        wait_median_s=percentile(waits, 50), wait_p90_s=percentile(waits, 90), wait_max_s=max(waits, default=None),
        service_median_s=percentile(services, 50), service_p90_s=percentile(services, 90),
        service_max_s=max(services, default=None),
        within_target=within, within_target_share=_share(within, len(targeted)),
        ratings=(scores[1], scores[2], scores[3], scores[4]),
        satisfied_share=_share(sum(scores[s] for s in SATISFIED), rated),
        response_rate=_share(rated, served))


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# --- the report ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Report:
    """Figures per group, the totals over the period, the busiest hours, and display names."""
    period: Period
    by: Dimension
    rows: list[Figures]
    totals: Figures
    busiest_hours: list[tuple[int, int]]  # (hour, tickets issued)
    names: dict[str, str] = field(default_factory=dict)  # service code / counter id → name

    def name(self, key: str | int | None) -> str:
        """The readable name of a group key: "A · Đất đai", "Quầy 3", "09:00", "—"."""
        if key is None:
            return NONE_LABEL
        if self.by == "hour":
            return f"{int(key):02d}:00"
        if self.by == "service" and key in self.names:
            return f"{key} · {self.names[key]}"
        if self.by == "counter":
            return self.names.get(str(key), str(key))
        if self.by == "group" and key in self.names:
            return f"{key} · {self.names[key]}" if key != NO_GROUP else self.names[key]
        return str(key)


def totals_and_busiest_hours(facts: Sequence[TicketFacts]) -> tuple[Figures, list[tuple[int, int]]]:
    """The figures of all the facts, and the busiest hours of issue (see the module docstring)."""
    hours = Tally(f.hour for f in facts)
    return figures(None, facts), sorted(hours.items(), key=lambda item: (-item[1], item[0]))[:BUSIEST_HOURS]


def check_dimensions(by: Iterable[str]) -> None:
    """ReportError naming the first grouping that is not one of DIMENSIONS."""
    unknown = [b for b in by if b not in DIMENSIONS]
    if unknown:
        raise ReportError(f"cannot group by {unknown[0]!r}; choose one of {', '.join(DIMENSIONS)}")


def reports_from_facts(period: Period, facts: Sequence[TicketFacts], names: Mapping[str, Mapping[str, str]],
                       *by: Dimension) -> dict[Dimension, Report]:
    """The reports of `period` for several groupings of the same tickets; `names` maps a
    grouping ("service", "counter") to its display names (code or id → name)."""
    check_dimensions(by)
    totals, busiest = totals_and_busiest_hours(facts)
    result = {}
    for dimension in by:
        groups: dict[str | int | None, list[TicketFacts]] = {}
        for f in facts:
            groups.setdefault(f.key(dimension), []).append(f)
        rows = [figures(key, groups[key]) for key in sorted(groups, key=sort_key)]
        result[dimension] = Report(period, dimension, rows, totals, busiest, dict(names.get(dimension, {})))
    return result


def sort_key(key: str | int | None) -> tuple[int, Any, Any]:
    """None last; numbers and numeric ids ("2" before "10") in numeric order; "(keypad)" after logins."""
    if key is None:
        return (3, 0, "")
    if isinstance(key, int):
        return (0, key, "")
    if key.isdigit():
        return (0, int(key), key)
    return (2 if key.startswith("(") else 1, key.casefold(), key)


# --- reasons behind poor ratings -----------------------------------------------------------------

@dataclass(frozen=True)
class ReasonCounts:
    """How many ratings gave each reason, per group of `by` (the report's keys) and in total."""
    by: Dimension
    reasons: tuple[str, ...]  # every reason given in the period, the most given first (ties: by text)
    groups: dict[str | int | None, Tally[str]]  # group key → reason → ratings; groups without any left out
    totals: Tally[str]

    def count(self, key: str | int | None, reason: str) -> int:
        return self.groups.get(key, Tally())[reason]


def reasons_from_facts(facts: Iterable[TicketFacts], given: Mapping[int, str], by: Dimension) -> ReasonCounts:
    """The reasons `given` (ticket id → reason, served tickets only) counted per group of `by`,
    the groups being those of the tickets' facts in the report."""
    check_dimensions([by])
    groups: dict[str | int | None, Tally[str]] = {}
    for f in facts if given else ():
        if f.id in given:
            groups.setdefault(f.key(by), Tally())[given[f.id]] += 1
    return reasons_of_groups(by, groups)


def reasons_of_groups(by: str, groups: Mapping[str | int | None, Tally[str]]) -> ReasonCounts:
    """The `ReasonCounts` of reasons already counted per group (by `reasons_from_facts`, then put
    together over several centres: `by` may then be "centre"); groups without any are left out."""
    kept = {key: tally for key, tally in groups.items() if +tally}
    totals: Tally[str] = sum(kept.values(), Tally())
    return ReasonCounts(by, tuple(sorted(totals, key=lambda r: (-totals[r], r))), kept, totals)  # type: ignore[arg-type]


# --- flat tables (CSV, JSON, the terminal) --------------------------------------------------------

COLUMNS = ("name", "issued", "served", "no_show", "cancelled", "left_without_service", "open", "transferred",
           "wait_median_min", "wait_p90_min", "wait_max_min",
           "service_median_min", "service_p90_min", "service_max_min", "within_target_pct",
           "rated", "score_1", "score_2", "score_3", "score_4", "satisfied_pct", "response_rate_pct")
TOTAL = "total"


def flat(report: Report, figures_: Figures, key: str | int | None) -> dict[str, Any]:
    """One figures row as plain values: minutes to 0.1, shares in percent to 0.1, None if undefined."""
    f = figures_
    return {
        report.by: key, "name": report.name(key) if key != TOTAL else TOTAL,
        "issued": f.issued, "served": f.served, "no_show": f.no_show, "cancelled": f.cancelled,
        "left_without_service": f.left_without_service, "open": f.open, "transferred": f.transferred,
        "wait_median_min": _minutes(f.wait_median_s), "wait_p90_min": _minutes(f.wait_p90_s),
        "wait_max_min": _minutes(f.wait_max_s), "service_median_min": _minutes(f.service_median_s),
        "service_p90_min": _minutes(f.service_p90_s), "service_max_min": _minutes(f.service_max_s),
        "within_target_pct": _percent(f.within_target_share), "rated": f.rated,
        "score_1": f.ratings[0], "score_2": f.ratings[1], "score_3": f.ratings[2], "score_4": f.ratings[3],
        "satisfied_pct": _percent(f.satisfied_share), "response_rate_pct": _percent(f.response_rate),
    }


def table(report: Report) -> tuple[list[str], list[dict[str, Any]]]:
    """Column names and rows (the groups, then the totals row keyed "total") of a report."""
    rows = [flat(report, f, f.key) for f in report.rows]
    rows.append(flat(report, report.totals, TOTAL))
    return [report.by, *COLUMNS], rows


def as_json(report: Report) -> dict[str, Any]:
    """The report as a JSON-ready object."""
    columns, rows = table(report)
    return {"from": report.period.start.isoformat(), "to": report.period.end.isoformat(), "by": report.by,
            "columns": columns, "rows": rows[:-1], "total": rows[-1],
            "busiest_hours": [{"hour": h, "issued": n} for h, n in report.busiest_hours]}


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)


def _percent(share: float | None) -> float | None:
    return None if share is None else round(share * 100, 1)
