"""Benchmark: durable commands per second through the engine, against the bare SQLite floor.

Prints one JSON object on stdout (and writes it to --json-out FILE if given):
- `take` and `next` (the DESIGN.md §7 target, >= 2000 durable commands/s, `meets_target`):
  rounds of --depth tickets issued (services A…E in turn), then called by the six counters
  in turn until none waits, each `next` finishing the counter's previous ticket — a busy
  morning, never more than --depth people waiting; each command is its own transaction;
- `floor`: N single-row `INSERT` transactions on a plain sqlite3 connection with the engine's
  settings (WAL, synchronous=FULL, BEGIN IMMEDIATE): the most any engine could do on this disk;
- `short_queue`: N commands alternating take and `next`, a handful of tickets waiting;
- `deep_queue_take`: a stress point, not the target: N tickets issued with nobody called, so
  the queue grows to N (the rules scan the day's active tickets on each command: see
  `p50_ms_by_tenth` for the growth);
- per-command latency p50/p99 in ms, engine/floor ratios, and the machine.

Everything runs on real files in a temporary folder (--dir; on tmpfs fsync costs nothing, so
use a real disk). The example config is used with opening hours and daily limits removed and
number_end raised, so any N fits in one day; the clock is the real one.

    .venv/bin/python bench/engine.py [--commands 5000] [--depth 300] [--json-out FILE] [--dir DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from queuebox.config import WEEKDAYS, Config, load_config
from server import store
from server.engine import Engine

from benchlib import emit, filesystem_of, machine, percentile  # noqa: E402 (bench/ is on the path)

TARGET_COMMANDS_PER_S = 2000
EXAMPLE_CONFIG = Path(__file__).resolve().parents[1] / "config" / "queuebox.example.toml"
SERVICES = "ABCDE"


def bench_config(path: Path) -> Config:
    """The example config, open around the clock, no daily limit, numbers that never wrap here."""
    config = load_config(path)
    services = tuple(dataclasses.replace(s, hours=(), open_days=WEEKDAYS, daily_limit=0, number_end=9_999_999)
                     for s in config.services)
    return dataclasses.replace(config, services=services)



def summary(latencies: list[float]) -> dict[str, Any]:
    """Throughput from the summed latencies, and p50/p99/max in ms."""
    ordered = sorted(latencies)
    return {"commands": len(ordered), "per_s": round(len(ordered) / (sum(ordered) / 1000), 1),
            "p50_ms": round(percentile(ordered, 50), 3), "p99_ms": round(percentile(ordered, 99), 3),
            "max_ms": round(ordered[-1], 3)}


def timed(count: int, command: Callable[[int], Any]) -> dict[str, Any]:
    """Run command(0..count-1); throughput over the whole run and per-command latency in ms."""
    latencies = []
    start = time.perf_counter()
    for i in range(count):
        t0 = time.perf_counter()
        command(i)
        latencies.append((time.perf_counter() - t0) * 1000)
    elapsed = time.perf_counter() - start
    tenth = max(1, count // 10)
    by_tenth = [round(statistics.median(latencies[i:i + tenth]), 3) for i in range(0, tenth * 10, tenth)][:10]
    latencies.sort()
    return {
        "commands": count,
        "seconds": round(elapsed, 3),
        "per_s": round(count / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50), 3),
        "p99_ms": round(percentile(latencies, 99), 3),
        "max_ms": round(latencies[-1], 3),
        "mean_ms": round(statistics.fmean(latencies), 3),
        "p50_ms_by_tenth": by_tenth,  # median of each tenth of the run, in order: growth with queue length
    }


def bench_floor(path: Path, count: int) -> dict[str, Any]:
    """Bare single-row transactions with the engine's connection settings."""
    conn = sqlite3.connect(str(path), timeout=store.BUSY_TIMEOUT_S, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, at TEXT NOT NULL, data TEXT NOT NULL)")

    def one(i: int) -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t (at, data) VALUES (?, ?)", ["2026-11-23T09:00:00.000+07:00", '{"n": %d}' % i])
        conn.execute("COMMIT")

    try:
        return timed(count, one)
    finally:
        conn.close()


def bench_engine(path: Path, config: Config, count: int, depth: int) -> dict[str, Any]:
    """`take` and `next` at a busy morning's queue depth: rounds of `depth` tickets issued
    (timed as take), then called and finished by the six counters in turn (timed as next),
    so between 0 and `depth` tickets wait at any time."""
    engine = Engine(config, path)
    counters = [c.id for c in config.counters]
    take_ms: list[float] = []
    next_ms: list[float] = []
    called = 0
    issued = 0
    start = time.perf_counter()
    try:
        while issued < count:
            batch = min(depth, count - issued)
            for _ in range(batch):
                t0 = time.perf_counter()
                _ok(engine.take(f"take-{issued}", "kiosk1", SERVICES[issued % len(SERVICES)]))
                take_ms.append((time.perf_counter() - t0) * 1000)
                issued += 1
            i = 0
            while any(t.status == "waiting" for t in engine.snapshot().tickets.values()):
                t0 = time.perf_counter()
                result = _ok(engine.counter(f"next-{len(next_ms)}", counters[i % len(counters)], "next"))
                next_ms.append((time.perf_counter() - t0) * 1000)
                called += result.reply["ticket"] is not None
                i += 1
        elapsed = time.perf_counter() - start
    finally:
        engine.close()
    return {"take": summary(take_ms), "next": {**summary(next_ms), "called_a_ticket": called},
            "all": {**summary(take_ms + next_ms), "per_s": round((len(take_ms) + len(next_ms)) / elapsed, 1)},
            "queue_depth": depth}


def bench_deep_queue(path: Path, config: Config, count: int) -> dict[str, Any]:
    """Stress point, not the target: `count` tickets issued with nobody called, so the
    waiting queue grows to `count` (the rules scan the day's active tickets per command)."""
    engine = Engine(config, path)
    try:
        return timed(count, lambda i: _ok(engine.take(f"deep-{i}", "kiosk1", SERVICES[i % len(SERVICES)])))
    finally:
        engine.close()


def bench_short_queue(path: Path, config: Config, count: int) -> dict[str, Any]:
    """A realistic day's shape: take, then `next` at a counter serving that service (finishing
    its previous ticket), so at most a handful of tickets wait; `count` commands in all."""
    engine = Engine(config, path)
    pairs = [("A", "2"), ("B", "3"), ("C", "4"), ("D", "5"), ("E", "6")]
    try:
        def step(i: int) -> None:
            service, counter = pairs[i // 2 % len(pairs)]
            if i % 2 == 0:
                _ok(engine.take(f"take-{i}", "kiosk1", service))
            else:
                _ok(engine.counter(f"next-{i}", counter, "next"))
        result = timed(count, step)
        result["waiting_at_end"] = sum(1 for t in engine.snapshot().tickets.values() if t.status == "waiting")
        return result
    finally:
        engine.close()


def _ok(result: Any) -> Any:
    if not result.ok:
        raise SystemExit(f"benchmark command failed: {result.reply}")
    return result



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=5000, help="commands per measured phase (default 5000)")
    parser.add_argument("--depth", type=int, default=300,
                        help="most tickets waiting during the take/next phases (default 300: a busy morning)")
    parser.add_argument("--json-out", metavar="FILE", help="also write the JSON object to FILE")
    parser.add_argument("--dir", metavar="DIR", help="where to make the temporary folder (default: system temp)")
    parser.add_argument("--config", metavar="FILE", default=str(EXAMPLE_CONFIG), help="config to start from")
    args = parser.parse_args(argv)
    if args.commands < 6:
        parser.error("--commands must be 6 or more")

    config = bench_config(Path(args.config))
    with tempfile.TemporaryDirectory(prefix="queuebox-bench-", dir=args.dir) as tmp:
        folder = Path(tmp)
        floor = bench_floor(folder / "floor.db", args.commands)
        busy = bench_engine(folder / "queuebox.db", config, args.commands, args.depth)
        short = bench_short_queue(folder / "short.db", config, args.commands)
        deep = bench_deep_queue(folder / "deep.db", config, args.commands)
        fs = filesystem_of(folder.resolve())

    take, nxt = busy["take"], busy["next"]
    result = {
        "benchmark": "engine durable commands",
        "take": take,
        "next": nxt,
        "busy_all": busy["all"],
        "queue_depth": args.depth,
        "floor": floor,
        "short_queue": short,
        "deep_queue_take": deep,
        "ratio_engine_to_floor": {
            "take": round(take["per_s"] / floor["per_s"], 3),
            "next": round(nxt["per_s"] / floor["per_s"], 3),
            "short_queue": round(short["per_s"] / floor["per_s"], 3),
        },
        "target": f">= {TARGET_COMMANDS_PER_S} durable commands/s",
        "target_per_s": TARGET_COMMANDS_PER_S,
        "meets_target": min(take["per_s"], nxt["per_s"]) >= TARGET_COMMANDS_PER_S,
        "settings": {"journal_mode": "wal", "synchronous": "FULL", "begin": "IMMEDIATE",
                     "filesystem": fs, "services": SERVICES, "counters": len(config.counters)},
        "machine": machine(),
    }
    return emit(result, args.json_out)


if __name__ == "__main__":
    sys.exit(main())
