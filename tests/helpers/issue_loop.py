"""Issue tickets in a loop until killed; print each one only after its commit has returned.

Run by tests/test_engine_crash.py, which kills this process with SIGKILL at random moments:

    python tests/helpers/issue_loop.py DB CONFIG PREFIX AT [--replay COMMAND_ID SERVICE] [--serve]

DB is the SQLite file, CONFIG the TOML config (its services get number_end 99999 and five-digit
labels so no label repeats, and no daily limit), PREFIX makes the command ids unique
(`PREFIX-i-SERVICE`), AT is the fixed ISO-8601 time of the clock. Services A…E take turns.
With --serve (used by tests/test_power_cut.py), each take is followed by a `next` at the
counters in turn (command id `PREFIX-i-nCOUNTER`), which finishes the ticket that counter held
and calls another: tickets and counters are updated, not only inserted. `command_sequence`
gives the command keys in the order they commit.

stdout, one flushed line each:
    ready                   the engine is open
    = LABEL TOKEN DUP       the reply to re-sending COMMAND_ID (DUP 1 if it was a repeat)
    LABEL TOKEN             a committed ticket (TOKEN is the status page token)
    @ COMMAND_ID            a committed counter command (--serve)
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

from queuebox.config import Config, load_config
from server.engine import Engine

SERVICES = "ABCDE"
KIOSK = "k1"
COUNTERS = "123456"  # the example config's


def loop_config(path: str | Path) -> Config:
    """The config at `path` with five-digit labels up to 99999 and no daily limit."""
    config = load_config(path)
    services = tuple(dataclasses.replace(s, number_end=99_999, label_format="{code}{number:05d}", daily_limit=0)
                     for s in config.services)
    return dataclasses.replace(config, services=services)


def command_sequence(prefix: str, serve: bool) -> Iterator[str]:
    """The `commands` keys the loop commits, in commit order (endless)."""
    i = 0
    while True:
        yield f"kiosk/{KIOSK}:{prefix}-{i}-{SERVICES[i % len(SERVICES)]}"
        if serve:
            counter = COUNTERS[i % len(COUNTERS)]
            yield f"counter/{counter}:{prefix}-{i}-n{counter}"
        i += 1


def _token(ticket: dict[str, Any]) -> str:
    return ticket["status_url"].rsplit("/", 1)[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db")
    parser.add_argument("config")
    parser.add_argument("prefix")
    parser.add_argument("at", type=datetime.fromisoformat)
    parser.add_argument("--replay", nargs=2, metavar=("COMMAND_ID", "SERVICE"))
    parser.add_argument("--max", type=int, default=200_000, help="stop after this many tickets")
    parser.add_argument("--serve", action="store_true", help="a counter calls `next` after each take")
    args = parser.parse_args(argv)

    engine = Engine(loop_config(args.config), args.db, clock=lambda: args.at)
    print("ready", flush=True)
    if args.replay:
        command_id, service = args.replay
        result = engine.take(command_id, KIOSK, service)
        if not result.ok:
            print(f"replay of {command_id} failed: {result.reply}", file=sys.stderr)
            return 2
        ticket = result.reply["ticket"]
        print(f"= {ticket['label']} {_token(ticket)} {int(result.duplicate)}", flush=True)
    for i in range(args.max):
        service = SERVICES[i % len(SERVICES)]
        result = engine.take(f"{args.prefix}-{i}-{service}", KIOSK, service)
        if not result.ok:
            print(f"take {args.prefix}-{i} failed: {result.reply}", file=sys.stderr)
            return 2
        ticket = result.reply["ticket"]
        print(f"{ticket['label']} {_token(ticket)}", flush=True)
        if args.serve:
            counter = COUNTERS[i % len(COUNTERS)]
            result = engine.counter(f"{args.prefix}-{i}-n{counter}", counter, "next")
            if not result.ok:
                print(f"next {args.prefix}-{i} failed: {result.reply}", file=sys.stderr)
                return 2
            print(f"@ {args.prefix}-{i}-n{counter}", flush=True)
    engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
