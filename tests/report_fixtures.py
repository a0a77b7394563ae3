"""A synthetic day (or days) at a centre, made by driving the real engine with a fake clock.

`simulate_days` runs a seeded discrete-event simulation: citizens take tickets through the
engine, six counters call, recall, start, finish, mark no-shows and transfer through the
engine (some clerks on the web console, some on keypads), and citizens rate some served
tickets on the counter's keypad, a few seconds after `done`. Alongside,
it keeps its own record of every ticket (`Made`) from what it did and when — that list,
not the database, is what the tests compute the expected report figures from.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

from queuebox.config import Config
from server.engine import Engine
from server.reports import NO_GROUP, Period, Report, open_readonly, report
from tests.factories import FakeClock, make_config

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
MONDAY = date(2026, 11, 23)
SERVICES = [  # code, name, target wait (min), service time range (s), share of arrivals
    ("A", "Đất đai", 20, (180, 540), 25),
    ("B", "Hộ tịch - Chứng thực", 15, (60, 300), 30),
    ("C", "Đăng ký kinh doanh", 15, (180, 480), 10),
    ("D", "Lao động - Thương binh - Xã hội", 15, (120, 360), 10),
    ("E", "Trả kết quả", 10, (30, 120), 25),
]
COUNTERS = {"1": {"A": 2, "E": 1}, "2": {"A": 1}, "3": {"B": 2, "E": 1},
            "4": {"B": 1, "C": 1}, "5": {"D": 2, "B": 1}, "6": {"E": 2, "C": 1, "D": 1}}
SCORE_WEIGHTS = {1: 45, 2: 30, 3: 15, 4: 10}


def clerk_origin(counter: str, local: datetime) -> str:
    """Who works a counter: web logins, a shift change at noon on counter 3, keypads on 4 and 6."""
    if counter == "3":
        return "web/hoa" if local.hour < 12 else "web/tuan"
    return {"1": "web/lan", "2": "web/minh", "5": "web/mai"}.get(counter, f"counter/{counter}")


def report_config(**sections: Any) -> Config:
    services = [{"code": c, "name_vi": n, "name_en": c, "target_wait_min": t} for c, n, t, _, _ in SERVICES]
    counters = [{"id": cid, "name": f"Quầy {cid}", "services": s} for cid, s in COUNTERS.items()]
    return make_config(services, counters, **sections)


@dataclass
class Made:
    """One ticket as the simulation made it; times are what the fake clock said."""
    label: str
    day: date
    service: str
    issued_at: datetime
    status: str = "waiting"
    first_call: datetime | None = None
    last_call: datetime | None = None
    started: datetime | None = None
    finished: datetime | None = None
    counter: str | None = None
    ended_by: str | None = None  # origin of the done / no_show command
    transferred: bool = False
    score: int | None = None
    reason: str | None = None
    group: str | None = None  # the report's `group` key: a group code, NO_GROUP, or None (not priority)

    @property
    def wait_s(self) -> float | None:
        return None if self.first_call is None else (self.first_call - self.issued_at).total_seconds()

    @property
    def service_s(self) -> float | None:
        if self.status != "done":
            return None
        return (self.finished - (self.started or self.last_call)).total_seconds()  # type: ignore[operator]


class Simulation:
    """Drives one engine through business days; `made` is the simulation's own record of tickets."""

    def __init__(self, engine: Engine, clock: FakeClock, seed: int) -> None:
        self.engine, self.clock = engine, clock
        self.rng = random.Random(seed)
        self.made: dict[tuple[date, str], Made] = {}
        self._ids = count()
        self._heap: list[tuple[datetime, int, Callable[[], None]]] = []
        self._close = datetime.min.replace(tzinfo=ZONE)

    def at(self, when: datetime, action: Callable[[], None]) -> None:
        heapq.heappush(self._heap, (when, next(self._ids), action))

    def run_day(self, day: date, tickets: int, *, opens: str = "07:30", closes: str = "17:00",
                last_ticket: str = "16:45", late: int = 3) -> None:
        """Issue `tickets` tickets between opening and `last_ticket` (a peak mid-morning), the last
        `late` of them just after closing; counters call until closing, then finish what they
        hold. Tickets left waiting stay waiting."""
        start, self._close, last = (datetime.combine(day, datetime.strptime(t, "%H:%M").time(), ZONE)
                                    for t in (opens, closes, last_ticket))
        for m in self.made.values():  # the new day's first command cancels the day before's leftovers
            if m.status in ("waiting", "called", "serving"):
                m.status = "cancelled"
        span = (last - start).total_seconds()
        codes = [s[0] for s in SERVICES]
        weights = [s[4] for s in SERVICES]
        for i in range(tickets):
            when = start + timedelta(seconds=round(self.rng.triangular(0, span, span * 0.2)))
            if i >= tickets - late:  # came as the counters close: still waiting at the end of the day
                when = self._close + timedelta(seconds=10 * (tickets - i))
            service = self.rng.choices(codes, weights)[0]
            self.at(when, lambda service=service, priority=self.rng.random() < 0.1: self.take(service, priority))
        for i, cid in enumerate(COUNTERS):
            self.at(start + timedelta(seconds=30 * i), lambda cid=cid: self.next(cid))
        while self._heap:
            when, _, action = heapq.heappop(self._heap)
            self.clock.now = when
            action()

    # --- what people do -----------------------------------------------------------------------

    def take(self, service: str, priority: bool) -> None:
        now = self.clock.now
        # every third priority ticket of each kind: the elderly, a disability, no group (the priority button)
        group = ("CT", "KT", None)[len(self.made) % 3] if priority else None
        reply = self.engine.take(self._id(), "k1", service, priority, group).reply
        assert reply["ok"], reply
        label = reply["ticket"]["label"]
        day = now.astimezone(ZONE).date()
        self.made[(day, label)] = Made(label, day, service, now, group=(group or NO_GROUP) if priority else None)

    def command(self, cid: str, action: str, **kw: Any) -> dict[str, Any]:
        origin = clerk_origin(cid, self.clock.now.astimezone(ZONE))
        reply = self.engine.counter(self._id(), cid, action, origin=origin, **kw).reply
        assert reply["ok"], (cid, action, reply)
        return reply

    def next(self, cid: str) -> None:
        now = self.clock.now
        if now >= self._close:
            return
        ticket = self.command(cid, "next")["ticket"]
        if ticket is None:
            self.at(now + timedelta(seconds=90), lambda: self.next(cid))
            return
        m = self.made[(now.astimezone(ZONE).date(), ticket["label"])]
        m.status, m.counter, m.last_call = "called", cid, now
        m.first_call = m.first_call or now
        fate = self.rng.random()
        if fate < 0.08:
            self.at(now + timedelta(seconds=60), lambda: self.recall(cid, m))
        elif fate < 0.14 and not m.transferred:
            self.at(now + timedelta(seconds=40), lambda: self.start(cid, m, transfer=True))
        elif fate < 0.24:  # the clerk never presses start: service time counts from the call
            self.at(now + timedelta(seconds=self._service_seconds(m)), lambda: self.done(cid, m))
        else:
            self.at(now + timedelta(seconds=self.rng.randint(20, 90)), lambda: self.start(cid, m))

    def recall(self, cid: str, m: Made) -> None:
        self.command(cid, "recall")
        m.last_call = self.clock.now
        self.at(self.clock.now + timedelta(seconds=self.rng.randint(60, 120)), lambda: self.no_show(cid, m))

    def no_show(self, cid: str, m: Made) -> None:
        self.command(cid, "no_show")
        m.status, m.finished, m.ended_by = "no_show", self.clock.now, self._origin(cid)
        self.at(self.clock.now + timedelta(seconds=5), lambda: self.next(cid))

    def start(self, cid: str, m: Made, transfer: bool = False) -> None:
        self.command(cid, "start")
        m.status, m.started = "serving", self.clock.now
        if transfer:
            self.at(self.clock.now + timedelta(seconds=120), lambda: self.transfer(cid, m))
        else:
            self.at(self.clock.now + timedelta(seconds=self._service_seconds(m)), lambda: self.done(cid, m))

    def transfer(self, cid: str, m: Made) -> None:
        to = self.rng.choice([s[0] for s in SERVICES if s[0] != m.service])
        self.command(cid, "transfer", to=to)
        m.status, m.counter, m.transferred, m.started, m.last_call = "waiting", None, True, None, None
        self.at(self.clock.now + timedelta(seconds=5), lambda: self.next(cid))

    def done(self, cid: str, m: Made) -> None:
        self.command(cid, "done")
        m.status, m.finished, m.ended_by = "done", self.clock.now, self._origin(cid)
        if self.rng.random() < 0.7:
            score = self.rng.choices(list(SCORE_WEIGHTS), list(SCORE_WEIGHTS.values()))[0]
            self.at(self.clock.now + timedelta(seconds=15), lambda: self.rating(cid, m, score))
        self.at(self.clock.now + timedelta(seconds=5), lambda: self.next(cid))

    def rating(self, cid: str, m: Made, score: int) -> None:
        # A reason for most ratings of 3 or 4, chosen from the label (not the random generator,
        # whose sequence the other figures' data depend on); every sixth gives none.
        texts = self.engine.config.queue.reason_texts()
        pick = int(m.label[1:]) % (len(texts) + 1) if score in (3, 4) and texts else len(texts)
        reason = texts[pick] if pick < len(texts) else None
        reply = self.engine.rate(self._id(), cid, score, reason=reason).reply
        assert reply["ok"] and reply["ticket"] == m.label, reply
        m.score, m.reason = score, reason

    def _service_seconds(self, m: Made) -> int:
        lo, hi = next(s[3] for s in SERVICES if s[0] == m.service)
        return self.rng.randint(lo, hi)

    def _origin(self, cid: str) -> str:
        return clerk_origin(cid, self.clock.now.astimezone(ZONE))

    def _id(self) -> str:
        return f"c{next(self._ids)}"


def simulate_days(db_path: Path, days: list[tuple[date, int]], seed: int = 7, **sections: Any) -> list[Made]:
    """Run the engine over `days` ((date, tickets) each) into `db_path`; the simulation's own records."""
    clock = FakeClock(datetime.combine(days[0][0], datetime.min.time(), ZONE))
    engine = Engine(report_config(**sections), db_path, clock=clock)
    try:
        sim = Simulation(engine, clock, seed)
        for day, tickets in days:
            sim.run_day(day, tickets)
        return list(sim.made.values())
    finally:
        engine.close()


class Centre:
    """The real engine on a fresh file, commands at given local times (a small case computed by hand)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.clock = FakeClock(self.local(MONDAY, "07:00"))
        self.engine = Engine(report_config(), path, clock=self.clock)
        self.n = 0

    @staticmethod
    def local(day: date, hhmmss: str) -> datetime:
        return datetime.combine(day, datetime.strptime(hhmmss, "%H:%M:%S" if hhmmss.count(":") == 2 else "%H:%M").time(),
                                ZONE)

    def _at(self, day: date, hhmm: str) -> None:
        self.clock.now = self.local(day, hhmm)
        self.n += 1

    def take(self, day: date, hhmm: str, service: str = "B") -> str:
        self._at(day, hhmm)
        reply = self.engine.take(f"t{self.n}", "k1", service).reply
        assert reply["ok"], reply
        return reply["ticket"]["label"]

    def rate(self, day: date, hhmm: str, score: int, cid: str = "3") -> dict:
        self._at(day, hhmm)
        reply = self.engine.rate(f"r{self.n}", cid, score).reply
        assert reply["ok"], reply
        return reply

    def counter(self, day: date, hhmm: str, action: str, cid: str = "3", origin: str | None = None) -> dict:
        self._at(day, hhmm)
        reply = self.engine.counter(f"c{self.n}", cid, action, origin=origin).reply
        assert reply["ok"], reply
        return reply

    def report(self, period: Period, by: str = "service") -> Report:
        self.engine.close()
        db = open_readonly(self.path)
        try:
            return report(db, period, by)  # type: ignore[arg-type]
        finally:
            db.close()
            self.engine = Engine(report_config(), self.path, clock=self.clock)
