"""Benchmark: the web in the public hall (issue 14, findings 1 and 3), against a real
`queuebox server` process on a real Mosquitto.

Prints one JSON object on stdout (and writes it to --json-out FILE if given). Three phases of
--seconds each, the same probes in each, one after another on new connections (as a phone
would): `GET /healthz`, a clerk's Next in the counter console (a logged-in POST with the
page's CSRF token, as counter.js sends it; counters in turn) and a citizen's status page
`/t/<token>`. For each: p50/p99/max in ms and failures; and the server's resident memory and
thread count at the end of the phase (`rss_mb`, `peak_rss_mb`, `threads`):

- `idle`: nothing else: the floor;
- `slowloris`: --slow connections from this one address, each sending a partial
  ``GET /login`` and one header line every 5 s, reopened when the server cuts them off;
- `streams`: the live pages of a centre of --counters counters, each with its console (its
  clerk's login) and its paired rating tablet open, plus --overviews overview pages (managers,
  5 each), i.e. 2 × counters + overviews server-sent event streams, read as a browser does,
  while the clerks press Next at --next-rate presses per second in all (commits that every
  stream then renders). `events_received` counts what the streams delivered.

Targets (DESIGN.md §7): every probe's p99 <= 1 s in each phase; server RSS <= 60 MB.
The server runs with its defaults, except that the streams caps are set from the centre's size,
and with MALLOC_ARENA_MAX=2 as its systemd unit runs it.

    .venv/bin/python bench/web_hall.py [--seconds 25] [--slow 1000] [--counters 40] [--overviews 20]
                                       [--next-rate 2] [--json-out FILE] [--dir DIR]
"""

from __future__ import annotations

import argparse
import os
import selectors
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' real broker and server process helpers

from benchlib import emit, machine, percentile  # noqa: E402 (bench/ is on the path)
from server import store, users  # noqa: E402
from server.engine import Engine  # noqa: E402
from tests.factories import make_config  # noqa: E402
from tests.helpers.hall import Slowloris, WebSession  # noqa: E402
from tests.helpers.server_process import ServerProcess  # noqa: E402
from tests.mqtt_broker import Broker  # noqa: E402

TARGET_P99_S = 1.0
TARGET_RSS_MB = 60.0
PASSWORD = "bench password 1"
SERVICES = ["A", "B", "C", "D", "E"]
PROBE_PAUSE_S = 0.1  # between two rounds of probes: ~7 requests a second, a busy centre's staff and phones


def process_figures(pid: int) -> dict[str, float]:
    """Resident memory (MiB), its peak, and thread count of a process, from /proc/<pid>/status."""
    fields: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields["rss_mb" if key == "VmRSS" else "peak_rss_mb"] = round(int(value.split()[0]) / 1024, 1)
        elif key == "Threads":
            fields["threads"] = int(value)
    return fields


def summary(seconds: list[float], failures: int) -> dict[str, Any]:
    ordered = sorted(seconds) or [float("nan")]
    return {"count": len(seconds), "failures": failures, "p50_ms": round(percentile(ordered, 50) * 1000, 1),
            "p99_ms": round(percentile(ordered, 99) * 1000, 1), "max_ms": round(ordered[-1] * 1000, 1)}


class Site:
    """Broker, database (accounts, waiting tickets), server process, clerks logged in, tablets paired."""

    def __init__(self, folder: Path, counters: int, overviews: int) -> None:
        self.folder = folder
        self.broker = Broker(folder / "broker").start()
        self.counter_ids = [str(i) for i in range(1, counters + 1)]
        managers = max(1, -(-overviews // 5))
        self.config = make_config(
            services=[{"code": code, "name_vi": f"Lĩnh vực {code}", "number_end": 9999} for code in SERVICES],
            counters=[{"id": cid, "name": f"Quầy {cid}", "services": {SERVICES[i % len(SERVICES)]: 1}}
                      for i, cid in enumerate(self.counter_ids)],
            mqtt={"host": self.broker.host, "port": self.broker.port, "root": "benchhall"},
            database={"path": str(folder / "q.db")},
            server={"live_streams": 2 * counters + overviews + 20, "streams_per_user": 8})
        if hasattr(users, "HASH_METHOD"):  # the bench's accounts need not cost 0.2 s a login
            users.HASH_METHOD = "pbkdf2:sha256:1000"
        engine = Engine(self.config, folder / "q.db")
        db = store.open_database(folder / "q.db")
        for cid in self.counter_ids:
            users.add(db, f"clerk{cid}", PASSWORD, "clerk", [cid], engine.now())
        self.managers = [f"manager{i}" for i in range(managers)]
        for login in self.managers:
            users.add(db, login, PASSWORD, "manager", [], engine.now())
        db.close()
        self.status_paths = []
        for i in range(60 * counters):  # enough waiting tickets for every Next of the run
            reply = engine.take(f"bench-{i}", "kiosk1", SERVICES[i % len(SERVICES)]).reply
            self.status_paths.append("/t/" + reply["ticket"]["status_url"].rsplit("/t/", 1)[1])
        engine.close()
        self.server = ServerProcess(self.config, folder / "server").start()
        self.port = self.server.port
        self.clerks = {}
        for cid in self.counter_ids:
            web = WebSession(self.port)
            web.login(f"clerk{cid}", PASSWORD)
            web.page_csrf(f"/counter/{cid}")
            self.clerks[cid] = web
        self.tablets: dict[str, WebSession] = {}

    @property
    def pid(self) -> int:
        assert self.server.proc is not None
        return self.server.proc.pid

    def pair_tablets(self) -> None:
        """A manager pairs each counter's tablet, as on the tablet's pairing screen."""
        for cid in self.counter_ids:
            manager = WebSession(self.port)
            manager.login(self.managers[0], PASSWORD)
            manager.page_csrf(f"/counter/{cid}/rate")
            manager.post_form(f"/counter/{cid}/rate/pair", {})
            tablet = WebSession(self.port)
            tablet.cookies = {k: v for k, v in manager.cookies.items() if k.startswith("qb_tablet_")}
            self.tablets[cid] = tablet

    def stop(self) -> None:
        self.server.stop()
        self.broker.stop()


class Prober:
    """Rounds of the three probes, timed; Next goes round the counters."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.turn = 0

    def run(self, seconds: float) -> dict[str, Any]:
        times: dict[str, list[float]] = {"healthz": [], "next": [], "status": []}
        failures = dict.fromkeys(times, 0)
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            self.turn += 1
            cid = self.site.counter_ids[self.turn % len(self.site.counter_ids)]
            status_path = self.site.status_paths[self.turn % len(self.site.status_paths)]
            probes: dict[str, Callable[[], bool]] = {
                "healthz": lambda: WebSession(self.site.port).get("/healthz")[0] == 200,
                "next": lambda: self.site.clerks[cid].command(cid, "next")[0] == 200,
                "status": lambda: WebSession(self.site.port).get(status_path)[0] == 200,
            }
            for name, probe in probes.items():
                start = time.perf_counter()
                try:
                    good = probe()
                except OSError:
                    good = False
                times[name].append(time.perf_counter() - start)
                failures[name] += not good
            time.sleep(PROBE_PAUSE_S)
        return {name: summary(times[name], failures[name]) for name in times}


class Streams:
    """Open live streams, read by one thread as browsers read them."""

    def __init__(self) -> None:
        self.socks: list[socket.socket] = []
        self.statuses: list[int] = []
        self.events = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="streams", daemon=True)

    def open(self, web: WebSession, path: str) -> None:
        sock, status = web.open_stream(path)
        self.statuses.append(status)
        sock.setblocking(False)
        self.socks.append(sock)

    def _read(self) -> None:
        selector = selectors.DefaultSelector()
        for sock in self.socks:
            selector.register(sock, selectors.EVENT_READ)
        while not self._stop.is_set():
            for key, _mask in selector.select(timeout=0.5):
                try:
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    selector.unregister(key.fileobj)
                    continue
                self.events += data.count(b"event: update")
        selector.close()

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for sock in self.socks:
            sock.close()


def clerks_pressing(site: Site, rate: float, stop: threading.Event) -> threading.Thread:
    """Next at `rate` presses a second in all, counters in turn (the commits the streams render)."""
    def run() -> None:
        i = 0
        while not stop.wait(1 / rate):
            cid = site.counter_ids[(i * 7) % len(site.counter_ids)]
            i += 1
            try:
                site.clerks[cid].command(cid, "next")
            except OSError:
                pass
    thread = threading.Thread(target=run, name="clerks", daemon=True)
    thread.start()
    return thread


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=25.0, help="length of each phase")
    parser.add_argument("--slow", type=int, default=1000, help="slow-header connections of the slowloris phase")
    parser.add_argument("--counters", type=int, default=40)
    parser.add_argument("--overviews", type=int, default=20)
    parser.add_argument("--next-rate", type=float, default=2.0, help="Next presses a second during the streams phase")
    parser.add_argument("--json-out")
    parser.add_argument("--dir", help="folder for the broker, database and logs (default: a temporary one)")
    args = parser.parse_args()

    from server.httpd import raise_open_files_limit
    raise_open_files_limit()  # this process holds the attack's sockets
    os.environ.setdefault("MALLOC_ARENA_MAX", "2")  # as systemd/queuebox-server.service runs the server
    folder = Path(args.dir or tempfile.mkdtemp(prefix="web-hall-"))
    folder.mkdir(parents=True, exist_ok=True)
    site = Site(folder, args.counters, args.overviews)
    phases: dict[str, Any] = {}
    try:
        site.pair_tablets()
        prober = Prober(site)
        phases["idle"] = {**prober.run(args.seconds), **process_figures(site.pid)}

        attack = Slowloris(site.port, args.slow, every_s=5.0).start()
        try:
            opened = attack.open_now()
            phases["slowloris"] = {**prober.run(args.seconds), **process_figures(site.pid),
                                   "attack_open_at_start": opened, "attack_open_at_end": attack.open_now(),
                                   "attack_reopened": attack.reopened}
        finally:
            attack.stop()

        streams = Streams()
        for cid in site.counter_ids:
            streams.open(site.clerks[cid], f"/counter/{cid}/events")
            streams.open(site.tablets[cid], f"/counter/{cid}/rate/events")
        for i in range(args.overviews):
            manager = WebSession(site.port)
            manager.login(site.managers[i // 5], PASSWORD)
            streams.open(manager, "/admin/events")
        streams.start()
        stop = threading.Event()
        pressing = clerks_pressing(site, args.next_rate, stop)
        try:
            probes = prober.run(args.seconds)
            figures = process_figures(site.pid)
        finally:
            stop.set()
            pressing.join(timeout=10)
            events_before_close = streams.events
            streams.close()
        phases["streams"] = {**probes, **figures, "streams_open": streams.statuses.count(200),
                             "streams_refused": len(streams.statuses) - streams.statuses.count(200),
                             "events_received": events_before_close}
    finally:
        site.stop()

    worst_p99_ms = max(phase[name]["p99_ms"] for phase in phases.values() for name in ("healthz", "next", "status"))
    failures = sum(phase[name]["failures"] for phase in phases.values() for name in ("healthz", "next", "status"))
    peak_rss = max(phase["rss_mb"] for phase in phases.values())
    result = {
        "bench": "web_hall",
        "settings": {"malloc_arena_max": os.environ.get("MALLOC_ARENA_MAX"), "seconds": args.seconds,
                     "slow": args.slow, "counters": args.counters,
                     "overviews": args.overviews, "streams": 2 * args.counters + args.overviews,
                     "next_rate": args.next_rate},
        "targets": {"p99_ms": TARGET_P99_S * 1000, "rss_mb": TARGET_RSS_MB},
        "floor": phases["idle"],
        "phases": phases,
        "meets": {"p99": worst_p99_ms <= TARGET_P99_S * 1000 and failures == 0, "rss": peak_rss <= TARGET_RSS_MB},
        "worst_p99_ms": worst_p99_ms,
        "machine": machine(),
    }
    return emit(result, args.json_out)


if __name__ == "__main__":
    sys.exit(main())
