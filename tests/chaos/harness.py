"""A simulated busy day against the real processes while a chaos loop kills them.

`run_day(folder, plan)` starts the site (site.py: Mosquitto, `queuebox server`, the simulated
kiosks, two displays, the rating keypad, each started as in production), then for
`plan.seconds`: citizens press kiosk buttons, counter clerks call and serve (actors.py), and
the chaos loop kills one process at a time with SIGKILL at a random moment, restarts it at
once (as systemd's Restart=always would) and measures its recovery:

- server: killed anywhere; recovered when it answers a command;
- broker: killed anywhere; recovered when it accepts connections again and the server,
  reconnected, answers a command;
- kiosk: killed between the server's reply and the ticket coming out of its printer (the
  simulated printer takes `plan.print_delay_s`; the kill lands inside that); recovered when a
  press prints a ticket;
- display: killed anywhere; recovered when it draws a board at least as new as the database
  was when it restarted, confirmed by the server (sent live, not a retained copy), which must
  take at most DISPLAY_TARGET_S.

Then everything is checked (checks.py) and a summary is returned: tickets, calls, ratings,
kills and recovery times per process, and the violations, which must be none. Every random
choice comes from `plan.seed` (the timing of real processes still varies from run to run).
"""

from __future__ import annotations

import math
import random
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from tests.chaos import checks
from tests.chaos.actors import GIVE_UP_S, CounterDriver, KeypadDriver, Observer, Presser
from tests.chaos.site import KEYPAD, Plan, Site, wait_until

KINDS = ("server", "broker", "kiosk", "display")
DISPLAY_TARGET_S = 2.0
RECOVERY_TIMEOUT_S = 30.0


@dataclass
class Kill:
    """One kill and its recovery; times are time.monotonic(), `wall` is time.time() of the kill."""
    kind: str
    target: str
    killed_at: float
    wall: float
    restarted_at: float = 0.0
    recovered_at: float | None = None
    label: str | None = None  # kiosk: the ticket replied but (meant to be) not yet printed
    displays_s: float | None = None  # server, broker: from recovery until every display drew the head of then

    @property
    def recovery_s(self) -> float | None:
        return None if self.recovered_at is None else self.recovered_at - self.restarted_at


def head_seq(db_path: Path) -> int:
    """The seq of the last committed event."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
    finally:
        conn.close()


class Chaos:
    """Kills one process at a time, each kind in turn in a shuffled order, a random quiet time
    apart, until a deadline; a recovery under way is always finished. It runs on the thread
    that started the site: a child started with PR_SET_PDEATHSIG (as the demo starts them)
    gets its signal when the *thread* that started it ends."""

    def __init__(self, site: Site, observer: Observer, presser: Presser, rng: random.Random,
                 log: Callable[[str], None]) -> None:
        self.site = site
        self.observer = observer
        self.presser = presser
        self.rng = rng
        self.log = log
        self.kills: list[Kill] = []

    def run(self, until: float) -> None:
        """Kill and restart until time.monotonic() reaches `until`."""
        order: list[str] = []
        while True:
            quiet = self.rng.uniform(*self.site.plan.kill_gap_s)
            if time.monotonic() + quiet >= until:
                break
            time.sleep(quiet)  # the chaos loop's own pace
            if not order:
                order = self.rng.sample(KINDS, len(KINDS))
            kind = order.pop()
            kill = getattr(self, f"_{kind}")()
            self.kills.append(kill)
            self.log(f"killed {kill.target}: recovered in "
                     f"{'-' if kill.recovery_s is None else f'{kill.recovery_s:.2f} s'}")
        time.sleep(max(0.0, until - time.monotonic()))

    def _kill(self, kind: str, proc: Any) -> Kill:
        kill = Kill(kind, proc.name, time.monotonic(), time.time())
        proc.kill()
        return kill

    def _server(self) -> Kill:
        kill = self._kill("server", self.site.server)
        kill.restarted_at = self.site.server.start().started_at
        kill.recovered_at = self.observer.probe(RECOVERY_TIMEOUT_S)
        self._displays_after(kill)
        return kill

    def _broker(self) -> Kill:
        kill = self._kill("broker", self.site.broker)
        self.site.start_broker()
        kill.restarted_at = self.site.broker.started_at
        kill.recovered_at = self.observer.probe(RECOVERY_TIMEOUT_S)
        self._displays_after(kill)
        return kill

    def _displays_after(self, kill: Kill) -> None:
        """How long after the server answered again every display drew the board of that moment."""
        if kill.recovered_at is None:
            return
        head = head_seq(self.site.db_path)

        def drawn() -> float | None:
            times = [next((f["mono"] for f in checks.read_drawn(self.site.drawn_log(d))
                           if f["seq"] >= head and f.get("confirmed", True)), None) for d in self.site.displays]
            return None if None in times else max(times)  # type: ignore[type-var]
        at = wait_until(drawn, RECOVERY_TIMEOUT_S)
        kill.displays_s = max(0.0, at - kill.recovered_at) if isinstance(at, float) else None

    def _kiosk(self) -> Kill:
        kiosk = self.rng.choice(sorted(self.site.kiosks))
        proc = self.site.kiosks[kiosk]
        self.presser.down.add(kiosk)
        codes = [s.code for s in self.site.config.services]
        reply = None
        deadline = time.monotonic() + RECOVERY_TIMEOUT_S
        while reply is None and time.monotonic() < deadline:
            pressed_at = time.monotonic()
            self.observer.press(kiosk, self.rng.choice(codes).lower())
            reply = wait_until(lambda: next((s for s in self.observer.since(pressed_at, "kiosk_reply", kiosk)
                                             if s.payload.get("ok")), None), 3.0)
        # inside the printer's time: the reply is in, the ticket not yet out
        time.sleep(self.rng.uniform(0.0, self.site.plan.print_delay_s / 2))
        kill = self._kill("kiosk", proc)
        kill.label = reply.payload["ticket"]["label"] if reply is not None else None
        kill.restarted_at = proc.start().started_at
        online = wait_until(lambda: any(s.payload == "online" and not s.retain for s in
                                        self.observer.since(kill.restarted_at, "status", f"kiosk-{kiosk}")),
                            RECOVERY_TIMEOUT_S)
        folder = self.site.tickets(kiosk)
        before = set(folder.glob("*.bin"))
        while online and kill.recovered_at is None and time.monotonic() < kill.restarted_at + RECOVERY_TIMEOUT_S:
            self.observer.press(kiosk, self.rng.choice(codes).lower())
            if wait_until(lambda: set(folder.glob("*.bin")) - before, 3.0):
                kill.recovered_at = time.monotonic()
        self.presser.down.discard(kiosk)
        return kill

    def _display(self) -> Kill:
        display = self.rng.choice(sorted(self.site.displays))
        proc = self.site.displays[display]
        kill = self._kill("display", proc)
        head = head_seq(self.site.db_path)
        kill.restarted_at = proc.start().started_at
        path = self.site.drawn_log(display)

        def shown() -> float | None:
            return next((f["mono"] for f in checks.read_drawn(path)
                         if f["mono"] >= kill.restarted_at and f["seq"] >= head and f.get("confirmed", True)), None)
        kill.recovered_at = wait_until(shown, RECOVERY_TIMEOUT_S) or None
        return kill


def percentiles(values: list[float]) -> dict[str, float] | None:
    """p50, p99 and max of `values` (nearest rank), in seconds to the ms; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    return {"p50": round(ordered[max(0, math.ceil(0.50 * len(ordered)) - 1)], 3),
            "p99": round(ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)], 3),
            "max": round(ordered[-1], 3)}


def run_day(folder: Path, plan: Plan, log: Callable[[str], None] = lambda text: print(text, file=sys.stderr)
            ) -> dict[str, Any]:
    """Run one chaos day in `folder` (see the module docstring); the summary."""
    log(f"chaos day: seed {plan.seed}, {plan.seconds:g} s, "
        f"{plan.kiosks} kiosks, {plan.counters} counters, {plan.displays} displays, in {folder}")
    site = Site(folder, plan)
    stop = threading.Event()
    observer = Observer(site)
    violations: list[str] = []
    try:
        site.start()
        observer.start()
        ready = wait_until(lambda: observer.bus.connected.is_set() and all(
            any(s.payload == "online" for s in observer.since(0, "status", f"kiosk-{k}")) for k in site.kiosks)
            and all(checks.read_drawn(site.drawn_log(d)) for d in site.displays), 30)
        if not ready:
            raise AssertionError(f"the site did not come up; see the logs in {folder}")
        drivers = [CounterDriver(site, c.id, random.Random(f"{plan.seed}-counter-{c.id}"), stop)
                   for c in site.config.counters if c.id != KEYPAD.counter]
        keypad = KeypadDriver(site, observer, random.Random(f"{plan.seed}-keypad"), stop)
        presser = Presser(observer, site.config, plan.press_every_s, random.Random(f"{plan.seed}-presser"), stop)
        chaos = Chaos(site, observer, presser, random.Random(f"{plan.seed}-chaos"), log)
        for actor in (*drivers, keypad, presser):
            actor.start()
        started = time.monotonic()
        chaos.run(until=started + plan.seconds)
        stop.set()
        for actor in (presser, keypad, *drivers):
            actor.join(GIVE_UP_S + RECOVERY_TIMEOUT_S)
        log(f"day over after {time.monotonic() - started:.1f} s; checking")
        violations += [f"{name} exited by itself" for name in site.dead()]
        # quiet: the head stays put, the retained board and every display caught up with it
        settled = wait_until(_settled(site, observer), 15)
        if not settled:
            violations.append("the board and the displays did not settle on the database head within 15 s")
        final_board = observer.last_board()
        drawn = {d: checks.read_drawn(site.drawn_log(d)) for d in site.displays}
        statuses = site.stop()
        violations += [f"{name} exited with status {code} on SIGTERM" for name, code in statuses.items()
                       if code not in (0, None)]
        db = checks.read_db(site.db_path)  # after the server stopped: everything it committed
        return summarize(site, db, drivers, keypad, presser, chaos, drawn, final_board and final_board.payload,
                         violations)
    finally:
        stop.set()
        observer.stop()
        site.stop()


def _settled(site: Site, observer: Observer, quiet_s: float = 2.0) -> Callable[[], bool]:
    """A condition: nothing committed for `quiet_s` (a press in flight has printed), and the
    retained board and every display's last frame are at the database's head."""
    last = {"head": -1, "since": time.monotonic()}

    def settled() -> bool:
        head = head_seq(site.db_path)
        if head != last["head"]:
            last.update(head=head, since=time.monotonic())
        board = observer.last_board()
        if time.monotonic() - last["since"] < quiet_s or board is None or board.payload.get("seq") != head:
            return False
        return all((frames := checks.read_drawn(site.drawn_log(d))) and frames[-1]["seq"] == head
                   and frames[-1].get("confirmed", True) for d in site.displays)
    return settled


def summarize(site: Site, db: dict[str, Any], drivers: list[CounterDriver], keypad: KeypadDriver, presser: Presser,
              chaos: Chaos, drawn: dict[str, list[dict[str, Any]]], final_board: dict[str, Any] | None,
              violations: list[str]) -> dict[str, Any]:
    """Run the checks; the summary with every figure and violation."""
    figures: dict[str, Any] = {}
    kiosk_kills = [checks.KioskKill(k.target.split()[-1], k.wall, k.label) for k in chaos.kills if k.kind == "kiosk"]
    printed = checks.read_printed({k: site.tickets(k) for k in site.kiosks})
    answered = [(c.action, c.counter, c.reply) for d in drivers for c in d.commands if c.reply is not None]
    answered += [(_keypad_action(s.payload), KEYPAD.counter, s.payload)
                 for s in chaos.observer.since(0, "counter_reply", KEYPAD.counter)]
    violations = list(violations)
    violations += checks.check_numbers(db, figures)
    violations += checks.check_printed(db, printed, kiosk_kills, {k: p.log_text() for k, p in site.kiosks.items()},
                                       site.config.kiosk.reply_timeout_s, figures)
    violations += checks.check_states(db, figures)
    violations += checks.check_calls(db, [a for a in answered if a[0]], {d.counter.id for d in drivers}, figures)
    violations += checks.check_drawn(db, drawn, final_board, figures)
    violations += checks.check_ratings(db, KEYPAD.counter, figures)
    # the observer's own session goes with a killed broker: what was committed then is not counted
    outages = [(k.wall - 0.5, k.wall + ((k.recovered_at or k.killed_at + RECOVERY_TIMEOUT_S) - k.killed_at) + 1.0)
               for k in chaos.kills if k.kind == "broker"]
    checks.count_unpublished(db, {s.payload["seq"] for s in chaos.observer.since(0, "events")
                                  if isinstance(s.payload, dict)}, outages, figures)
    for d in drivers:
        violations += [f"counter {c.counter}: {c.action} {c.id} unanswered after {c.sends} sends" for c in d.unanswered]
    for k in chaos.kills:
        if k.recovered_at is None:
            violations.append(f"{k.target} did not recover within {RECOVERY_TIMEOUT_S:g} s")
        elif k.kind == "display" and k.recovery_s is not None and k.recovery_s > DISPLAY_TARGET_S:
            violations.append(f"{k.target} drew the current board {k.recovery_s:.2f} s after it restarted "
                              f"(target {DISPLAY_TARGET_S:g} s)")
    printed_labels = {(p.kiosk, p.label) for p in printed}
    commands = [c for d in drivers for c in d.commands]
    return {
        "seed": site.plan.seed, "seconds": site.plan.seconds, "kiosks": site.plan.kiosks,
        "counters": site.plan.counters, "displays": site.plan.displays,
        **figures,
        "presses": sum(presser.presses.values()),
        "counter_commands": len(commands), "resent_commands": sum(1 for c in commands if c.sends > 1),
        "keypad_presses": len(keypad.presses),
        "kills": {kind: sum(1 for k in chaos.kills if k.kind == kind) for kind in KINDS},
        "kiosk_kills_between_reply_and_print": sum(1 for k in chaos.kills if k.kind == "kiosk" and k.label
                                                   and (k.target.split()[-1], k.label) not in printed_labels),
        "recovery_s": {kind: percentiles([k.recovery_s for k in chaos.kills if k.kind == kind
                                          and k.recovery_s is not None]) for kind in KINDS},
        "display_target_s": DISPLAY_TARGET_S,
        "displays_after_server_or_broker_s": percentiles([k.displays_s for k in chaos.kills
                                                          if k.displays_s is not None]),
        "violations": violations,
    }


def _keypad_action(reply: Any) -> str:
    """What a reply to the keypad answered, told by its shape: a rating names a score; a call
    (next) a ticket called; the rest (done, refusals) are not compared with events."""
    if not isinstance(reply, dict) or not reply.get("ok"):
        return ""
    if "score" in reply:
        return ""
    ticket = reply.get("ticket")
    return "next" if isinstance(ticket, dict) and ticket.get("status") == "called" else ""
