"""Benchmark: recovery after power blips of several lengths, against the real processes
(the library is tests/chaos/blip.py, shared with the test in `make test`).

One site (Mosquitto with persistence as in production, `queuebox server`, a simulated kiosk,
the keypad of counter 1, two displays drawing headless). For each outage length, a power cut
(broker, server and the display on the same Pi killed together, then started again together)
and an outage of the broker alone; before each, the broker's file is made older than the
database, so there is a stale board to get wrong. Measured from the moment the broker accepts
connections again: each display's first confirmed board at the database's head, the first
ticket issued and printed, the keypad's Next applied; and frames that presented a stale board
as the current one (must be 0).

The floor: how long `queuebox server` takes from its start to being connected (its live
"online"), with the broker up all along — a power cut cannot recover faster than that.

Prints one JSON object on stdout: target, floor, one entry per blip, and `violations`
(exit status 1 if any). Progress goes to stderr.

    .venv/bin/python bench/power_blip.py [--outages 0.5,2,5,10,20,45] [--kinds power_cut,broker] [--dir DIR]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchlib import emit, machine  # noqa: E402 (bench/ is on the path)
from queuebox.bus import Message  # noqa: E402
from tests.chaos.blip import READY_S, TARGET_S, Tool, blip_plan, run_blip, start_site  # noqa: E402
from tests.chaos.site import Site, wait_until  # noqa: E402

FLOOR_RUNS = 3


def server_start_floor(site: Site, tool: Tool) -> list[float]:
    """Seconds from starting `queuebox server` (broker up) to its live "online", FLOOR_RUNS times."""
    topic = site.topics.status("server")
    times = []
    for _ in range(FLOOR_RUNS):
        site.server.kill()
        tool.drain()
        seen = len(tool.messages)
        started = time.monotonic()
        site.server.start()

        def online() -> float | None:
            return next((time.monotonic() for m in tool.drain()[seen:]
                         if isinstance(m, Message) and m.topic == topic and m.payload == b"online" and not m.retain),
                        None)
        at = wait_until(online, READY_S, step_s=0.005)
        if isinstance(at, float):
            times.append(round(at - started, 3))
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outages", default="0.5,2,5,10,20,45", help="outage lengths in s, comma-separated")
    parser.add_argument("--kinds", default="power_cut,broker", help="power_cut, broker or both (comma-separated)")
    parser.add_argument("--dir", help="folder for the site's files and logs (default: a temporary one, kept)")
    parser.add_argument("--json-out", metavar="FILE", help="also write the JSON to FILE")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("queuebox.bus").setLevel(logging.ERROR)  # the bench's own client loses every broker
    outages = [float(x) for x in args.outages.split(",") if x.strip()]
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = set(kinds) - {"power_cut", "broker"}
    if unknown:
        parser.error(f"unknown kinds: {', '.join(sorted(unknown))}")
    folder = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="queuebox-blip-"))

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)
    site, tool = start_site(folder, blip_plan())
    tool_box = [tool]
    started = time.monotonic()
    try:
        floor = server_start_floor(site, tool_box[0])
        log(f"floor: server start to connected {floor} s")
        blips = []
        for outage in outages:
            for kind in kinds:
                blip = run_blip(site, outage, tool_box, power_cut=kind == "power_cut", turn=len(blips), log=log)
                blips.append(blip.summary())
                log(f"  {blips[-1]}")
    finally:
        tool_box[0].close()
        site.stop()
    violations = []
    for b in blips:
        what = f"{b['killed']} down {b['outage_s']:g} s"
        late = {k: v for k, v in {**{f"display {d}": t for d, t in b["displays_s"].items()},
                                  "first ticket issued": b["ticket_issued_s"], "keypad": b["keypad_s"]}.items()
                if v is None or v > TARGET_S}
        if late:
            violations.append(f"{what}: later than {TARGET_S:g} s: {late}")
        if any(b["stale_frames_shown_as_current"].values()):
            violations.append(f"{what}: a stale board shown as current: {b['stale_frames_shown_as_current']}")
    worst = [max(v for v in (*b["displays_s"].values(), b["ticket_issued_s"], b["keypad_s"]) if v is not None)
             for b in blips if any(v is not None for v in b["displays_s"].values())]
    result = {
        "target_s": TARGET_S,
        "floor": {"server_start_to_connected_s": floor,
                  "median_s": statistics.median(floor) if floor else None},
        "worst_s": {"power_cut": max((w for w, b in zip(worst, blips) if b["killed"] != "broker"), default=None),
                    "broker": max((w for w, b in zip(worst, blips) if b["killed"] == "broker"), default=None)},
        "blips": blips,
        "violations": violations,
        "wall_s": round(time.monotonic() - started, 1),
        "folder": str(folder),
        "machine": machine(),
    }
    emit(result, args.json_out)
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
