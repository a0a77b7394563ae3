"""Benchmark: command round trips through a real Mosquitto and the real server process, against the bare broker floor.

Prints one JSON object on stdout (and writes it to --json-out FILE if given):
- `take`: a paho v5 client (QoS 1) publishes `kiosk/k1/take` with a fresh id and waits for the
  matching `kiosk/k1/reply`; sequential, services A…E in turn. DESIGN.md §7 "button press →
  complete ticket bytes at the printer p99 <= 25 ms" includes printing: take → reply is a part
  of it, so meeting 25 ms here is necessary, not sufficient;
- `next_to_board`: publish `counter/<c>/command` {"action": "next"} (counters 1…6 in turn, a
  counter skipped while none of its services has a ticket waiting, so every `next` calls one)
  and wait for the first `board` message whose calls[0] is the ticket named in the counter's
  reply. DESIGN.md §7 "counter next → board frame drawn p99 <= 50 ms": here the board is
  received, not drawn. `next_reply` is the same command's counter reply;
- `floor`: the same client, a bare QoS 1 publish → receive round trip on a test topic through
  the same broker: the least any MQTT command could cost (one broker hop each way, where a
  command takes two: client → broker → server → broker → client);
- engine/floor ratios, the server process's resident memory after the run against the 60 MB
  target, and the machine.

The tickets `next` calls are the ones `take` issued: rounds of --depth takes, then nexts until
none waits (a busy morning: never more than --depth people waiting; the engine's rules scan
the day's active tickets, so an ever-growing queue would measure that instead).

The broker is a private `mosquitto` (anonymous, 127.0.0.1, a free port, the production queue
settings) and the server is `python -m queuebox.cli server` as a separate process, on a
config made from config/queuebox.example.toml: MQTT pointed at that broker, every service
open around the clock with no daily limit and numbers that do not wrap here. Both logs stay
in the temporary folder (--dir; on tmpfs fsync costs nothing, so use a real disk) and their
tails are shown if something fails. The clock is the real one. The broker, the processes, the
measuring client and the floor are bench/mqtt_rig.py, which the other MQTT benchmarks share.

TCP_NODELAY: neither paho nor Mosquitto (`set_tcp_nodelay`, default false) turns Nagle's
algorithm off by default; where it meets a delayed ACK a round trip stalls ~40 ms. queuebox
turns it off everywhere (queuebox.bus, the broker conf), and so does this bench by default;
--no-nodelay and --no-broker-nodelay show the stall. `at_least_40ms` counts such round trips
and `warnings` says when they are more than 1 %.

The run stays within --budget seconds (default 80, start-up and shut-down included): if the
commands are too slow for --count, fewer are measured, `complete` is false and `warnings`
says how many.

    .venv/bin/python bench/mqtt_latency.py [--count 1000] [--depth 300] [--budget 80] [--json-out FILE]
                                           [--dir DIR] [--no-nodelay] [--no-broker-nodelay]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt

from queuebox.config import load_config
from queuebox.errors import ConfigError
from queuebox.protocol import Topics
from server.main import server_client_id

from benchlib import filesystem_of, machine  # noqa: E402 (bench/ is on the path)
from mqtt_rig import (EXAMPLE_CONFIG, MQTT_ROOT, ROOT, STALL_MS, STOP_TIMEOUT_S, WAIT_S, BenchError, Probe,  # noqa: E402
                      Process, bench_config_text, bench_floor, drain, free_port, json_or_none, mosquitto_version,
                      rss_mb, run_with_broker, start_broker, summary, wait_online)

TARGET_TAKE_P99_MS = 25
TARGET_NEXT_TO_BOARD_P99_MS = 50
TARGET_SERVER_RSS_MB = 60
SERVICES = "ABCDE"
KIOSK = "k1"
BUDGET_S = 80.0  # default --budget: the whole run, start-up and shut-down included, stays under 90 s


# --- the measurements -----------------------------------------------------------------------------

class Commands:
    """Sends takes and nexts, timing each; tracks the waiting tickets per service itself."""

    def __init__(self, probe: Probe, topics: Topics, counters: dict[str, tuple[str, ...]], deadline: float) -> None:
        self.probe = probe
        self.topics = topics
        self.counters = counters
        self.deadline = deadline
        self.waiting = dict.fromkeys(SERVICES, 0)
        self.take_ms: list[float] = []
        self.take_seconds = 0.0
        self.next_ms: list[float] = []
        self.board_ms: list[float] = []
        self.next_seconds = 0.0
        self.issued = 0
        self.stopped_early = False
        self._turn = 0
        self._run = uuid.uuid4().hex[:8]

    def take(self) -> None:
        service = SERVICES[self.issued % len(SERVICES)]
        command_id = f"take-{self._run}-{self.issued}"
        reply_topic = self.topics.kiosk_reply(KIOSK)
        reply: list[tuple[float, Any]] = []

        def match(at: float, topic: str, payload: bytes) -> bool:
            if topic == reply_topic:
                body = json_or_none(payload)
                if isinstance(body, dict) and body.get("id") == command_id:
                    reply.append((at, body))
                    return True
            return False
        t0 = self.probe.publish(self.topics.kiosk_take(KIOSK), {"id": command_id, "service": service,
                                                                 "priority": False})
        self.probe.wait(match, f"kiosk reply to {command_id}", self.deadline)
        at, body = reply[0]
        self.take_seconds += at - t0
        if not body.get("ok"):
            raise BenchError(f"take refused: {body}")
        self.take_ms.append((at - t0) * 1000)
        self.waiting[service] += 1
        self.issued += 1

    def next(self) -> bool:
        """`next` at the next counter (in turn) with a ticket to call; False if none waits."""
        if not any(self.waiting.values()):
            return False
        while True:
            counter = list(self.counters)[self._turn % len(self.counters)]
            self._turn += 1
            if any(self.waiting.get(s, 0) for s in self.counters[counter]):
                break
        command_id = f"next-{self._run}-{len(self.next_ms)}"
        reply_topic, board_topic = self.topics.counter_reply(counter), self.topics.board()
        reply: list[tuple[float, Any]] = []
        boards: list[tuple[float, Any]] = []
        board_at: list[float] = []

        def match(at: float, topic: str, payload: bytes) -> bool:
            if topic == board_topic:
                boards.append((at, json_or_none(payload)))
            elif topic == reply_topic:
                body = json_or_none(payload)
                if isinstance(body, dict) and body.get("id") == command_id:
                    reply.append((at, body))
            if reply and not board_at:
                label = ((reply[0][1].get("ticket") or {}).get("label"))
                for b_at, board in boards:
                    calls = board.get("calls") if isinstance(board, dict) else None
                    if calls and calls[0].get("ticket") == label and calls[0].get("counter") == counter:
                        board_at.append(b_at)
                        break
            return bool(reply and (board_at or not reply[0][1].get("ok")))
        t0 = self.probe.publish(self.topics.counter_command(counter), {"id": command_id, "action": "next"})
        self.probe.wait(match, f"counter {counter} reply and board for {command_id}", self.deadline)
        at, body = reply[0]
        if not body.get("ok") or not body.get("ticket"):
            raise BenchError(f"next at counter {counter} called nothing: {body} (waiting here: {self.waiting})")
        self.next_seconds += board_at[0] - t0
        self.next_ms.append((at - t0) * 1000)
        self.board_ms.append((board_at[0] - t0) * 1000)
        self.waiting[body["ticket"]["service"]] -= 1
        return True


def bench_commands(probe: Probe, topics: Topics, counters: dict[str, tuple[str, ...]], count: int, depth: int,
                   deadline: float) -> Commands:
    """Rounds of `depth` takes, each followed by nexts until no ticket waits. Stops early when
    the time left would not also cover the nexts for the tickets waiting (`stopped_early`)."""
    commands = Commands(probe, topics, counters, deadline)
    soft_end = deadline - 2 * WAIT_S

    def time_left_for_one_more() -> bool:
        slowest = max(statistics.fmean(commands.take_ms or [0]), statistics.fmean(commands.board_ms or [0])) / 1000
        return time.monotonic() + (sum(commands.waiting.values()) + 2) * slowest * 1.2 < soft_end

    while commands.issued < count and not commands.stopped_early:
        for _ in range(min(depth, count - commands.issued)):
            if not time_left_for_one_more():
                commands.stopped_early = True
                break
            commands.take()
        while time.monotonic() < soft_end and commands.next():
            pass
        if any(commands.waiting.values()):
            commands.stopped_early = True
    return commands


# --- main -----------------------------------------------------------------------------------


def run(args: argparse.Namespace, folder: Path, mosquitto: str) -> dict[str, Any]:
    deadline = time.monotonic() + args.budget - STOP_TIMEOUT_S  # leave time to stop the server and the broker
    broker, mqtt_port = start_broker(folder / "broker", mosquitto, args.broker_nodelay)
    server: Process | None = None
    probe: Probe | None = None
    try:
        config_path = folder / "queuebox.toml"
        config_path.write_text(bench_config_text(Path(args.config).read_text(encoding="utf-8"), mqtt_port),
                               encoding="utf-8")
        try:
            config = load_config(config_path)  # a config the server would refuse fails here, with its problems
        except ConfigError as exc:
            raise BenchError(f"the bench config made from {args.config} does not load: {exc}") from None
        assert config.mqtt.port == mqtt_port and config.mqtt.root == MQTT_ROOT
        assert all(not s.hours and len(s.open_days) == 7 and s.daily_limit == 0 for s in config.services)
        topics = Topics(config.mqtt.root, config.site.id)
        status_topic = topics.status(server_client_id(config))
        floor_topic = f"{MQTT_ROOT}/bench-floor/{uuid.uuid4().hex[:8]}"
        counters = {c.id: tuple(c.services) for c in config.counters}
        probe = Probe(mqtt_port, [status_topic, floor_topic, topics.kiosk_reply(KIOSK), topics.board(),
                                  *(topics.counter_reply(c) for c in counters)], args.nodelay)

        server = Process("queuebox server", [sys.executable, "-m", "queuebox.cli", "server",
                                             "--config", str(config_path), "--database", str(folder / "q.db"),
                                             "--listen", "127.0.0.1", "--port", str(free_port())],
                         folder / "server.log", ROOT)
        online_s = wait_online(probe, status_topic, server, deadline)
        drain(probe, deadline=deadline)
        rss_start = rss_mb(server.pid)

        floor = bench_floor(probe, floor_topic, args.count, deadline)
        try:
            commands = bench_commands(probe, topics, counters, args.count, args.depth, deadline)
        except BenchError as exc:
            server.check_alive()
            raise BenchError(f"{exc}; server log:\n{server.log_tail()}") from None
        server.check_alive()
        rss_end = rss_mb(server.pid)
    finally:
        if probe is not None:
            probe.close()
        if server is not None:
            server.stop()
        broker.stop()

    take = summary(commands.take_ms, commands.take_seconds)
    board = summary(commands.board_ms, commands.next_seconds)
    nxt = summary(commands.next_ms)
    warnings = []
    for name, numbers in (("take", take), ("next_to_board", board)):
        if numbers["at_least_40ms"] > numbers["commands"] / 100:
            warnings.append(
                f"{numbers['at_least_40ms']} of {numbers['commands']} {name} round trips took >= {STALL_MS} ms "
                f"(min {numbers['min_ms']} ms) while the engine alone takes about a millisecond and the floor p50 is "
                f"{floor['p50_ms']} ms: a fixed multiple of ~40 ms is Nagle's algorithm waiting for a delayed ACK. "
                "paho leaves TCP_NODELAY off unless asked (the server's connection: queuebox.bus) and Mosquitto's "
                "set_tcp_nodelay defaults to false; --nodelay and --broker-nodelay switch it on for the bench "
                "client and the broker")
    if not floor["complete"]:
        warnings.append(f"floor: stopped after {floor['commands']} of {args.count} round trips to leave time for "
                        "the commands")
    if commands.stopped_early:
        warnings.append(f"stopped after {commands.issued} of {args.count} takes and {len(commands.next_ms)} nexts "
                        f"to stay within --budget {args.budget:g} s")
    meets = {
        "take": take["p99_ms"] <= TARGET_TAKE_P99_MS,
        "next_to_board": board["p99_ms"] <= TARGET_NEXT_TO_BOARD_P99_MS,
        "server_rss": rss_end["rss_mb"] <= TARGET_SERVER_RSS_MB,
    }
    return {
        "benchmark": "MQTT command round trips through mosquitto and the server process",
        "take": {**take, "target": f"p99 <= {TARGET_TAKE_P99_MS} ms", "meets_target": meets["take"],
                 "note": "take → kiosk reply only: the §7 target (button press → complete ticket bytes at "
                         "the printer) also includes the kiosk's rendering and printing"},
        "next_to_board": {**board, "target": f"p99 <= {TARGET_NEXT_TO_BOARD_P99_MS} ms",
                          "meets_target": meets["next_to_board"],
                          "note": "next published → board message received by a subscriber, not drawn: the §7 "
                                  "target (board frame drawn) also includes the display's rendering"},
        "next_reply": nxt,
        "floor": {**floor, "note": "bare QoS 1 publish → receive by the same client: one broker hop each way "
                                   "(a command makes two, plus the server)"},
        "ratio_to_floor": {
            "take_p50": round(take["p50_ms"] / floor["p50_ms"], 1),
            "take_p99": round(take["p99_ms"] / floor["p99_ms"], 1),
            "next_to_board_p50": round(board["p50_ms"] / floor["p50_ms"], 1),
            "next_to_board_p99": round(board["p99_ms"] / floor["p99_ms"], 1),
        },
        "server_memory": {**rss_end, "rss_mb_at_start": rss_start["rss_mb"],
                          "target": f"<= {TARGET_SERVER_RSS_MB} MB resident (MiB here)",
                          "meets_target": meets["server_rss"]},
        "target": (f"take p99 <= {TARGET_TAKE_P99_MS} ms, next → board p99 <= {TARGET_NEXT_TO_BOARD_P99_MS} ms, "
                   f"server RSS <= {TARGET_SERVER_RSS_MB} MB"),
        "meets_target": all(meets.values()),
        "complete": not commands.stopped_early and floor["complete"],
        "warnings": warnings,
        "settings": {"count": args.count, "queue_depth": args.depth, "budget_s": args.budget, "qos": 1,
                     "tcp_nodelay_bench_client": args.nodelay, "tcp_nodelay_broker": args.broker_nodelay,
                     "server_online_after_s": round(online_s, 2), "filesystem": filesystem_of(folder.resolve()),
                     "services": SERVICES, "counters": len(counters)},
        "machine": {
            **machine(),
            "paho_mqtt": paho.mqtt.__version__,
            "mosquitto": mosquitto_version(mosquitto),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="takes, nexts and floor round trips (default 1000)")
    parser.add_argument("--depth", type=int, default=300,
                        help="most tickets waiting: rounds of this many takes, then nexts (default 300)")
    parser.add_argument("--json-out", metavar="FILE", help="also write the JSON object to FILE")
    parser.add_argument("--dir", metavar="DIR", help="where to make the temporary folder (default: system temp)")
    parser.add_argument("--config", metavar="FILE", default=str(EXAMPLE_CONFIG), help="config text to start from")
    parser.add_argument("--nodelay", action=argparse.BooleanOptionalAction, default=True,
                        help="TCP_NODELAY on the bench client's socket, as queuebox.bus sets it (default: on)")
    parser.add_argument("--broker-nodelay", action=argparse.BooleanOptionalAction, default=True,
                        help="set_tcp_nodelay true in the broker conf, as queuebox writes it (default: on)")
    parser.add_argument("--budget", type=float, default=BUDGET_S, metavar="SECONDS",
                        help=f"most seconds for the whole run; fewer commands are measured if it runs out "
                             f"(default {BUDGET_S:g})")
    args = parser.parse_args(argv)
    if args.count < 1 or args.depth < 1:
        parser.error("--count and --depth must be 1 or more")
    if args.budget < 30:
        parser.error("--budget must be 30 seconds or more")
    return run_with_broker("queuebox-bench-mqtt-", args, run)


if __name__ == "__main__":
    sys.exit(main())
