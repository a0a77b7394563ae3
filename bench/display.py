"""Benchmark: the waiting-room display — a call on screen, a full frame, idle CPU and memory.

Prints one JSON object on stdout (and writes it to --json-out FILE if given):
- `next_to_frame`: a paho v5 probe publishes `counter/<c>/command` {"action": "next"} (QoS 1)
  and the time runs until the display has drawn and presented (pygame.display.update) the
  frame whose newest call is the ticket the server called — DESIGN.md §7 "counter next →
  board frame drawn p99 <= 50 ms". The display's loop (DisplayApp + Renderer on a 1920×1080
  screen of SDL's dummy video driver) runs in this process, in the same thread that
  publishes, so both ends read one clock; the server is a separate `queuebox server`
  process and the broker a private `mosquitto`, set up by bench/mqtt_rig.py. Tickets are
  taken at service A in rounds of --depth and called alternately at counters 1 and 2 (both
  serve A), so every `next` changes the newest call. With espeak-ng installed calls are
  also synthesised, as on a real display (on a worker thread; played on a null player, but
  paced as if spoken, so a burst this fast fills the 50-call announcement queue and later
  calls are shown, not spoken: `calls_synthesised` says how many were); --no-speech leaves
  that out.
- `next_to_frame_mid_slide`: the same, but each call arrives while an information slide (a page
  of procedures, the QR code of the lookup page, the board message) is on the screen: the frame
  timed shows the call and the previous calls in place of the slide. The display's wall clock is
  moved on before each call so that a slide shows (the slides turn every `display.slide_s`, far
  too slow to wait for); the times are real. `next_to_frame` itself runs with
  `display.slides = ["history"]` (the board without slides) and is the floor this case is
  compared with (`ratio_to_floor_p99`).
- `next_to_sound`: the same nexts, each timed from the frame showing the call to the first sound
  sample of that call handed to the player (the chime, which starts once the call's speech is
  ready) — DESIGN.md §7 "first sound sample of the call <= 300 ms after the frame" — with the
  recorded voice (`clips`: the demo's espeak-ng pack imported into the server, downloaded by the
  display from the server's web like a real one, each call assembled from its clips) and, as the
  comparison, with espeak-ng synthesising each call (`espeak`). One call at a time: the
  announcer's pauses run on a clock moved on by hand, so no call waits behind another's speech.
- `full_frame`: the sample board of the example config drawn in full (every box, no
  partial redraw) at 1920×1080, --frames times, and the layout computation alone.
- `partial_frame`: the cost of one typical change drawn incrementally (a new call).
- `idle` and `memory`: `queuebox display --windowed --size 1920x1080` as its own process
  (dummy video and audio drivers) connected to the same broker, left alone for
  --idle-seconds (default 30): CPU time it used over that time as a share of one core
  (target <= 1 %), with the example's slides turning (the previous calls and the board message,
  one frame every `display.slide_s`); then two calls drawn and spoken (espeak-ng, the mixer on SDL's dummy
  audio driver), and its resident memory (target <= 80 MB, MiB here).

The in-process display and its timed calls are bench/display_calls.py.

    .venv/bin/python bench/display.py [--count 300] [--depth 50] [--frames 200] [--sound-count 60] [--idle-seconds 30]
                                      [--json-out FILE] [--dir DIR] [--no-speech]
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Any

# This file is bench/display.py and Python puts bench/ first on the path, where `display` would
# be this script: the project root goes first, so `display` is the package (bench/ stays next).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# headless, here and in the display process started below (it inherits the environment)
os.environ["SDL_VIDEODRIVER"] = "dummy"
os.environ["SDL_AUDIODRIVER"] = "dummy"
os.environ["PYGAME_HIDE_SUPPORT_PROMPT"] = "1"

import pygame  # noqa: E402

from benchlib import cpu_seconds, machine  # noqa: E402 (bench/ is on the path)
from display_calls import (COUNTERS, KIOSK, SIZE, TARGET_FRAME_TO_SOUND_P99_MS, TARGET_NEXT_TO_FRAME_P99_MS,  # noqa: E402
                           bench_next_to_frame, bench_next_to_sound, summary)
from mqtt_rig import (run_with_broker, EXAMPLE_CONFIG, BenchError, Probe, Process, bench_config_text, drain,  # noqa: E402
                      free_port, rss_mb, start_broker, wait_online)

from display.voicefetch import download, load_current  # noqa: E402
from display.main import SAMPLE_TIME  # noqa: E402
from display.board import sample_board  # noqa: E402
from display.layout import layout  # noqa: E402
from display.render import Fonts, Renderer  # noqa: E402
from queuebox.config import load_config  # noqa: E402
from queuebox.protocol import Topics  # noqa: E402
from server.engine import Engine  # noqa: E402
from server.main import server_client_id  # noqa: E402
from server.voice_demo import seed_voice  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TARGET_IDLE_CPU_PERCENT = 1.0
TARGET_RSS_MB = 80
SPOKEN_S = 14.0  # two calls: chime (1.4 s), sentence (~4 s), pauses



# --- frames ---------------------------------------------------------------------------------------

def bench_frames(config: Any, fonts: Fonts, frames: int) -> dict[str, Any]:
    """Full redraws of the sample board at 1920x1080, the layout alone, and one incremental change."""
    board = sample_board(config, SAMPLE_TIME)
    surface = pygame.Surface(SIZE)
    renderer = Renderer(surface, fonts)
    lay = layout(board, SAMPLE_TIME, config, SIZE, measure=fonts.measure)
    renderer.draw(lay)  # glyph caches warm, as on a display that has been running
    full, layouts, partial = [], [], []
    for _ in range(frames):
        t0 = time.perf_counter()
        renderer.draw(lay, full=True)
        full.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        layout(board, SAMPLE_TIME, config, SIZE, measure=fonts.measure)
        layouts.append((time.perf_counter() - t0) * 1000)
    first = board.calls[0]
    newer = dataclasses.replace(board, seq=board.seq + 1, calls=(dataclasses.replace(
        first, ticket="B025", counter="3", counter_name="Quầy 3", service="B"), *board.calls[:-1]),
        waiting=tuple((code, n - 1 if code == "B" else n) for code, n in board.waiting))
    lay_new = layout(newer, SAMPLE_TIME, config, SIZE, measure=fonts.measure)
    for i in range(frames):
        renderer.draw(lay if i % 2 else lay_new, full=True)
        t0 = time.perf_counter()
        renderer.draw(lay_new if i % 2 else lay)
        partial.append((time.perf_counter() - t0) * 1000)
    return {"full_frame": {**summary(full), "size": f"{SIZE[0]}x{SIZE[1]}", "boxes": len(lay.boxes)},
            "layout": summary(layouts), "partial_frame": {**summary(partial), "note": "a new newest call: the "
                                                          "changed boxes only (calls panel, history, counts)"}}


# --- the display process: idle CPU and memory ---------------------------------------------------------

def bench_idle(config_path: Path, folder: Path, probe: Probe, topics: Topics, idle_s: float) -> dict[str, Any]:
    display = Process("queuebox display", [sys.executable, "-m", "queuebox.cli", "display", "--config",
                                           str(config_path), "--windowed", "--size", f"{SIZE[0]}x{SIZE[1]}"],
                      folder / "display.log", ROOT)
    try:
        wait_online(probe, topics.status("display-display1"), display, time.monotonic() + 15)
        time.sleep(2.0)  # it draws the retained board; let start-up settle before measuring
        display.check_alive()
        rss_before = rss_mb(display.pid)
        cpu0, t0 = cpu_seconds(display.pid), time.monotonic()
        time.sleep(idle_s)  # measuring an idle process: nothing to wait for but time
        cpu1, t1 = cpu_seconds(display.pid), time.monotonic()
        display.check_alive()
        rss_idle = rss_mb(display.pid)
        run = uuid.uuid4().hex[:8]
        for i, counter in enumerate(COUNTERS):  # two calls: drawn, chimed and spoken by the display process
            probe.publish(topics.kiosk_take(KIOSK), {"id": f"idle-take-{run}-{i}", "service": "A"})
            probe.publish(topics.counter_command(counter), {"id": f"idle-next-{run}-{i}", "action": "next"})
        time.sleep(SPOKEN_S)  # chime + sentence, twice, played in real time by SDL's dummy audio driver
        display.check_alive()
        rss = rss_mb(display.pid)
    finally:
        display.stop()
    percent = 100 * (cpu1 - cpu0) / (t1 - t0)
    return {
        "idle": {"seconds": round(t1 - t0, 1), "cpu_seconds": round(cpu1 - cpu0, 3),
                 "cpu_percent_of_one_core": round(percent, 3), "target": f"<= {TARGET_IDLE_CPU_PERCENT} %",
                 "meets_target": percent <= TARGET_IDLE_CPU_PERCENT},
        "memory": {**rss, "rss_mb_after_start": rss_before["rss_mb"], "rss_mb_idle": rss_idle["rss_mb"],
                   "note": "rss_mb after two calls drawn and spoken", "target": f"<= {TARGET_RSS_MB} MB "
                   "resident (MiB here)", "meets_target": max(rss["rss_mb"], rss["peak_rss_mb"]) <= TARGET_RSS_MB},
    }


# --- main ------------------------------------------------------------------------------------------------

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
        frames = bench_frames(config, fonts, args.frames)

        seeding = Engine(config, folder / "q.db")  # the demo's voice pack in the server's voice folder
        try:
            clips = seed_voice(seeding, folder / "voice-cache")
        finally:
            seeding.close()
        web_port = free_port()
        probe = Probe(port, [topics.status(server_client_id(config)), topics.status("display-display1"),
                             topics.kiosk_reply(KIOSK), *(topics.counter_reply(c) for c in COUNTERS)], True)
        server = Process("queuebox server", [sys.executable, "-m", "queuebox.cli", "server", "--config",
                                             str(config_path), "--database", str(folder / "q.db"),
                                             "--listen", "127.0.0.1", "--port", str(web_port)],
                         folder / "server.log", ROOT)
        wait_online(probe, topics.status(server_client_id(config)), server, deadline)
        drain(probe, deadline=deadline)
        try:
            next_to_frame = bench_next_to_frame(config, fonts, probe, topics, args.count, args.depth, args.speech,
                                                deadline)
            mid_slide = bench_next_to_frame(config, fonts, probe, topics, args.count, args.depth, args.speech,
                                            deadline, mid_slide=True)
            pack = None
            if clips:  # downloaded from the server's web, as a display does
                download(folder / "display-voice", f"http://127.0.0.1:{web_port}")
                pack = load_current(folder / "display-voice")
            sound = {"clips": bench_next_to_sound(config, fonts, probe, topics, args.sound_count, pack, deadline)
                     if pack else {"skipped": "no espeak-ng to make the demo pack"},
                     "espeak": bench_next_to_sound(config, fonts, probe, topics, args.sound_count, None, deadline)}
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
    meets = {"next_to_frame": next_to_frame["meets_target"], "next_to_frame_mid_slide": mid_slide["meets_target"],
             "next_to_sound": sound["clips"].get("meets_target", False),
             "idle_cpu": idle["idle"]["meets_target"],
             "memory": idle["memory"]["meets_target"]}
    return {
        "benchmark": "waiting-room display: next -> frame drawn, frame time, idle CPU, memory",
        "next_to_frame": {**next_to_frame, "note": "next published -> the frame showing the call presented, "
                                                   "through mosquitto and the server process; the display loop runs "
                                                   "in the bench process; the board without slides: the floor "
                                                   "of the mid-slide case"},
        "next_to_frame_mid_slide": {**mid_slide, "floor_p50_ms": next_to_frame["p50_ms"],
                                    "floor_p99_ms": next_to_frame["p99_ms"],
                                    "ratio_to_floor_p99": round(mid_slide["p99_ms"] / next_to_frame["p99_ms"], 2),
                                    "note": "each call arrives while a slide shows; the frame timed shows the call "
                                            "and the previous calls in the slide's place"},
        "next_to_sound": {**sound, "note": "the frame showing a call -> its first sound sample (the chime, played "
                                           "once the call's speech is ready) handed to the player; espeak-ng: the "
                                           "synthetic voice, for comparison"},
        **frames,
        **idle,
        "target": (f"next -> frame p99 <= {TARGET_NEXT_TO_FRAME_P99_MS} ms, frame -> first sound sample with the "
                   f"recorded voice p99 <= {TARGET_FRAME_TO_SOUND_P99_MS} ms, idle CPU <= {TARGET_IDLE_CPU_PERCENT} % "
                   f"of one core, RSS <= {TARGET_RSS_MB} MB"),
        "meets_target": all(meets.values()),
        "settings": {"count": args.count, "depth": args.depth, "frames": args.frames, "sound_count": args.sound_count,
                     "idle_seconds": args.idle_seconds, "video_driver": "dummy", "size": f"{SIZE[0]}x{SIZE[1]}"},
        "machine": {**machine(), "pygame": pygame.version.ver, "sdl": ".".join(map(str, pygame.get_sdl_version())),
                    "espeak_ng": shutil.which("espeak-ng") is not None},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300, help="nexts timed to the frame (default 300)")
    parser.add_argument("--depth", type=int, default=50, help="tickets taken per round before calling them "
                                                              "(default 50)")
    parser.add_argument("--frames", type=int, default=200, help="full frames timed (default 200)")
    parser.add_argument("--sound-count", type=int, default=60, help="calls timed from frame to first sound, with "
                                                                    "each voice (default 60)")
    parser.add_argument("--idle-seconds", type=float, default=30.0, help="seconds the display process is left "
                                                                         "idle for the CPU measure (default 30)")
    parser.add_argument("--speech", action=argparse.BooleanOptionalAction, default=True,
                        help="synthesise each call with espeak-ng while timing, as a display does (default: on)")
    parser.add_argument("--budget", type=float, default=300.0, metavar="SECONDS",
                        help="give up after this many seconds (default 300)")
    parser.add_argument("--json-out", metavar="FILE", help="also write the JSON object to FILE")
    parser.add_argument("--dir", metavar="DIR", help="where to make the temporary folder (default: system temp)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("queuebox.bus").setLevel(logging.ERROR)  # "connection lost (Normal disconnection)" at the end
    logging.getLogger("display.announce").setLevel(logging.ERROR)  # one "queue full" per call: see calls_synthesised
    if args.count < 1 or args.depth < 1 or args.frames < 1 or args.idle_seconds <= 0 or args.sound_count < 1:
        parser.error("--count, --depth, --frames, --sound-count and --idle-seconds must be more than 0")
    return run_with_broker("queuebox-bench-display-", args, run)


if __name__ == "__main__":
    sys.exit(main())
