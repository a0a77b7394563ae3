"""A province's busy day through real processes, for tests/hub/test_province_day.py.

Each `ProvinceCentre` is what a centre runs: its own Mosquitto (tests/mqtt_broker.Broker), a
`queuebox server` on its own SQLite file (tests/helpers/server_process.ServerProcess) and a
`queuebox uplink` to the hub broker, both on the centre's one config file; every centre's clock
is the shared offset file (queuebox/clock.py), so the day runs in simulated time. `hub_process`
is `queuebox hub` on the test's PostgreSQL. Processes are started as in production
(``python -m queuebox.cli <command> --config FILE``).

`Clerks` play a centre's citizens and clerks over its broker, as kiosks and keypads do: tickets
taken (some priority, of a group or not), called, recalled, started, served, marked no-show,
transferred, rated. Each step of the day is one round of commands whose replies are awaited,
then the ratings of the tickets just finished (within the rating window).
"""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from queuebox.clock import CLOCK_OFFSET_ENV
from queuebox.protocol import Topics
from server.demo import write_config
from server.reports import DIMENSIONS
from tests.chaos.site import PYTHON, ROOT, Proc
from tests.helpers.server_process import ServerProcess, Watcher
from tests.hub.site import hub_config
from tests.mqtt_broker import Broker
from tests.report_fixtures import SERVICES, ZONE

DAY = date(2026, 11, 24)  # a Tuesday; the next business day opens on the 25th, in the same month
STEP = timedelta(minutes=3)  # simulated time between two rounds of commands
OPENS = time(7, 30)
KIOSK = "k1"
REJOIN_STEPS = 5  # a no-show is called back within 15 minutes (queue.no_show_rejoin_min is 30)
KEYPADS = {"4", "6"}  # counters worked from a keypad, which has no start button
REPLY_TIMEOUT_S = 15.0
# Uplinks send small batches at a modest rate, so a backlog takes a moment to drain and a hub
# killed right after the broker returns is killed mid-backlog.
UPLINK = {"batch_size": 10, "max_events_per_s": 100, "ack_timeout_s": 2.0, "poll_s": 0.05}


def moment(step: int) -> datetime:
    """The centres' local time at `step` of the day."""
    return datetime.combine(DAY, OPENS, ZONE) + STEP * step


class ProvinceCentre:
    """One centre's broker, server and uplink (see the module docstring)."""

    def __init__(self, folder: Path, centre_id: str, hub_broker: Broker, hub_dsn: str, root: str,
                 clock_file: Path) -> None:
        self.id = centre_id
        self.folder = folder
        self.broker = Broker(folder / "broker")
        self.root = root
        self.clock_file = clock_file
        self.hub_broker, self.hub_dsn = hub_broker, hub_dsn
        self.db_path = folder / "queuebox.db"
        self.server: ServerProcess | None = None
        self.uplink: Proc | None = None
        self.watcher: Watcher | None = None
        self.topics = Topics(root, centre_id)

    def start(self) -> ProvinceCentre:
        self.broker.start()
        base = hub_config(self.hub_broker, self.hub_dsn, self.root, **UPLINK)
        self.config = replace(base, site=replace(base.site, id=self.id, name=self.id),
                              database=replace(base.database, path=str(self.db_path)),
                              mqtt=replace(base.mqtt, host=self.broker.host, port=self.broker.port, root=self.root))
        self.watcher = Watcher(self.broker.host, self.broker.port, f"{self.root}/{self.id}")
        self.server = ServerProcess(self.config, self.folder / "server", self.clock_file).start()
        # the uplink reads the same config file as the server, as on the centre's Pi
        self.uplink = Proc(f"uplink {self.id}", [PYTHON, "-m", "queuebox.cli", "uplink", "--config",
                                                 str(self.server.config_path)], self.folder / "uplink.log",
                           env={**self.server.env, CLOCK_OFFSET_ENV: str(self.clock_file)}).start()
        return self

    def stop(self) -> None:
        """Uplink, server, test client, broker; each only if it was started."""
        if self.uplink is not None:
            self.uplink.stop()
        if self.server is not None:
            self.server.stop()
        if self.watcher is not None:
            self.watcher.close()
        self.broker.stop()

    def head(self) -> int:
        """The centre's last committed seq (0 before its first event)."""
        return self._read("SELECT coalesce(max(seq), 0) FROM events")[0][0]

    def events(self) -> list[tuple[Any, ...]]:
        """The centre's `events` table, in seq order, with its data parsed."""
        rows = self._read("SELECT seq, at, type, ticket, counter, actor, data FROM events ORDER BY seq")
        return [(*row[:6], json.loads(row[6])) for row in rows]

    def _read(self, sql: str) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()

    def logs(self) -> str:
        """The tail of the server's and the uplink's logs, for a failure's message."""
        uplink = self.uplink.log_text()[-3000:] if self.uplink else ""
        return f"--- {self.id} server\n{self.server.log() if self.server else ''}\n--- {self.id} uplink\n{uplink}"


def hub_process(folder: Path, hub_broker: Broker, hub_dsn: str, root: str) -> Proc:
    """`queuebox hub` on `hub_dsn` and `hub_broker` (not started)."""
    path = write_config(hub_config(hub_broker, hub_dsn, root), folder / "hub.toml")
    return Proc("hub", [PYTHON, "-m", "queuebox.cli", "hub", "--config", str(path)], folder / "hub.log")


def cli_reports(db_path: Path, month: str) -> dict[str, dict[str, Any]]:
    """The centre's own `queuebox report --month MONTH --by DIMENSION --format json`, for every
    dimension, run as the manager runs it (the processes in parallel)."""
    runs = {by: subprocess.Popen([PYTHON, "-m", "queuebox.cli", "report", "--database", str(db_path), "--month",
                                  month, "--by", by, "--format", "json"], cwd=ROOT, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for by in DIMENSIONS}
    reports = {}
    for by, run in runs.items():
        out, err = run.communicate(timeout=60)
        assert run.returncode == 0, f"queuebox report --by {by} failed: {err}"
        reports[by] = json.loads(out)
    return reports


# --- the citizens and the clerks ---------------------------------------------------------------

@dataclass
class Desk:
    """A counter as its clerk sees it from the replies."""
    id: str
    state: str = "idle"  # idle, calling, serving
    queue: str = ""  # the service queue of the ticket held
    calls: int = 0  # of the ticket held
    absent: bool = False  # the called citizen is not coming: recall, then no-show
    finished: bool = False  # finished a ticket in this step: its citizen may rate it


Send = tuple[str, dict[str, Any], str]  # topic, payload, reply topic


class Clerks:
    """The citizens and clerks of one centre, seeded; `round` plays one step of the day."""

    def __init__(self, centre: ProvinceCentre, seed: int) -> None:
        self.centre = centre
        self.rng = random.Random(seed)
        self.desks = [Desk(c.id) for c in centre.config.counters]
        self.codes = [s[0] for s in SERVICES]
        self.weights = [s[4] for s in SERVICES]
        self.taken = 0
        self.came_back: list[tuple[str, int]] = []  # no-shows whose citizen came back: label, step
        self.step = 0

    def commands(self, step: int, arrivals: int) -> list[Send]:
        """The step's takes and one action per counter (nothing for a clerk still serving)."""
        t = self.centre.topics
        self.step = step
        sends: list[Send] = []
        for i in range(arrivals):
            take: dict[str, Any] = {"id": f"{self.centre.id}-s{step}-t{i}",
                                    "service": self.rng.choices(self.codes, self.weights)[0]}
            luck = self.rng.random()
            if luck < 0.08:
                take["group"] = self.rng.choice(["CT", "KT", "MT"])
            elif luck < 0.11:
                take["priority"] = True  # an older kiosk: priority of no group
            sends.append((t.kiosk_take(KIOSK), take, t.kiosk_reply(KIOSK)))
        for desk in self.desks:
            action = self._action(desk)
            if action is not None:
                command = {"id": f"{self.centre.id}-s{step}-c{desk.id}", **action}
                sends.append((t.counter_command(desk.id), command, t.counter_reply(desk.id)))
        return sends

    def _action(self, desk: Desk) -> dict[str, Any] | None:
        luck = self.rng.random()
        if desk.state == "idle":
            # a citizen marked no-show is back, well within the rejoin window: called by label
            self.came_back = [(label, step) for label, step in self.came_back if step >= self.step - REJOIN_STEPS]
            if self.came_back and luck < 0.3:
                return {"action": "call", "ticket": self.came_back.pop()[0]}
            return {"action": "next"}
        if desk.state == "calling":
            if desk.absent:
                return {"action": "recall" if desk.calls < 2 else "no_show"}
            if luck < 0.05:
                return self._transfer(desk)
            if desk.id in KEYPADS:  # a keypad has no start: served from the call, sometimes after a recall
                return {"action": "recall"} if luck < 0.15 else {"action": "done"} if luck < 0.6 else None
            return {"action": "start"}
        if luck < 0.03:
            return self._transfer(desk)
        return {"action": "done"} if luck < 0.55 else None

    def _transfer(self, desk: Desk) -> dict[str, Any]:
        return {"action": "transfer", "to": self.rng.choice([c for c in self.codes if c != desk.queue])}

    def ratings(self, step: int) -> list[Send]:
        """Seven in ten citizens served in this step rate the service on the counter's keypad."""
        t = self.centre.topics
        sends = []
        for desk in self.desks:
            if desk.finished and self.rng.random() < 0.7:
                score = self.rng.choices((1, 2, 3, 4), (45, 30, 15, 10))[0]
                sends.append((t.counter_rating(desk.id), {"id": f"{self.centre.id}-s{step}-r{desk.id}",
                                                          "score": score}, t.counter_reply(desk.id)))
            desk.finished = False
        return sends

    def heard(self, topic: str, sent: dict[str, Any], reply: dict[str, Any]) -> None:
        """Follow a reply: the counter's state, or a refusal the day was not meant to meet."""
        action = sent.get("action")
        if not reply["ok"]:
            raise AssertionError(f"{self.centre.id} refused {topic} {sent}: {reply}")
        if "service" in sent:
            self.taken += 1
        if action is None:
            return
        desk = next(d for d in self.desks if topic == self.centre.topics.counter_reply(d.id))
        ticket = reply["ticket"]
        if action == "next":
            desk.state = "calling" if ticket else "idle"
            desk.calls, desk.absent = 1, self.rng.random() < 0.1
            desk.queue = ticket["queue"] if ticket else ""
        elif action == "recall":
            desk.calls = ticket["call_count"]
        elif action == "start":
            desk.state = "serving"
        elif action == "call":
            desk.state, desk.calls, desk.absent, desk.queue = "calling", 1, False, ticket["queue"]
        else:  # done, no_show, transfer: the counter is free
            desk.finished = action == "done"
            desk.state = "idle"
            if action == "no_show" and self.rng.random() < 0.3:
                self.came_back.append((ticket["label"], self.step))


def exchange(players: list[Clerks], sends: list[list[Send]]) -> None:
    """Publish every command of every centre at once, then wait for each reply and follow it."""
    marks = []
    for clerks, batch in zip(players, sends):
        watcher = clerks.centre.watcher
        assert watcher is not None
        marks.append(len(watcher.seen))
        for topic, payload, _ in batch:
            watcher.publish(topic, payload)
    for clerks, batch, mark in zip(players, sends, marks):
        watcher = clerks.centre.watcher
        assert watcher is not None
        for topic, payload, reply_topic in batch:
            reply = watcher.wait_for(lambda t, b, r=reply_topic, i=payload["id"]: t == r and isinstance(b, dict) and b.get("id") == i,
                                     REPLY_TIMEOUT_S, start=mark)
            clerks.heard(reply_topic, payload, reply)


def play_step(players: list[Clerks], step: int, arrivals: list[int]) -> None:
    """One step of the day at every centre: takes and counter actions, then ratings."""
    exchange(players, [c.commands(step, n) for c, n in zip(players, arrivals)])
    exchange(players, [c.ratings(step) for c in players])
