"""Benchmark: kiosk button press → complete ticket bytes at the printer, through a real
Mosquitto and the real server process (DESIGN.md §7: p99 <= 25 ms).

Prints one JSON object on stdout (and writes it to --json-out FILE if given):
- `press_to_printed`: from just before a MockFactory pin is pulled low (gpiozero fires the
  button's callback) until the kiosk's escpos `Dummy` printer has taken the last byte of the
  ticket job (reset, raster image, native QR, cut). Everything the kiosk process does is in
  it: press rules, printer status query, `take` over MQTT, the server's transaction on a real
  SQLite file, the reply, rendering, encoding and the write;
- with `--scan`, each press follows an elderly citizen's ID card scan handed to the kiosk's
  inbox (as the scanner's thread does), timed from the scan, and must print a priority ticket;
- `press_to_reply`: the part up to the kiosk handling the server's reply;
- `render`, `encode`, `write`: the ticket image (Pillow), the ESC/POS job (python-escpos),
  the write to the Dummy, each on its own;
- `ticket_bytes`: the size of the jobs; every job is checked to end with a cut and hold its
  status URL in a ``GS ( k`` QR code, and every press to give exactly one new label;
- `memory.kiosk`: the resident memory of a real `queuebox kiosk --simulate` child process
  (the same config, the same server), idle after its start and after it printed
  --memory-tickets tickets pressed from its keyboard (stdin): RSS (what DESIGN.md §7's
  target of 40 MB is judged on), PSS and USS (without the pages of libraries it shares
  with the server and display on the same Pi), from /proc/<pid>/smaps_rollup; with the
  floor, a bare Python interpreter's RSS on this machine.

The kiosk is `device.main.KioskApp` in this process, as `queuebox kiosk` builds it (warmed
up the same way), with MockFactory pins and the Dummy printer. Presses go to services A…E
in turn, one at a time, the next one --gap ms after the previous ticket came out (the kiosk
ignores a button's contact bounce for 50 ms; the bench config sets its cooldown to 1 ms).
The first --warmup presses are not counted. The broker (anonymous, 127.0.0.1, a free port)
and the server (`python -m queuebox.cli server`) are set up by bench/mqtt_rig.py, on
the example config with every service open around the clock; their logs stay in the
temporary folder (--dir; on tmpfs fsync costs nothing, so use a real disk).

    .venv/bin/python bench/kiosk_latency.py [--count 500] [--warmup 5] [--gap 20] [--budget 80]
                                            [--memory-tickets 30] [--json-out FILE] [--dir DIR]
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

from device.main import KioskApp
from device.fonts import read_fonts
from device.kiosk import PrintedTicket
from device.printer import EscposPrinter
from device.scanner import Scan
from escpos.printer import Dummy
from gpiozero.pins.mock import MockFactory
from queuebox.config import load_config, to_toml
from queuebox.errors import ConfigError
from queuebox.protocol import Topics
from server.main import server_client_id

from benchlib import filesystem_of, machine, percentile, process_memory, unit_environment  # noqa: E402 (bench/ is on the path)
from mqtt_rig import (run_with_broker, EXAMPLE_CONFIG, ROOT, STOP_TIMEOUT_S, BenchError, Probe, Process,  # noqa: E402
                      bench_config_text, drain, free_port, mosquitto_version, rss_mb, start_broker, summary,
                      wait_online)

TARGET_P99_MS = 25
TARGET_KIOSK_RSS_MB = 40
BUDGET_S = 80.0
WAIT_S = 5.0  # one ticket
SERVICES = "ABCDE"
# a made-up card of a citizen born in 1950 (--scan)
SCAN_CARD = "079052001234||Nguyễn Văn An|15041950|Nam|Số 7 Lê Lợi, Quận 1, TP Hồ Chí Minh|10082021"
PINS = {"A": 5, "B": 6, "C": 13, "D": 19, "E": 26}


@dataclasses.dataclass(frozen=True)
class Timing:
    """One measured press, in seconds, and its job's size in bytes."""
    printed: float
    replied: float
    render: float
    encode: float
    write: float
    size: int
    sends: int


def bench_config(example: Path, folder: Path, mqtt_port: int) -> Any:
    """The example config with MQTT on the private broker, every service always open with
    no limit, the kiosk's buttons on PINS, a 1 ms cooldown and a Dummy printer."""
    path = folder / "queuebox.toml"
    path.write_text(bench_config_text(example.read_text(encoding="utf-8"), mqtt_port), encoding="utf-8")
    try:
        config = load_config(path)
    except ConfigError as exc:
        raise BenchError(f"the bench config made from {example} does not load: {exc}") from None
    kiosk = dataclasses.replace(config.kiosk, buttons=dict(PINS), cooldown_s=0.001, reply_timeout_s=8.0,
                                retry_every_s=1.0)
    printer = dataclasses.replace(config.printer, kind="dummy", paper_width_mm=80)
    return path, dataclasses.replace(config, kiosk=kiosk, printer=printer)


def kiosk_memory(config: Any, folder: Path, tickets: int, deadline: float) -> dict[str, Any]:
    """Run a real `queuebox kiosk --simulate` on `config` (the server must run), measure its
    memory idle, press `tickets` tickets from its keyboard one after the other (each after
    the previous one was saved), measure again, and stop it."""
    path = folder / "kiosk.toml"
    path.write_text(to_toml(config), encoding="utf-8")
    out, log_path = folder / "kiosk-tickets", folder / "kiosk.log"
    with open(log_path, "wb") as log:
        kiosk = subprocess.Popen([sys.executable, "-m", "queuebox.cli", "kiosk", "--config", str(path), "--simulate",
                                  "--out", str(out)], stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                                 cwd=ROOT, env={**os.environ, **unit_environment("queuebox-kiosk.service")})
    assert kiosk.stdin is not None

    def wait_for(what: str, ready: Any) -> None:
        end = min(time.monotonic() + 3 * WAIT_S, deadline)
        while not ready():
            if kiosk.poll() is not None or time.monotonic() > end:
                raise BenchError(f"the kiosk process: no {what}; its log:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.02)  # polling another process's output

    try:
        wait_for("start", lambda: b"Simulated kiosk" in log_path.read_bytes())
        wait_for("connection", lambda: b"MQTT connected" in log_path.read_bytes())
        idle = process_memory(kiosk.pid)
        for i in range(tickets):
            kiosk.stdin.write(f"{SERVICES[i % len(SERVICES)].lower()}\n".encode())
            kiosk.stdin.flush()
            wait_for(f"ticket {i + 1}", lambda: len(list(out.glob("*.bin"))) > i)
        after = process_memory(kiosk.pid)
    finally:
        kiosk.stdin.close()
        kiosk.terminate()
        try:
            kiosk.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            kiosk.kill()
            kiosk.wait()
    floor = subprocess.run([sys.executable, "-c", "print(open('/proc/self/status').read())"], capture_output=True,
                           text=True, check=True).stdout
    floor_rss = next(int(line.split()[1]) for line in floor.splitlines() if line.startswith("VmRSS:"))
    return {"idle": idle, f"after_{tickets}_tickets": after, "tickets": tickets,
            "target": f"rss <= {TARGET_KIOSK_RSS_MB} MB", "meets_target": after["rss_mb"] <= TARGET_KIOSK_RSS_MB,
            "floor_python_rss_mb": round(floor_rss / 1024, 1),
            "process": "queuebox kiosk --simulate (MockFactory pins, escpos Dummy, tickets saved as files)"}


def ms(values: list[float]) -> dict[str, Any]:
    return summary([v * 1000 for v in values])


def run(args: argparse.Namespace, folder: Path, mosquitto: str) -> dict[str, Any]:
    deadline = time.monotonic() + args.budget - STOP_TIMEOUT_S
    broker, mqtt_port = start_broker(folder / "broker", mosquitto, True)
    server: Process | None = None
    probe: Probe | None = None
    app: KioskApp | None = None
    factory = MockFactory()
    printed: queue.Queue[PrintedTicket] = queue.Queue()
    records: list[Timing] = []
    try:
        config_path, config = bench_config(Path(args.config), folder, mqtt_port)
        topics = Topics(config.mqtt.root, config.site.id)
        probe = Probe(mqtt_port, [topics.status(server_client_id(config))], True)
        server = Process("queuebox server", [sys.executable, "-m", "queuebox.cli", "server",
                                             "--config", str(config_path), "--database", str(folder / "q.db"),
                                             "--listen", "127.0.0.1", "--port", str(free_port())],
                         folder / "server.log", ROOT)
        wait_online(probe, topics.status(server_client_id(config)), server, deadline)
        drain(probe, deadline=deadline)

        printer = EscposPrinter(Dummy(), 576, keep_dummy_output=False)  # a long-running kiosk's Dummy
        app = KioskApp(config, pin_factory=factory, printer=printer, fonts=read_fonts(config.printer),
                       on_printed=printed.put, clock=time.perf_counter, cards_always=args.scan,
                       read_scanner=False)
        app.warm_up()
        app.start()
        if not app.bus.wait_connected(WAIT_S):
            raise BenchError("the kiosk did not connect to the broker")

        released: dict[str, float] = {}
        labels: set[str] = set()
        total = args.warmup + args.count
        stopped_early = False
        for i in range(total):
            if time.monotonic() > deadline:
                stopped_early = True
                break
            service = SERVICES[i % len(SERVICES)]
            time.sleep(max(args.gap / 1000, released.get(service, 0) + 0.06 - time.perf_counter()))
            pin = factory.pin(PINS[service])
            t0 = time.perf_counter()
            if args.scan:  # the line as the scanner's thread hands it over, then the service press
                app.bus.inbox.put(Scan(SCAN_CARD, True, t0))
            pin.drive_low()
            pin.drive_high()
            released[service] = time.perf_counter()
            try:
                ticket = printed.get(timeout=WAIT_S)
            except queue.Empty:
                server.check_alive()
                raise BenchError(f"press {i} ({service}) printed nothing within {WAIT_S:g} s; server log:\n"
                                 f"{server.log_tail()}") from None
            if ticket.ticket.service != service or ticket.ticket.label in labels or (args.scan and not ticket.ticket.priority):
                raise BenchError(f"press {i} of {service} printed {ticket.ticket.label} of {ticket.ticket.service}")
            labels.add(ticket.ticket.label)
            data = ticket.job.data
            if not data.endswith(b"\x1dV\x00") or ticket.ticket.status_url.encode() not in data:
                raise BenchError(f"the job of {ticket.ticket.label} is not a complete ticket")
            if i >= args.warmup:  # numbers only: holding 500 tickets' images would be ~250 MB
                records.append(Timing(ticket.printed_at - t0, ticket.replied_at - t0, ticket.render_s,
                                      ticket.job.encode_s, ticket.job.write_s, len(data), ticket.sends))
            del ticket
        if not printed.empty():
            raise BenchError("more tickets printed than buttons pressed")
        server.check_alive()
        server_rss = rss_mb(server.pid)
        kiosk = kiosk_memory(config, folder, args.memory_tickets, deadline + STOP_TIMEOUT_S)
    finally:
        if app is not None:
            app.stop()
        factory.close()
        if probe is not None:
            probe.close()
        if server is not None:
            server.stop()
        broker.stop()

    if not records:
        raise BenchError("no press was measured within the time budget")
    press_to_printed = ms([t.printed for t in records])
    sizes = [t.size for t in records]
    warnings = []
    if stopped_early:
        warnings.append(f"stopped after {len(records)} of {args.count} presses to stay within --budget {args.budget:g} s")
    if any(t.sends > 1 for t in records):
        warnings.append(f"{sum(t.sends > 1 for t in records)} presses needed a second take (no reply within "
                        "retry_every_s)")
    meets = press_to_printed["p99_ms"] <= TARGET_P99_MS
    return {
        "scan": args.scan,
        "benchmark": ("kiosk: ID card scan, then a press → " if args.scan else "kiosk: button press → ")
                     + "complete ticket bytes at the printer, through mosquitto and the server process",
        "press_to_printed": {**press_to_printed, "target": f"p99 <= {TARGET_P99_MS} ms", "meets_target": meets},
        "press_to_reply": ms([t.replied for t in records]),
        "render": ms([t.render for t in records]),
        "encode": ms([t.encode for t in records]),
        "write": ms([t.write for t in records]),
        "ticket_bytes": {"min": min(sizes), "p50": percentile(sorted(sizes), 50), "max": max(sizes)},
        "memory": {"kiosk": kiosk, "server_rss_mb": server_rss["rss_mb"]},
        "target": f"press → printed p99 <= {TARGET_P99_MS} ms",
        "meets_target": meets,
        "complete": not stopped_early,
        "warnings": warnings,
        "settings": {"count": args.count, "measured": len(records), "warmup": args.warmup, "gap_ms": args.gap,
                     "budget_s": args.budget, "paper_width_px": 576, "printer": "escpos Dummy",
                     "pins": "gpiozero MockFactory", "filesystem": filesystem_of(folder.resolve()),
                     "services": SERVICES},
        "machine": {**machine(), "mosquitto": mosquitto_version(mosquitto)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500, help="presses measured (default 500)")
    parser.add_argument("--warmup", type=int, default=5, help="presses before measuring (default 5)")
    parser.add_argument("--gap", type=float, default=20, metavar="MS",
                        help="pause between a ticket and the next press, ms (default 20)")
    parser.add_argument("--memory-tickets", type=int, default=30, metavar="N",
                        help="tickets the kiosk process prints before its memory is measured again (default 30)")
    parser.add_argument("--scan", action="store_true",
                        help="each press follows an elderly citizen's ID card scan: measures scan → printed")
    parser.add_argument("--json-out", metavar="FILE", help="also write the JSON object to FILE")
    parser.add_argument("--dir", metavar="DIR", help="where to make the temporary folder (default: system temp)")
    parser.add_argument("--config", metavar="FILE", default=str(EXAMPLE_CONFIG), help="config text to start from")
    parser.add_argument("--budget", type=float, default=BUDGET_S, metavar="SECONDS",
                        help=f"most seconds for the whole run; fewer presses are measured if it runs out "
                             f"(default {BUDGET_S:g})")
    args = parser.parse_args(argv)
    if args.count < 1 or args.warmup < 0 or args.gap < 0 or args.memory_tickets < 0:
        parser.error("--count must be 1 or more, --warmup, --gap and --memory-tickets 0 or more")
    if args.budget < 30:
        parser.error("--budget must be 30 seconds or more")
    return run_with_broker("queuebox-bench-kiosk-", args, run)


if __name__ == "__main__":
    sys.exit(main())
