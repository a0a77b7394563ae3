"""Load test: many counters, kiosks and displays on one server and one broker (DESIGN.md §7).

Target: 200 counters + 20 kiosks + 20 displays at 50 commands/s with p99 <= 100 ms and
nothing lost. One real Mosquitto (generated accounts and ACL, `server.demo.broker_conf`), one
real `queuebox server` process (web included) on a real SQLite file, then:

- real device processes: --real-kiosks `queuebox kiosk --simulate` (MockFactory buttons pressed
  through their `kiosk/<id>/simulate` topic, Dummy printer, each ticket saved as .bin and .png)
  and --real-displays `queuebox display --screenshot PNG --follow` (SDL dummy driver, 640x360,
  voice off), so their CPU and memory under this traffic are measured;
- every other kiosk, every counter and every other display is a protocol-level client (paho v5,
  QoS 1) with that device's own account and client id, driven with the others from one thread
  (bench/scale_clients.py): kiosks publish `take` and read their reply; counters publish `next`
  and read their reply and (as a keypad does) their retained state; displays read `board` and
  `events`.

Commands arrive as a Poisson process at --rate per second, half takes, half nexts, after a
prefill of tickets so counters have someone to call (bench/scale_load.py says how kiosks and
counters are picked and defines every "lost" figure). Measured, per segment:

- `press_to_ticket`: take publish → kiosk reply received (protocol kiosks), and simulate
  publish → kiosk reply seen by the server-account observer (real kiosks; the kiosk's own
  press → printed time from its log is in `real_kiosks`);
- `next_to_board_all`: `next` publish → the first board listing that call received by every
  protocol display (the latest of them); `next_reply`: the counter's reply. The real displays'
  latency is not measured (their PNG does not say which board it shows); `real_displays` says
  whether each drew a frame after the last board (`last_frame_after_last_board_s` >= 0);
- CPU (% of one core over the segment) and resident memory (end and peak) of the broker,
  server, each real device and the bench itself, from /proc; the machine's load average;
- lost: replies missing or doubled, events and boards missing at displays, real-kiosk presses
  without ticket file.

--sweep R1,R2,… runs one segment of --sweep-seconds at each rate on the same site and
reports where the p99 (the larger of press_to_ticket and next_to_board_all) passes 100 ms.
The seed is printed on stderr and in the JSON; set it with --seed or QUEUEBOX_BENCH_SEED.

    .venv/bin/python bench/scale.py [--rate 50] [--minutes 3] [--counters 200] [--kiosks 20]
        [--displays 20] [--real-kiosks 2] [--real-displays 2] [--sweep 50,100,200,400]
        [--sweep-seconds 60] [--seed N] [--json-out FILE] [--dir DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sqlite3
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import paho.mqtt

from benchlib import filesystem_of, machine, percentile  # noqa: E402 (bench/ is on the path)
from mqtt_rig import BenchError, mosquitto_version, run_with_broker
from queuebox.protocol import Topics
from scale_clients import Hub
from scale_load import Load
from scale_setup import DISPLAY_SIZE, Meter, Site
from server.credentials import SECRETS_FILE, read_secrets
from server.main import server_client_id

TARGET_P99_MS = 100
TARGET_RATE = 50
TARGET_SERVER_RSS_MB = 60
STOP_SWEEP_P99_MS = 10 * TARGET_P99_MS  # a sweep stops after a rate this far past the target
DRAIN_S = 15.0  # after a segment: a reply or board still on its way comes within this, or is lost
DRAIN_CAP_S = 600.0  # ... while the backlog of an overloaded server still shrinks, at most this
READY_TIMEOUT_S = 60.0
PRINTED = re.compile(r"saved as .* \((\d+(?:\.\d+)?) ms from press to printed\)")
DROPPED = re.compile(r"(?i)outgoing messages are being dropped")


def stats(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0}
    s = sorted(values)
    return {"count": len(s), "p50_ms": round(percentile(s, 50), 1), "p90_ms": round(percentile(s, 90), 1),
            "p99_ms": round(percentile(s, 99), 1), "max_ms": round(s[-1], 1)}


def db_events(db_path: Path, after: int) -> list[int]:
    """The seqs of the events committed after seq `after`, read-only."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10) as conn:
        return [row[0] for row in conn.execute("SELECT seq FROM events WHERE seq > ? ORDER BY seq", [after])]


def web_poller(port: int, stop: threading.Event, seen: list[int]) -> None:
    """GET /healthz once a second, so the web side is in use while the server is measured."""
    while not stop.wait(1.0):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
                seen.append(response.status)
        except OSError:
            seen.append(0)


def segment_report(load: Load, site: Site, segment: int, rate: float, seconds: float, seq_before: int,
                   boards_before: tuple[int, list[int]], meter: Meter) -> tuple[dict[str, Any], int]:
    """The figures of one segment; also returns the database's last seq."""
    seqs = db_events(site.folder / "queuebox.db", seq_before)
    last_seq = seqs[-1] if seqs else seq_before
    load.settle(last_seq, DRAIN_S)  # first: boards still on their way count for the calls below
    cmds = [c for c in load.commands.values() if c.segment == segment]
    takes = [(c.reply_at - c.t0) * 1000 for c in cmds if c.kind in ("take", "press") and c.reply_at]
    presses = [(c.reply_at - c.t0) * 1000 for c in cmds if c.kind == "press" and c.reply_at]
    nexts = [c for c in cmds if c.kind == "next"]
    board_all, board_each, never = [], [], 0
    for c in nexts:
        if c.key is None:
            continue
        seen = load.first_seen.get(c.key)
        if seen is None or None in seen:
            never += 1
            continue
        board_all.append((max(seen) - c.t0) * 1000)
        board_each += [(t - c.t0) * 1000 for t in seen]
    events_missing = sum(len(set(seqs) - d.events) for d in load.display_logs)
    observer0, displays0 = boards_before
    observed = load.observer_boards - observer0
    boards_missing = sum(max(0, observed - (d.boards - b0)) for d, b0 in zip(load.display_logs, displays0))
    lost = {
        "replies_missing": sum(1 for c in cmds if c.replies == 0),
        "replies_duplicate": sum(c.replies - 1 for c in cmds if c.replies > 1),
        "events_missing_at_displays": events_missing,
        "boards_missing_at_displays": boards_missing,
        "board_final_wrong": sum(1 for d in load.display_logs if d.last_board_seq != last_seq),
    }
    press_ok = sum(1 for c in cmds if c.kind == "press" and c.ok)
    p99 = max(stats(takes).get("p99_ms", 0), stats(board_all).get("p99_ms", 0))
    report = {
        "rate_asked": rate, "seconds": seconds,
        "commands": len(cmds), "rate_sent": round(len(cmds) / seconds, 1),
        "by_kind": {k: sum(1 for c in cmds if c.kind == k) for k in ("take", "press", "next")},
        "refused": sum(1 for c in cmds if c.replies and not c.ok),
        "next_called_nobody": sum(1 for c in nexts if c.replies and c.key is None),
        "press_to_ticket": stats(takes), "real_kiosk_press_to_reply": stats(presses),
        "next_reply": stats([(c.reply_at - c.t0) * 1000 for c in nexts if c.reply_at]),
        "next_to_board_all": stats(board_all), "next_to_board_each_display": stats(board_each),
        "calls_never_shown": never,
        "p99_ms": p99, "meets_p99": p99 <= TARGET_P99_MS,
        "events": len(seqs), "boards": observed, "real_kiosk_presses_ok": press_ok,
        "lost": lost, "lost_total": sum(lost.values()),
        **meter.report(),
    }
    # CPU per command does not depend on what else ran on the machine (the latencies do)
    report["cpu_ms_per_command"] = {name: round(1000 * p["cpu_s"] / max(len(cmds), 1), 2)
                                    for name, p in report["processes"].items()}
    return report, last_seq


def real_kiosk_report(site: Site, load: Load) -> dict[str, Any]:
    """Per real kiosk: presses answered ok, ticket files written, the kiosk's own press → printed times."""
    out: dict[str, Any] = {}
    printed: list[float] = []
    for kiosk, folder in site.kiosk_out.items():
        ok = sum(1 for c in load.commands.values() if c.kind == "press" and c.device == kiosk and c.ok)
        files = len(list(folder.glob("*.bin"))) if folder.exists() else 0
        times = [float(m.group(1)) for m in PRINTED.finditer(site.processes[f"kiosk-{kiosk}"].log_path.read_text())]
        printed += times
        out[kiosk] = {"presses_ok": ok, "ticket_files": files, "presses_without_ticket": max(0, ok - files)}
    return {"kiosks": out, "press_to_printed_in_kiosk": stats(printed),
            "presses_without_ticket": sum(k["presses_without_ticket"] for k in out.values()),
            "note": "press_to_printed_in_kiosk is the kiosk's own log: from its loop receiving the press to the "
                    "ticket bytes written to the (Dummy) printer; the simulate message's trip is not in it. A press "
                    "answered ok after the kiosk's reply_timeout_s is rightly not printed: presses_without_ticket"}


def display_report(png: Path, last_board_wall: float) -> dict[str, Any]:
    """A real display's PNG: its size, and how long after the observer got the last board it was last written."""
    if not png.exists():
        return {"png_bytes": 0, "last_frame_after_last_board_s": None}
    st = png.stat()
    return {"png_bytes": st.st_size, "last_frame_after_last_board_s": round(st.st_mtime - last_board_wall, 3)}


def run(args: argparse.Namespace, folder: Path, mosquitto: str) -> dict[str, Any]:
    rates = [float(r) for r in args.sweep.split(",")] if args.sweep else [args.rate]
    seconds = args.sweep_seconds if args.sweep else args.minutes * 60
    site = Site(folder, mosquitto, args.counters, args.kiosks, args.displays)
    config = site.config
    kiosks, displays = list(config.devices.kiosks), list(config.devices.displays)
    real_kiosks, real_displays = kiosks[:args.real_kiosks], displays[:args.real_displays]
    hub: Hub | None = None
    stop_web = threading.Event()
    web_status: list[int] = []
    try:
        broker = site.start_broker()
        site.start_server()
        for k in real_kiosks:
            site.start_kiosk(k)
        for d in real_displays:
            site.start_display(d)
        topics = Topics(config.mqtt.root, config.site.id)
        passwords = read_secrets(site.folder / "mqtt" / SECRETS_FILE)
        hub = Hub("127.0.0.1", site.broker_port)
        load = Load(hub, topics, passwords, counters=[c.id for c in config.counters], kiosks=kiosks,
                    displays=[d for d in displays if d not in real_displays], real_kiosks=real_kiosks,
                    services=[s.code for s in config.services], counter_states=args.counter_states, seed=args.seed)
        print(f"connecting {len(load.clients())} protocol clients", file=sys.stderr)
        hub.connect(load.clients())
        wanted = {server_client_id(config)} | {f"kiosk-{k}" for k in real_kiosks} | \
                 {f"display-{d}" for d in real_displays}
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not wanted <= load.online:
            site.check_alive()
            if time.monotonic() > deadline:
                raise BenchError(f"not online after {READY_TIMEOUT_S:g} s: {', '.join(sorted(wanted - load.online))}")
            hub.poll(0.1)
        prefill = args.prefill if args.prefill is not None else 2 * args.counters
        print(f"prefill: {prefill} tickets", file=sys.stderr)
        load.prefill(prefill, time.monotonic() + 120)
        threading.Thread(target=web_poller, args=(site.web_port, stop_web, web_status), daemon=True).start()
        pids = {name: p.pid for name, p in site.processes.items()} | {"bench": os.getpid()}
        seq_before = db_events(site.folder / "queuebox.db", 0)[-1]
        segments = []
        for i, rate in enumerate(rates):
            print(f"segment {i}: {rate:g} commands/s for {seconds:g} s", file=sys.stderr)
            boards_before = (load.observer_boards, [d.boards for d in load.display_logs])
            meter = Meter(pids)
            load.run_segment(i, rate, seconds, tick=lambda: (meter.sample(), site.check_alive()))
            load.drain(i, DRAIN_S, DRAIN_CAP_S)
            report, seq_before = segment_report(load, site, i, rate, seconds, seq_before, boards_before, meter)
            segments.append(report)
            print(f"  sent {report['rate_sent']}/s, press→ticket p99 {report['press_to_ticket'].get('p99_ms')} ms, "
                  f"next→board(all) p99 {report['next_to_board_all'].get('p99_ms')} ms, lost {report['lost_total']}, "
                  f"server CPU {report['processes']['server']['cpu_pct']} %", file=sys.stderr)
            if report["lost"]["replies_missing"] or report["p99_ms"] > STOP_SWEEP_P99_MS:
                if i + 1 < len(rates):
                    print("  far past the target: the higher rates are not run (they would queue behind this one)",
                          file=sys.stderr)
                break
        site.check_alive()
        mosquitto_log = broker.log_path.read_text(errors="replace")
        result = summary(args, rates, seconds, segments, site, load, real_kiosks, real_displays)
        result["broker_dropped_lines"] = len(DROPPED.findall(mosquitto_log))
        result["web_healthz"] = {"requests": len(web_status), "ok": web_status.count(200)}
        result["machine"] = {**machine(), "paho_mqtt": paho.mqtt.__version__,
                             "mosquitto": mosquitto_version(mosquitto), "filesystem": filesystem_of(site.folder)}
        return result
    except BenchError as exc:
        tails = "\n".join(f"--- {n}:\n{p.log_tail(10)}" for n, p in site.processes.items())
        raise BenchError(f"{exc}\n{tails}") from None
    finally:
        stop_web.set()
        if hub is not None:
            hub.close()
        site.stop()


def summary(args: argparse.Namespace, rates: list[float], seconds: float, segments: list[dict[str, Any]],
            site: Site, load: Load, real_kiosks: list[str], real_displays: list[str]) -> dict[str, Any]:
    kiosk_report = real_kiosk_report(site, load)
    lost = sum(s["lost_total"] for s in segments)
    headline = next((s for s in segments if s["rate_asked"] == TARGET_RATE), segments[0])
    server_peak = max(s["processes"]["server"]["peak_rss_mb"] for s in segments)
    limit = None
    if len(segments) > 1:
        met = [s["rate_asked"] for s in segments if s["meets_p99"]]
        top = max(met) if met else None
        above = [s["rate_asked"] for s in segments if not s["meets_p99"] and (top is None or s["rate_asked"] > top)]
        limit = {"highest_rate_meeting_p99": top, "first_rate_above_it_missing_p99": min(above) if above else None,
                 # a lower rate missing while a higher one meets: something else took the CPU meanwhile
                 "noisy": any(not s["meets_p99"] and top is not None and s["rate_asked"] < top for s in segments),
                 "p99_by_rate": {f"{s['rate_asked']:g}": s["p99_ms"] for s in segments}}
    lag = sorted(load.lag_ms) or [0.0]
    warnings = []
    if percentile(lag, 99) > 10:
        warnings.append(f"the bench sent commands late (p99 {percentile(lag, 99):.1f} ms behind schedule): it was "
                        "short of CPU, so the rate sent is below the rate asked")
    if load.stray_replies:
        warnings.append(f"{load.stray_replies} replies matched no command sent")
    meets = {"p99": headline["meets_p99"], "nothing_lost": lost == 0, "server_rss": server_peak <= TARGET_SERVER_RSS_MB,
             "every_press_printed": kiosk_report["presses_without_ticket"] == 0}
    return {
        "benchmark": "load test: counters, kiosks and displays on one server and broker",
        "seed": args.seed,
        "target": f"{TARGET_RATE} commands/s with p99 <= {TARGET_P99_MS} ms (press → ticket and next → board seen by "
                  f"every protocol display) and nothing lost; server RSS <= {TARGET_SERVER_RSS_MB} MB",
        "meets_target": all(meets.values()), "meets": meets,
        "headline_segment": segments.index(headline),
        "p99_ms": headline["p99_ms"], "lost_total": lost, "server_peak_rss_mb": server_peak,
        "limit": limit,
        "rates_not_run": rates[len(segments):],
        "segments": segments,
        "real_kiosks": kiosk_report,
        "real_displays": {d: display_report(site.display_png[d], load.observer_last_board_wall) for d in real_displays},
        "send_lag": {"p50_ms": round(percentile(lag, 50), 2), "p99_ms": round(percentile(lag, 99), 2)},
        "skipped_takes": load.skipped, "skipped_nexts_all_counters_busy": load.skipped_next,
        "warnings": warnings,
        "settings": {"counters": args.counters, "kiosks": args.kiosks, "displays": args.displays,
                     "real_kiosks": len(real_kiosks), "real_displays": len(real_displays),
                     "protocol_kiosks": args.kiosks - len(real_kiosks),
                     "protocol_displays": args.displays - len(real_displays),
                     "rates": rates, "seconds_per_segment": seconds, "prefill": args.prefill,
                     "counter_states_subscribed": args.counter_states, "real_display_size": DISPLAY_SIZE,
                     "qos": 1, "mix": "Poisson arrivals, 1/2 take, 1/2 next"},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=TARGET_RATE, help="commands per second (default 50)")
    parser.add_argument("--minutes", type=float, default=3.0, help="length of the run (default 3)")
    parser.add_argument("--counters", type=int, default=200)
    parser.add_argument("--kiosks", type=int, default=20)
    parser.add_argument("--displays", type=int, default=20)
    parser.add_argument("--real-kiosks", type=int, default=2, help="of the kiosks, real processes (default 2)")
    parser.add_argument("--real-displays", type=int, default=2, help="of the displays, real processes (default 2)")
    parser.add_argument("--sweep", metavar="R1,R2,…", help="one segment per rate instead of --rate/--minutes")
    parser.add_argument("--sweep-seconds", type=float, default=60.0, help="length of each sweep segment (default 60)")
    parser.add_argument("--prefill", type=int, help="tickets issued before measuring (default 2 per counter)")
    parser.add_argument("--counter-states", action=argparse.BooleanOptionalAction, default=True,
                        help="protocol counters subscribe to their retained state, as a keypad does (default on)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default $QUEUEBOX_BENCH_SEED or random)")
    parser.add_argument("--json-out", metavar="FILE")
    parser.add_argument("--dir", metavar="DIR", help="where to make the temporary folder (default: system temp)")
    args = parser.parse_args(argv)
    if args.seed is None:
        args.seed = int(os.environ.get("QUEUEBOX_BENCH_SEED") or random.randrange(2**31))
    if not (0 <= args.real_kiosks <= args.kiosks and 0 <= args.real_displays <= args.displays and args.counters >= 1
            and args.kiosks > args.real_kiosks and args.displays >= 1):
        parser.error("need counters >= 1, displays >= 1, 0 <= real-X <= X, and at least one protocol kiosk")
    print(f"seed {args.seed} (QUEUEBOX_BENCH_SEED={args.seed} replays it)", file=sys.stderr)
    return run_with_broker("queuebox-bench-scale-", args, run)


if __name__ == "__main__":
    sys.exit(main())
