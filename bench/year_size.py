"""Benchmark: how big the database (and the engine's log) grows in a year of a busy centre.

Drives the real `Engine` on a real SQLite file with a fake clock through working days of a
commune centre: --tickets tickets a day (default 600) arriving between 07:30 and 16:00,
services A…E of the example config in the shares below, 5 % priority, served by its six
counters: `next` (calls), 10 % recalled, 3 % no-shows after the configured calls, `start`,
3–8 minutes of service, `done`, and half the citizens rate (1–4). What is still waiting at
the end of the day is cancelled by the next day's rollover, as in a real centre.

Prints one JSON object (and writes it to --json-out FILE): commands, tickets, the database
file, its WAL and the bytes per ticket after each tenth of the run (to see it is linear),
the bytes of each table and index, the engine's INFO log bytes (what journald would keep of
the engine), the time taken, and the time of a `queuebox backup` of the result. Command ids are
pruned at the start of each day as the server does (--keep-commands: never, as before). With --days below 250 the year is
extrapolated linearly from the measured days, and `extrapolated` says so.

    .venv/bin/python bench/year_size.py [--days 250] [--tickets 600] [--seed 1] [--dir DIR] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import heapq
import logging
import random
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from queuebox.config import WEEKDAYS, Config, load_config
from server.backup import backup
from server.engine import COMMAND_RETENTION, Engine

from benchlib import emit, filesystem_of, machine  # noqa: E402 (bench/ is on the path)

EXAMPLE_CONFIG = Path(__file__).resolve().parents[1] / "config" / "queuebox.example.toml"
WORKING_DAYS_PER_YEAR = 250
SHARES = {"A": 0.25, "B": 0.35, "C": 0.10, "D": 0.10, "E": 0.20}
FIRST_DAY = date(2026, 1, 5)  # a Monday
LOCAL = timezone(timedelta(hours=7))  # Asia/Ho_Chi_Minh has no daylight saving time


def year_config(path: Path) -> Config:
    """The example config, every service open all day every day (the simulation decides who comes
    when), no daily limit, ratings accepted for a minute as configured."""
    config = load_config(path)
    services = tuple(dataclasses.replace(s, hours=(), open_days=WEEKDAYS, daily_limit=0) for s in config.services)
    return dataclasses.replace(config, services=services)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.combine(FIRST_DAY, datetime.min.time(), LOCAL)

    def __call__(self) -> datetime:
        return self.now.astimezone(timezone.utc)


class LogBytes(logging.Handler):
    """Counts the bytes journald would store for each message (text only, no timestamps)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.bytes = 0
        self.records = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.bytes += len(f"{record.levelname} {record.name}: {record.getMessage()}".encode("utf-8")) + 1
        self.records += 1


class Day:
    """One working day: arrivals and counters as a queue of timed events."""

    def __init__(self, engine: Engine, clock: Clock, config: Config, day: date, tickets: int, rng: random.Random,
                 ids: list[int]) -> None:
        self.engine, self.clock, self.rng, self.ids = engine, clock, rng, ids
        self.no_show_calls = config.queue.no_show_min_calls
        opening = datetime.combine(day, datetime.min.time(), LOCAL) + timedelta(hours=7, minutes=30)
        events: list[tuple[datetime, int, str, str]] = []
        for i in range(tickets):
            at = opening + timedelta(seconds=rng.uniform(0, 8.5 * 3600))
            events.append((at, i, "arrive", rng.choices(list(SHARES), list(SHARES.values()))[0]))
        self.events = events
        heapq.heapify(self.events)
        self.counters = {c.id: set(c.services) for c in config.counters}
        self.idle = set(self.counters)
        self.serial = tickets
        self.closing = opening + timedelta(hours=9, minutes=30)

    def command(self, kind: str, *args: Any) -> dict[str, Any]:
        self.ids[0] += 1
        cid = f"y{self.ids[0]}"
        if kind == "take":
            result = self.engine.take(cid, "kiosk1", *args)
        elif kind == "rate":
            result = self.engine.rate(cid, *args)
        else:
            result = self.engine.counter(cid, *args)
        self.ids[1] += 1
        return result.reply

    def later(self, at: datetime, what: str, counter: str) -> None:
        self.serial += 1
        heapq.heappush(self.events, (at, self.serial, what, counter))

    def call(self, counter: str) -> None:
        reply = self.command("counter", counter, "next")
        if not reply.get("ok") or reply.get("ticket") is None:
            self.idle.add(counter)
            return
        self.idle.discard(counter)
        now = self.clock.now
        if self.rng.random() < 0.03:  # nobody comes: recall until a no-show is allowed
            for i in range(1, self.no_show_calls):
                self.later(now + timedelta(seconds=45 * i), "recall", counter)
            self.later(now + timedelta(seconds=45 * self.no_show_calls), "no_show", counter)
            return
        if self.rng.random() < 0.10:
            self.later(now + timedelta(seconds=40), "recall", counter)
            self.later(now + timedelta(seconds=80), "start", counter)
        else:
            self.later(now + timedelta(seconds=self.rng.uniform(15, 60)), "start", counter)

    def run(self) -> None:
        while self.events:
            at, _, what, arg = heapq.heappop(self.events)
            self.clock.now = at
            if what == "arrive":
                self.command("take", arg, self.rng.random() < 0.05)
                for counter in sorted(self.idle):
                    if arg in self.counters[counter]:
                        self.call(counter)
                        break
            elif what == "recall":
                self.command("counter", arg, "recall")
            elif what == "start":
                self.command("counter", arg, "start")
                self.later(at + timedelta(seconds=self.rng.uniform(180, 480)), "done", arg)
            elif what == "done":
                self.command("counter", arg, "done")
                if self.rng.random() < 0.5:
                    self.later(at + timedelta(seconds=self.rng.uniform(3, 15)), "rate", arg)
                self.later(at + timedelta(seconds=20), "free", arg)
            elif what == "rate":
                self.command("rate", arg, self.rng.choices([1, 2, 3, 4], [50, 35, 10, 5])[0])
            elif what in ("free", "no_show"):
                if what == "no_show":
                    self.command("counter", arg, "no_show")
                if self.clock.now < self.closing:
                    self.call(arg)
                else:
                    self.idle.add(arg)


def sizes(db: Path) -> dict[str, int]:
    wal = db.with_name(db.name + "-wal")
    return {"db_bytes": db.stat().st_size, "wal_bytes": wal.stat().st_size if wal.exists() else 0}


def table_bytes(conn: Any) -> dict[str, int]:
    """Bytes of each table and index (SQLite's dbstat), largest first; {} where SQLite lacks dbstat."""
    try:
        rows = conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall()
    except Exception:
        return {}
    return {name: size for name, size in rows if size >= 64 * 1024}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=WORKING_DAYS_PER_YEAR,
                        help=f"working days to simulate (default {WORKING_DAYS_PER_YEAR}, a year); "
                             "fewer are extrapolated to a year")
    parser.add_argument("--tickets", type=int, default=600, help="tickets a day (default 600)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--json-out", metavar="FILE", help="also write the JSON object to FILE")
    parser.add_argument("--dir", metavar="DIR", help="where to make the temporary folder (default: system temp)")
    parser.add_argument("--config", metavar="FILE", default=str(EXAMPLE_CONFIG), help="config to start from")
    parser.add_argument("--keep-commands", action="store_true",
                        help="never prune old command ids (as before they were pruned after "
                             f"{COMMAND_RETENTION.days} days)")
    args = parser.parse_args(argv)
    if args.days < 1 or args.tickets < 1:
        parser.error("--days and --tickets must be 1 or more")

    config = year_config(Path(args.config))
    logs = LogBytes()
    logging.basicConfig(level=logging.INFO, handlers=[logs])
    rng = random.Random(args.seed)
    clock = Clock()
    ids = [0, 0]  # last command id, commands sent
    checkpoints = []
    with tempfile.TemporaryDirectory(prefix="queuebox-year-", dir=args.dir) as tmp:
        folder = Path(tmp)
        db = folder / "queuebox.db"
        engine = Engine(config, db, clock=clock)
        started = time.perf_counter()
        day = FIRST_DAY
        try:
            for n in range(1, args.days + 1):
                if not args.keep_commands:  # what the server does when a day opens
                    clock.now = datetime.combine(day, datetime.min.time(), LOCAL)
                    engine.prune_commands()
                Day(engine, clock, config, day, args.tickets, rng, ids).run()
                day += timedelta(days=3 if day.weekday() == 4 else 1)  # Friday -> Monday
                if n % max(1, args.days // 10) == 0 or n == args.days:
                    checkpoints.append({"days": n, "seconds": round(time.perf_counter() - started, 1),
                                        **sizes(db)})
            elapsed = time.perf_counter() - started
            live = sizes(db)
            conn = engine._db.conn  # counting rows of the engine's own file, after the run
            counts = {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                      for table in ("tickets", "events", "commands", "ratings")}
            statuses = dict(conn.execute("SELECT status, count(*) FROM tickets GROUP BY status").fetchall())
            by_table = table_bytes(conn)
        finally:
            engine.close()
        closed = sizes(db)  # the last connection checkpoints and removes the WAL
        copy = backup(db, folder / "backup.db")
        fs = filesystem_of(folder.resolve())

    tickets = counts["tickets"]
    scale = WORKING_DAYS_PER_YEAR / args.days
    per_ticket = closed["db_bytes"] / tickets
    result = {
        "benchmark": "database size of a year",
        "days": args.days,
        "tickets_per_day": args.tickets,
        "extrapolated": args.days != WORKING_DAYS_PER_YEAR,
        "commands": ids[1],
        "rows": counts,
        "ticket_statuses": statuses,
        "seconds": round(elapsed, 1),
        "commands_per_s": round(ids[1] / elapsed, 1),
        "db_bytes": closed["db_bytes"],
        "wal_bytes_while_running": live["wal_bytes"],
        "db_bytes_while_running": live["db_bytes"],
        "bytes_per_ticket": round(per_ticket, 1),
        "bytes_by_table": by_table,
        "engine_log_bytes": logs.bytes,
        "engine_log_records": logs.records,
        "year": {
            "working_days": WORKING_DAYS_PER_YEAR,
            "tickets": round(tickets * scale),
            "db_mb": round(closed["db_bytes"] * scale / 1e6, 1),
            "wal_mb_max": round(max(c["wal_bytes"] for c in checkpoints) / 1e6, 1),
            "engine_log_mb": round(logs.bytes * scale / 1e6, 2),
        },
        "growth": [{**c, "bytes_per_ticket": round(c["db_bytes"] / (c["days"] * args.tickets), 1)}
                   for c in checkpoints],
        "backup": {"seconds": round(copy.seconds, 3), "bytes": copy.size},
        "settings": {"journal_mode": "wal", "synchronous": "FULL", "filesystem": fs, "seed": args.seed,
                     "command_retention_days": None if args.keep_commands else COMMAND_RETENTION.days},
        "machine": machine(),
    }
    return emit(result, args.json_out)


if __name__ == "__main__":
    sys.exit(main())
