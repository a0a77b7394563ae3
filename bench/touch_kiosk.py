"""Benchmark: a touch on a service tile → complete ticket bytes at the printer, through a real
Mosquitto and the real server process (DESIGN.md §7: p99 <= 25 ms, as for a button), and the
touch kiosk's resident memory.

Prints one JSON object on stdout (and writes it to --json-out FILE if given):
- `touch_to_printed`: from just before the finger's FINGERUP event is posted to pygame's queue
  (a touch counts when the finger is lifted) until the kiosk's escpos `Dummy` printer has the
  last byte of the ticket job. In it: the screen's loop reading the event and finding the tile,
  the press rules, the printer status query, `take` over MQTT, the server's transaction on a
  real SQLite file, the reply, rendering, encoding, the write, and the screen redrawing on the
  same interpreter (the GIL) at 1280x800;
- `memory.touch_kiosk`: the RSS/PSS/USS of a real `queuebox kiosk --simulate` child with
  ``kiosk.screen = "touch"`` (SDL's dummy video driver, its screen saved as a PNG on every
  change), idle and after --memory-tickets tickets touched from its keyboard.

The screen is `device.touch_screen.TouchScreen` on SDL's dummy driver in this process, beside a
`KioskApp` as `queuebox kiosk` builds it. Between two measured touches the screen's "done"
button is touched (not timed) to go back to the tiles. The broker, the server and the config
are those of bench/kiosk_latency.py.

    .venv/bin/python bench/touch_kiosk.py [--count 300] [--warmup 5] [--memory-tickets 20] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import queue
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ["SDL_VIDEODRIVER"] = "dummy"

from device.fonts import read_fonts  # noqa: E402
from device.main import KioskApp  # noqa: E402
from device.printer import EscposPrinter  # noqa: E402
from device.ticket import SiteText  # noqa: E402
from device.touch_layout import find  # noqa: E402
from device.touch_screen import TouchScreen, open_surface, pygame, subscriptions  # noqa: E402
from escpos.printer import Dummy  # noqa: E402
from gpiozero.pins.mock import MockFactory  # noqa: E402
from queuebox.config import to_toml  # noqa: E402
from queuebox.protocol import Topics  # noqa: E402
from server.main import server_client_id  # noqa: E402

from benchlib import machine, process_memory, unit_environment  # noqa: E402
from kiosk_latency import SERVICES, bench_config, ms  # noqa: E402
from mqtt_rig import (EXAMPLE_CONFIG, ROOT, STOP_TIMEOUT_S, BenchError, Probe, Process, drain, free_port,  # noqa: E402
                      mosquitto_version, run_with_broker, start_broker, wait_online)

TARGET_P99_MS = 25
TARGET_KIOSK_RSS_MB = 40
WAIT_S = 5.0
SIZE = (1280, 800)


def touch_config(config: Any) -> Any:
    kiosk = dataclasses.replace(config.kiosk, screen="touch", buttons={}, priority_button=0, fullscreen=False,
                                screen_width=SIZE[0], screen_height=SIZE[1])
    return dataclasses.replace(config, kiosk=kiosk)


def touch_memory(config: Any, folder: Path, tickets: int) -> dict[str, Any]:
    """A real `queuebox kiosk --simulate` with the touch screen: memory idle and after `tickets`."""
    path = folder / "touch.toml"
    path.write_text(to_toml(config), encoding="utf-8")
    out, log_path = folder / "touch-tickets", folder / "touch.log"
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    with open(log_path, "wb") as log:
        kiosk = subprocess.Popen([sys.executable, "-m", "queuebox.cli", "kiosk", "--config", str(path), "--simulate",
                                  "--out", str(out)], stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                                 cwd=ROOT, env={**env, **unit_environment("queuebox-kiosk.service")})
    assert kiosk.stdin is not None

    def wait_for(what: str, ready: Any) -> None:
        end = time.monotonic() + 3 * WAIT_S
        while not ready():
            if kiosk.poll() is not None or time.monotonic() > end:
                raise BenchError(f"the touch kiosk: no {what}; its log:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.02)  # polling another process's output

    try:
        wait_for("start", lambda: b"Simulated touch kiosk" in log_path.read_bytes())
        wait_for("connection", lambda: b"MQTT connected" in log_path.read_bytes())
        wait_for("screen", lambda: (out / "touch-screen.png").exists())
        time.sleep(1.0)  # the retained snapshots drawn
        idle = process_memory(kiosk.pid)
        for i in range(tickets):
            kiosk.stdin.write(f"done {SERVICES[i % len(SERVICES)].lower()}\n".encode())
            kiosk.stdin.flush()
            wait_for(f"ticket {i + 1}", lambda: len(list(out.glob("*.bin"))) > i)
            time.sleep(0.3)  # the screen shows the number (typed words are touched as soon as read)
        after = process_memory(kiosk.pid)
    finally:
        kiosk.stdin.close()
        kiosk.terminate()
        try:
            kiosk.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            kiosk.kill()
            kiosk.wait()
    return {"idle": idle, f"after_{tickets}_tickets": after, "target": f"rss <= {TARGET_KIOSK_RSS_MB} MB",
            "meets_target": after["rss_mb"] <= TARGET_KIOSK_RSS_MB,
            "process": "queuebox kiosk --simulate, kiosk.screen = touch (SDL dummy driver, 1280x800)"}


def run(args: argparse.Namespace, folder: Path, mosquitto: str) -> dict[str, Any]:
    deadline = time.monotonic() + args.budget
    broker, mqtt_port = start_broker(folder / "broker", mosquitto, True)
    server: Process | None = None
    probe: Probe | None = None
    app: KioskApp | None = None
    factory = MockFactory()
    printed: queue.Queue[Any] = queue.Queue()
    times: list[float] = []
    try:
        config_path, config = bench_config(Path(args.config), folder, mqtt_port)
        config = touch_config(config)
        topics = Topics(config.mqtt.root, config.site.id)
        probe = Probe(mqtt_port, [topics.status(server_client_id(config))], True)
        server = Process("queuebox server", [sys.executable, "-m", "queuebox.cli", "server", "--config",
                                             str(config_path), "--database", str(folder / "q.db"),
                                             "--listen", "127.0.0.1", "--port", str(free_port())],
                         folder / "server.log", ROOT)
        wait_online(probe, topics.status(server_client_id(config)), server, deadline)
        drain(probe, deadline=deadline)
        surface = open_surface(*SIZE, False, headless=True)
        screen = TouchScreen(surface, fonts=(config.printer.font_path, config.printer.font_bold_path), topics=topics,
                             press=lambda item: None, site=SiteText.from_config(config),
                             public_url=config.server.public_url, idle_timeout_s=600, clock=time.perf_counter)

        def on_printed(ticket: Any) -> None:
            screen.on_printed(ticket)
            printed.put(ticket)
        app = KioskApp(config, pin_factory=factory, printer=EscposPrinter(Dummy(), 576, keep_dummy_output=False),
                       fonts=read_fonts(config.printer), on_printed=on_printed, on_outcome=screen.on_outcome,
                       on_message=screen.on_message, on_fault=screen.on_fault, on_ignored=screen.on_ignored,
                       extra_subscriptions=subscriptions(topics), clock=time.perf_counter)
        screen.press = app.bus.inbox.put
        app.warm_up()
        app.start()

        def turn_until(done: Any, what: str) -> None:
            end = time.monotonic() + WAIT_S
            while not done():
                if time.monotonic() > end:
                    raise BenchError(f"no {what} within {WAIT_S:g} s; server log:\n{server.log_tail()}")
                screen.step(0.05)

        def tile(code: str) -> Any:
            widget = find(screen.widgets, f"tile:{code}")
            return widget if widget is not None and widget.enabled and not screen.model.state.busy else None

        turn_until(lambda: tile("A") is not None, "tiles from the server")
        labels: set[str] = set()
        for i in range(args.warmup + args.count):
            service = SERVICES[i % len(SERVICES)]
            if find(screen.widgets, "done") is not None:
                screen.tap_at(*find(screen.widgets, "done").rect.centre)
            turn_until(lambda: tile(service) is not None, f"tile {service}")
            time.sleep(args.gap / 1000)
            x, y = tile(service).rect.centre
            pygame.event.post(pygame.event.Event(pygame.FINGERDOWN, touch_id=1, finger_id=0, x=x / SIZE[0],
                                                 y=y / SIZE[1], dx=0.0, dy=0.0, pressure=1.0))
            screen.step(0)
            t0 = time.perf_counter()
            pygame.event.post(pygame.event.Event(pygame.FINGERUP, touch_id=1, finger_id=0, x=x / SIZE[0],
                                                 y=y / SIZE[1], dx=0.0, dy=0.0, pressure=1.0))
            turn_until(lambda: not printed.empty(), f"ticket {i}")
            ticket = printed.get_nowait()
            if ticket.ticket.service != service or ticket.ticket.label in labels \
                    or not ticket.job.data.endswith(b"\x1dV\x00"):
                raise BenchError(f"touch {i} of {service} printed {ticket.ticket.label} of {ticket.ticket.service}")
            labels.add(ticket.ticket.label)
            if i >= args.warmup:
                times.append(ticket.printed_at - t0)
            turn_until(lambda: screen.model.state.result is not None and screen.model.state.result.state == "printed",
                       "the printed screen")
        app.stop()  # the child below takes the same account and client id
        app = None
        memory = touch_memory(config, folder, args.memory_tickets)
    finally:
        if app is not None:
            app.stop()
        factory.close()
        if probe is not None:
            probe.close()
        if server is not None:
            server.stop()
        broker.stop()
    result = ms(times)
    meets = result["p99_ms"] <= TARGET_P99_MS
    return {"benchmark": "touch kiosk: finger lifted on a tile → complete ticket bytes at the printer, through "
                         "mosquitto and the server process",
            "touch_to_printed": {**result, "target": f"p99 <= {TARGET_P99_MS} ms", "meets_target": meets},
            "memory": {"touch_kiosk": memory}, "target": f"touch → printed p99 <= {TARGET_P99_MS} ms",
            "meets_target": meets,
            "settings": {"count": args.count, "warmup": args.warmup, "gap_ms": args.gap, "screen": SIZE,
                         "printer": "escpos Dummy"},
            "machine": {**machine(), "mosquitto": mosquitto_version(mosquitto)}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300, help="touches measured (default 300)")
    parser.add_argument("--warmup", type=int, default=5, help="touches before measuring (default 5)")
    parser.add_argument("--gap", type=float, default=20, metavar="MS", help="pause before each touch (default 20)")
    parser.add_argument("--memory-tickets", type=int, default=20, metavar="N",
                        help="tickets the touch kiosk process prints before its memory is measured again")
    parser.add_argument("--json-out", metavar="FILE", help="also write the JSON object to FILE")
    parser.add_argument("--dir", metavar="DIR", help="where to make the temporary folder (default: system temp)")
    parser.add_argument("--config", metavar="FILE", default=str(EXAMPLE_CONFIG), help="config text to start from")
    parser.add_argument("--budget", type=float, default=120.0, metavar="SECONDS", help="most seconds for the run")
    args = parser.parse_args(argv)
    return run_with_broker("queuebox-bench-touch-", args, run)


if __name__ == "__main__":
    sys.exit(main())
