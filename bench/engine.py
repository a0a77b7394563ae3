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
- per-command latency p50/p99 in ms, engine/floor ratios, and the machine;
- with --with-uplink, `with_uplink`: the take/next workload on two fresh files, round by round in
  turn: `alone`, and with a real `queuebox uplink` process reading that database and sending its events to
  a real `queuebox hub` (a private PostgreSQL, a Mosquitto hub broker) that acknowledges them;
  the hub stack runs through both, standing in for the province's own server: on a CPU of its
  own (the last one) at the lowest priority (nice 19), its files in memory (/dev/shm), off the
  centre's disk. The uplink runs at its unit's priority (Nice=) on a CPU of its own, as on a Pi's four
  cores, so what is measured is what it does to the engine through the database (the WAL, its
  read transactions); with --uplink-shares-core it shares the engine's CPU (one, on a 2-core
  machine: its bursts of work then compete with the engine's commands head on). The change
  of p50/p99 in % against UPLINK_TARGET_PCT, and what the uplink did: events it was behind the
  engine at the end of a round, seconds it then took to catch up (untimed, before the next round
  alone), CPU seconds of the uplink and the hub.

Everything runs on real files in a temporary folder (--dir; on tmpfs fsync costs nothing, so
use a real disk). The example config is used with opening hours and daily limits removed and
number_end raised, so any N fits in one day; the clock is the real one.

    .venv/bin/python bench/engine.py [--commands 5000] [--depth 300] [--with-uplink [--uplink-shares-core]]
                                     [--json-out FILE] [--dir DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from queuebox.config import WEEKDAYS, Config, load_config, to_toml
from server import store
from server.engine import Engine

from benchlib import cpu_seconds, emit, filesystem_of, machine, percentile, unit_nice  # noqa: E402 (bench/ is on the path)
from province_stack import (CENTRE_CPUS, ELSEWHERE_CPUS, ELSEWHERE_DIR, ELSEWHERE_NICE, HubAcks,  # noqa: E402
                            end_process, move_elsewhere, run_queuebox)

TARGET_COMMANDS_PER_S = 2000
# The uplink may make a command at most this much slower (p50 and p99 of take and next): the
# centre must not feel it, and the runs in turn share the machine's moments, so drift cancels.
UPLINK_TARGET_PCT = 10.0
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


class BusyMorning:
    """`take` and `next` at a busy morning's queue depth on one database, a round at a time: each
    round issues `depth` tickets (timed as take), then the six counters call and finish them in
    turn (timed as next), so between 0 and `depth` tickets wait at any time."""

    def __init__(self, path: Path, config: Config, count: int, depth: int) -> None:
        self.engine, self.engine_path = Engine(config, path), path
        self.counters = [c.id for c in config.counters]
        self.count, self.depth = count, depth
        self.take_ms: list[float] = []
        self.next_ms: list[float] = []
        self.called = self.issued = 0
        self.elapsed = 0.0  # of the rounds only: another database's rounds may run between them

    def round(self) -> bool:
        """Run the next round; False once every ticket was issued and called."""
        if self.issued >= self.count:
            return False
        engine, start = self.engine, time.perf_counter()
        for _ in range(min(self.depth, self.count - self.issued)):
            t0 = time.perf_counter()
            _ok(engine.take(f"take-{self.issued}", "kiosk1", SERVICES[self.issued % len(SERVICES)]))
            self.take_ms.append((time.perf_counter() - t0) * 1000)
            self.issued += 1
        i = 0
        while any(t.status == "waiting" for t in engine.snapshot().tickets.values()):
            t0 = time.perf_counter()
            result = _ok(engine.counter(f"next-{len(self.next_ms)}", self.counters[i % len(self.counters)], "next"))
            self.next_ms.append((time.perf_counter() - t0) * 1000)
            self.called += result.reply["ticket"] is not None
            i += 1
        self.elapsed += time.perf_counter() - start
        return True

    def close(self) -> None:
        self.engine.close()

    def result(self) -> dict[str, Any]:
        commands = len(self.take_ms) + len(self.next_ms)
        return {"take": summary(self.take_ms), "next": {**summary(self.next_ms), "called_a_ticket": self.called},
                "all": {**summary(self.take_ms + self.next_ms), "per_s": round(commands / self.elapsed, 1)},
                "queue_depth": self.depth}


def bench_engine(path: Path, config: Config, count: int, depth: int) -> dict[str, Any]:
    """The busy morning (BusyMorning) on one database, alone."""
    morning = BusyMorning(path, config, count, depth)
    try:
        while morning.round():
            pass
    finally:
        morning.close()
    return morning.result()


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


def _head(path: Path) -> int:
    """The last event's seq in the database at `path`."""
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
    finally:
        db.close()


def _change(alone: dict[str, Any], uplinked: dict[str, Any]) -> dict[str, Any]:
    """Per-command latency with the uplink against without: % change and whether it is within the target."""
    found: dict[str, Any] = {}
    for key in ("p50_ms", "p99_ms"):
        before, after = alone[key], uplinked[key]
        found[f"{key.removesuffix('_ms')}_pct"] = round((after - before) / before * 100, 1)
        found[f"{key.removesuffix('_ms')}_within"] = after <= before * (1 + UPLINK_TARGET_PCT / 100)
    found["per_s_pct"] = round((uplinked["per_s"] - alone["per_s"]) / alone["per_s"] * 100, 1)
    return found


def bench_with_uplink(folder: Path, config: Config, count: int, depth: int, shares_core: bool = False) -> dict[str, Any]:
    """The take/next workload on two databases in turn: `alone`, and one a real uplink reads and sends
    to a real hub (PostgreSQL and a hub broker, running through both)."""
    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root))  # the tests' Mosquitto and PostgreSQL helpers
    import psycopg

    from hub.pgcluster import Cluster, find_pg_bin
    from hub.schema import migrate
    from queuebox.hub_protocol import HubTopics
    from server.uplink import FIRST_ACK_WAIT_S
    from tests.mqtt_broker import Broker

    bin_dir = find_pg_bin()
    if bin_dir is None:
        raise SystemExit("--with-uplink needs PostgreSQL (apt install postgresql)")
    # Its own folder, as tests/postgres.py makes it: the cluster's user must be able to enter it.
    pg_dir = Path(tempfile.mkdtemp(prefix="queuebox-bench-pg-", dir=ELSEWHERE_DIR))
    cluster = Cluster(pg_dir, bin_dir).init().start()
    province_dir = Path(tempfile.mkdtemp(prefix="queuebox-bench-province-", dir=ELSEWHERE_DIR))
    broker = Broker(province_dir / "broker").start()
    hub = uplink = acks = None
    mornings: tuple[BusyMorning, ...] = ()
    all_cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, CENTRE_CPUS)  # this process runs the engine; the uplink inherits it
    try:
        move_elsewhere(int((cluster.data / "postmaster.pid").read_text().split()[0]))
        move_elsewhere(broker.pid)
        dsn = cluster.dsn(cluster.create_database())
        with psycopg.connect(dsn) as conn:
            migrate(conn)
        path = folder / "uplinked.db"
        province = dataclasses.replace(
            config, database=dataclasses.replace(config.database, path=str(path)),
            mqtt=dataclasses.replace(config.mqtt, username=""),  # no centre broker: the uplink reads no device status
            uplink=dataclasses.replace(config.uplink, host=broker.host, port=broker.port, tls=False, root="bench",
                                       username="", password=""),
            hub=dataclasses.replace(config.hub, host=broker.host, port=broker.port, tls=False, root="bench",
                                    database=dsn, username="", password="", client_id="bench-hub"))
        config_path = folder / "province.toml"
        config_path.write_text(to_toml(province), encoding="utf-8")
        topics = HubTopics("bench", config.site.id)
        acks = HubAcks(broker.host, broker.port, topics.ack, topics.setup)
        hub = run_queuebox("hub", config_path, province_dir / "hub.log")
        move_elsewhere(hub.pid)

        alone = BusyMorning(folder / "alone.db", config, count, depth)
        uplinked = BusyMorning(path, config, count, depth)  # the schema and the services, for the uplink to read
        mornings = (alone, uplinked)
        uplink = run_queuebox("uplink", config_path, folder / "uplink.log", nice=unit_nice("queuebox-uplink.service"))
        uplink_cpus = CENTRE_CPUS if shares_core else ELSEWHERE_CPUS
        os.sched_setaffinity(uplink.pid, uplink_cpus)
        if not acks.setup_seen.wait(30):
            raise SystemExit("the uplink never reached the hub broker:\n" + (folder / "uplink.log").read_text())
        time.sleep(FIRST_ACK_WAIT_S + 0.5)  # past the wait for a first ack: from now on it sends as events come
        cpu_before = cpu_seconds(uplink.pid), cpu_seconds(hub.pid)
        behind: list[int] = []
        drain_s: list[float] = []
        drained = True
        # In turn, so both see the same moments of a shared machine; after each round with the uplink,
        # untimed, it catches up, so that it is idle (polling) while the next round alone runs.
        while alone.round() | uplinked.round():
            head, ended = _head(path), time.perf_counter()
            behind.append(head - acks.acked)
            drained = acks.wait_acked(head, 120) and drained
            drain_s.append(time.perf_counter() - ended)
        cpu_after = cpu_seconds(uplink.pid), cpu_seconds(hub.pid)
        wal_mb = [round(Path(f"{m.engine_path}-wal").stat().st_size / 2**20, 1) for m in mornings]
    finally:
        for morning in mornings:
            morning.close()
        if acks is not None:
            acks.close()
        end_process(uplink)
        end_process(hub)
        broker.stop()
        cluster.stop("immediate")
        shutil.rmtree(pg_dir, ignore_errors=True)
        shutil.rmtree(province_dir, ignore_errors=True)
        os.sched_setaffinity(0, all_cpus)

    results = alone.result(), uplinked.result()
    change = {name: _change(results[0][name], results[1][name]) for name in ("take", "next")}
    return {
        "alone": {"take": results[0]["take"], "next": results[0]["next"], "wal_mb_at_end": wal_mb[0]},
        "uplink": {"take": results[1]["take"], "next": results[1]["next"], "wal_mb_at_end": wal_mb[1]},
        "rounds": "alone and with the uplink in turn, a round of queue_depth tickets each",
        "change": change,
        "target": f"p50 and p99 of take and next with the uplink at most {UPLINK_TARGET_PCT:g} % above without",
        "meets_target": all(c["p50_within"] and c["p99_within"] for c in change.values()),
        "uplink_did": {"events": _head(path), "rounds": len(behind), "drained": drained,
                       "behind_at_round_end_max": max(behind),
                       "behind_at_round_end_mean": round(statistics.fmean(behind), 1),
                       "drain_s_max": round(max(drain_s), 2),
                       "uplink_cpu_s": round(cpu_after[0] - cpu_before[0], 2),
                       "hub_cpu_s": round(cpu_after[1] - cpu_before[1], 2),
                       "poll_s": province.uplink.poll_s, "batch_size": province.uplink.batch_size,
                       "hub_stack": {"nice": ELSEWHERE_NICE, "cpus": sorted(ELSEWHERE_CPUS),
                                     "files_in": ELSEWHERE_DIR or tempfile.gettempdir()},
                       "engine_cpus": sorted(CENTRE_CPUS), "uplink_cpus": sorted(uplink_cpus),
                       "uplink_nice": unit_nice("queuebox-uplink.service")},
    }


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
    parser.add_argument("--with-uplink", action="store_true",
                        help="also run take/next alone and with a real uplink sending to a real hub "
                             "(needs PostgreSQL and Mosquitto)")
    parser.add_argument("--uplink-shares-core", action="store_true",
                        help="with --with-uplink: the uplink on the engine's CPU rather than one of its own")
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
        uplink = (bench_with_uplink(folder, config, args.commands, args.depth, args.uplink_shares_core)
                  if args.with_uplink else None)
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
    if uplink is not None:
        result["with_uplink"] = uplink
    return emit(result, args.json_out)


if __name__ == "__main__":
    sys.exit(main())
