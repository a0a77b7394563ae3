"""Benchmark: a counter display (`queuebox display --counter 1`) — a call on its screen, idle CPU, memory.

Prints one JSON object on stdout (and writes it to --json-out FILE if given):
- `next_to_frame`: a paho v5 probe publishes `counter/1/command` {"action": "next"} (QoS 1) and the
  time runs until the counter display has drawn and presented (pygame.display.update) the frame
  showing the ticket the server called — DESIGN.md §7 "counter next → frame drawn p99 <= 50 ms (also
  on a counter display)". The display's loop (CounterApp + Renderer on an 800×480 screen of SDL's
  dummy video driver) runs in this process, in the thread that publishes, so both ends read one
  clock; the server is a separate `queuebox server` process and the broker a private `mosquitto`,
  as in bench/display.py. A ticket is taken at service A before each next, so every next calls one.
- `floor`: the same probe's bare QoS 1 publish → receive through the same broker (no server).
- `idle` and `memory`: `queuebox display --counter 1 --windowed --size 800x480` as its own process,
  left alone for --idle-seconds: CPU time it used as a share of one core (target <= 1 %); then two
  calls drawn, and its resident memory (target <= 80 MB, MiB here).

    .venv/bin/python bench/counter_display.py [--count 300] [--idle-seconds 30] [--json-out FILE] [--dir DIR]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the `display` package, not bench/display.py

os.environ["SDL_VIDEODRIVER"] = "dummy"
os.environ["SDL_AUDIODRIVER"] = "dummy"
os.environ["PYGAME_HIDE_SUPPORT_PROMPT"] = "1"

import pygame  # noqa: E402

from benchlib import cpu_seconds, machine, percentile  # noqa: E402 (bench/ is on the path)
from mqtt_rig import (EXAMPLE_CONFIG, BenchError, Probe, Process, bench_config_text, bench_floor, drain,  # noqa: E402
                      free_port, json_or_none, rss_mb, run_with_broker, start_broker, wait_online)

from display.app import display_client_id  # noqa: E402
from display.counter_app import CounterApp, counter_subscriptions  # noqa: E402
from display.render import Fonts, Renderer  # noqa: E402
from queuebox.bus import Bus  # noqa: E402
from queuebox.config import load_config  # noqa: E402
from queuebox.protocol import Topics  # noqa: E402
from server.main import server_client_id  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TARGET_NEXT_TO_FRAME_P99_MS = 50
TARGET_IDLE_CPU_PERCENT = 1.0
TARGET_RSS_MB = 80
SIZE = (800, 480)
KIOSK = "k1"
COUNTER = "1"  # serves A in the example config
WAIT_S = 5.0


def summary(values_ms: list[float]) -> dict[str, Any]:
    ordered = sorted(values_ms)
    return {"count": len(ordered), "min_ms": round(ordered[0], 3), "p50_ms": round(percentile(ordered, 50), 3),
            "p90_ms": round(percentile(ordered, 90), 3), "p99_ms": round(percentile(ordered, 99), 3),
            "max_ms": round(ordered[-1], 3)}


def bench_next_to_frame(config: Any, fonts: Fonts, probe: Probe, topics: Topics, count: int,
                        deadline: float) -> dict[str, Any]:
    pygame.display.init()
    screen = pygame.display.set_mode(SIZE)
    presented = [0.0]

    def present(rects: list[Any]) -> None:
        pygame.display.update(rects)
        presented[0] = time.perf_counter()

    bus = Bus(config.mqtt, topics, display_client_id(config), subscriptions=counter_subscriptions(topics, COUNTER))
    app = CounterApp(config, COUNTER, Renderer(screen, fonts), bus.inbox, connected=bus.connected.is_set,
                     topics=topics, present=present)
    run = uuid.uuid4().hex[:8]

    def shown() -> str | None:
        box = app.drawn.box("counter.ticket") if app.drawn else None
        return box.text if box else None

    def step_until(done: Any, what: str) -> None:
        end = min(time.monotonic() + WAIT_S, deadline)
        wait = 0.0
        while not done():
            if time.monotonic() > end:
                raise BenchError(f"the counter display did not show {what} within {WAIT_S:g} s")
            wait = min(app.step(wait), 0.02)

    def reply_to(topic: str, command_id: str) -> dict[str, Any]:
        got: list[dict[str, Any]] = []

        def match(at: float, t: str, payload: bytes) -> bool:
            body = json_or_none(payload) if t == topic else None
            if isinstance(body, dict) and body.get("id") == command_id:
                got.append(body)
                return True
            return False
        probe.wait(match, f"reply to {command_id}", deadline)
        return got[0]

    bus.start()
    latencies: list[float] = []
    try:
        step_until(lambda: app.drawn is not None and app.drawn.box("counter.state") is not None, "the free counter")
        for i in range(count):
            probe.publish(topics.kiosk_take(KIOSK), {"id": f"take-{run}-{i}", "service": "A"})
            reply_to(topics.kiosk_reply(KIOSK), f"take-{run}-{i}")
            drain(probe, quiet_s=0.02, deadline=deadline)
            app.step(0.0)
            before = shown()
            t0 = probe.publish(topics.counter_command(COUNTER), {"id": f"next-{run}-{i}", "action": "next"})
            step_until(lambda: shown() != before, f"the call of next-{run}-{i}")
            latencies.append((presented[0] - t0) * 1000)
            label = (reply_to(topics.counter_reply(COUNTER), f"next-{run}-{i}").get("ticket") or {}).get("label")
            if shown() != label:
                raise BenchError(f"the counter display shows {shown()} but next-{run}-{i} called {label}")
        frames = app.renderer.frames
    finally:
        bus.stop()
        pygame.display.quit()
    return {**summary(latencies), "frames_drawn": frames, "size": f"{SIZE[0]}x{SIZE[1]}",
            "target": f"p99 <= {TARGET_NEXT_TO_FRAME_P99_MS} ms",
            "meets_target": percentile(sorted(latencies), 99) <= TARGET_NEXT_TO_FRAME_P99_MS}


def bench_idle(config_path: Path, folder: Path, probe: Probe, topics: Topics, idle_s: float) -> dict[str, Any]:
    display = Process("queuebox display --counter", [sys.executable, "-m", "queuebox.cli", "display", "--config",
                                                     str(config_path), "--counter", COUNTER, "--windowed",
                                                     "--size", f"{SIZE[0]}x{SIZE[1]}"], folder / "display.log", ROOT)
    try:
        wait_online(probe, topics.status("display-display1"), display, time.monotonic() + 15)
        time.sleep(2.0)  # it draws the retained state; let start-up settle before measuring
        display.check_alive()
        cpu0, t0 = cpu_seconds(display.pid), time.monotonic()
        time.sleep(idle_s)  # measuring an idle process: nothing to wait for but time
        cpu1, t1 = cpu_seconds(display.pid), time.monotonic()
        run = uuid.uuid4().hex[:8]
        for i in range(2):  # two calls drawn (and blinking) by the display process
            probe.publish(topics.kiosk_take(KIOSK), {"id": f"idle-take-{run}-{i}", "service": "A"})
            probe.publish(topics.counter_command(COUNTER), {"id": f"idle-next-{run}-{i}", "action": "next"})
        time.sleep(3.0)
        display.check_alive()
        rss = rss_mb(display.pid)
    finally:
        display.stop()
    percent = 100 * (cpu1 - cpu0) / (t1 - t0)
    return {
        "idle": {"seconds": round(t1 - t0, 1), "cpu_seconds": round(cpu1 - cpu0, 3),
                 "cpu_percent_of_one_core": round(percent, 3), "target": f"<= {TARGET_IDLE_CPU_PERCENT} %",
                 "meets_target": percent <= TARGET_IDLE_CPU_PERCENT},
        "memory": {**rss, "note": "after two calls drawn", "target": f"<= {TARGET_RSS_MB} MB resident (MiB here)",
                   "meets_target": max(rss["rss_mb"], rss["peak_rss_mb"]) <= TARGET_RSS_MB},
    }


def run(args: argparse.Namespace, folder: Path, mosquitto: str) -> dict[str, Any]:
    deadline = time.monotonic() + args.budget
    broker, port = start_broker(folder / "broker", mosquitto, nodelay=True)
    server: Process | None = None
    probe: Probe | None = None
    try:
        config_path = folder / "queuebox.toml"
        config_path.write_text(bench_config_text(EXAMPLE_CONFIG.read_text(encoding="utf-8"), port), encoding="utf-8")
        config = load_config(config_path)
        topics = Topics(config.mqtt.root, config.site.id)
        fonts = Fonts(config.display.font_path, config.display.font_bold_path)
        floor_topic = f"{config.mqtt.root}/bench-floor/{uuid.uuid4().hex[:8]}"
        probe = Probe(port, [topics.status(server_client_id(config)), topics.status("display-display1"), floor_topic,
                             topics.kiosk_reply(KIOSK), topics.counter_reply(COUNTER)], True)
        floor = bench_floor(probe, floor_topic, args.count, deadline)
        server = Process("queuebox server", [sys.executable, "-m", "queuebox.cli", "server", "--config",
                                             str(config_path), "--database", str(folder / "q.db"),
                                             "--listen", "127.0.0.1", "--port", str(free_port())],
                         folder / "server.log", ROOT)
        wait_online(probe, topics.status(server_client_id(config)), server, deadline)
        drain(probe, deadline=deadline)
        try:
            next_to_frame = bench_next_to_frame(config, fonts, probe, topics, args.count, deadline)
        except BenchError as exc:
            server.check_alive()
            raise BenchError(f"{exc}; server log:\n{server.log_tail()}") from None
        idle = bench_idle(config_path, folder, probe, topics, args.idle_seconds)
    finally:
        if probe is not None:
            probe.close()
        if server is not None:
            server.stop()
        broker.stop()
    return {
        "benchmark": "counter display: next -> frame drawn, idle CPU, memory",
        "next_to_frame": {**next_to_frame, "note": "next published -> the frame showing the number presented, "
                                                   "through mosquitto and the server process"},
        "floor": {**floor, "note": "bare QoS 1 publish -> receive through the same broker"},
        **idle,
        "target": (f"next -> frame p99 <= {TARGET_NEXT_TO_FRAME_P99_MS} ms, idle CPU <= {TARGET_IDLE_CPU_PERCENT} % "
                   f"of one core, RSS <= {TARGET_RSS_MB} MB"),
        "meets_target": all((next_to_frame["meets_target"], idle["idle"]["meets_target"],
                             idle["memory"]["meets_target"])),
        "settings": {"count": args.count, "idle_seconds": args.idle_seconds, "video_driver": "dummy"},
        "machine": {**machine(), "pygame": pygame.version.ver},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300, help="nexts timed to the frame (default 300)")
    parser.add_argument("--idle-seconds", type=float, default=30.0, help="seconds the display process is left "
                                                                         "idle for the CPU measure (default 30)")
    parser.add_argument("--budget", type=float, default=300.0, metavar="SECONDS",
                        help="give up after this many seconds (default 300)")
    parser.add_argument("--json-out", metavar="FILE", help="also write the JSON object to FILE")
    parser.add_argument("--dir", metavar="DIR", help="where to make the temporary folder (default: system temp)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("queuebox.bus").setLevel(logging.ERROR)  # "connection lost (Normal disconnection)" at the end
    if args.count < 1 or args.idle_seconds <= 0:
        parser.error("--count and --idle-seconds must be more than 0")
    return run_with_broker("queuebox-bench-counter-display-", args, run)


if __name__ == "__main__":
    sys.exit(main())
