"""Benchmark: a long chaos day — a busy centre run against the real processes while they are
killed with SIGKILL at random and restarted (the library is tests/chaos/, shared with the
short test in `make test`).

Mosquitto (persistence on, as the demo runs it), `queuebox server`, --kiosks simulated kiosks
(their printers take --print-delay s per ticket), two displays drawing headless, the rating
keypad of counter 1, and --counters counter clerks over MQTT; the chaos loop kills the server,
the broker, a kiosk between the server's reply and its print, and a display, one at a time,
each kind in turn, and measures how long each takes to work again. Afterwards the database,
the printed tickets and the displays' drawn boards are checked (tests/chaos/checks.py).

Prints one JSON object on stdout: tickets, calls, ratings, kills per process, recovery p50/p99
per process, and `violations`, which must be empty (the exit status is 1 otherwise). Progress
goes to stderr. Every random choice comes from --seed.

    .venv/bin/python bench/chaos.py [--minutes 5] [--seed N] [--kiosks 3] [--counters 20] [--dir DIR]
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchlib import emit, machine  # noqa: E402 (bench/ is on the path)
from tests.chaos.harness import run_day  # noqa: E402
from tests.chaos.site import Plan  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="length of the day (default: 5)")
    parser.add_argument("--seed", type=int, help="seed of every random choice (default: a random one, printed)")
    parser.add_argument("--kiosks", type=int, default=3, help="simulated kiosks (default: 3)")
    parser.add_argument("--counters", type=int, default=20, help="counters (default: 20)")
    parser.add_argument("--press-every", type=float, default=0.25, metavar="S",
                        help="mean seconds between two button presses, all kiosks together (default: 0.25)")
    parser.add_argument("--print-delay", type=float, default=0.3, metavar="S",
                        help="seconds a simulated printer takes per ticket (default: 0.3)")
    parser.add_argument("--dir", help="folder for the day's files and logs (default: a temporary one, kept)")
    parser.add_argument("--json-out", metavar="FILE", help="also write the JSON to FILE")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("queuebox.bus").setLevel(logging.ERROR)  # the drivers' clients lose every killed broker
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1_000_000)
    folder = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="queuebox-chaos-"))
    plan = Plan(seed=seed, seconds=args.minutes * 60, kiosks=args.kiosks, counters=args.counters,
                press_every_s=args.press_every, print_delay_s=args.print_delay)
    started = time.monotonic()
    summary = run_day(folder, plan)
    summary.update(wall_s=round(time.monotonic() - started, 1), folder=str(folder), machine=machine())
    emit(summary, args.json_out)
    return 1 if summary["violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
