"""Benchmark: the province dashboard's pages with a province's centres, on a private PostgreSQL
and the real waitress listener of `queuebox hub-web`.

One centre's month (November 2026, --tickets a business day, then the first two business days
of December, as when the month's report is made) is made by the real engine and stored through
the real ingest path (hub/ingest.py); the hub database then holds --centres copies of it (its
tickets, ratings, setup and live summary under other centre ids, by SQL), so the month report
reads --centres × that month. Each page is fetched --requests times, one after another by a
logged-in province viewer: p50/p99/max in ms; the floor is `GET /healthz`.

The month's pages are measured twice: the first fetch computes the month (`first_ms`: what
`queuebox hub-web` does ahead for last month on a thread of its own, and every fetch of a month
still open takes), the others are served from the closed month kept (hub/report_cache.py: p50/p99). The XLSX is the
page's month by centre: fetched after the page, its first fetch is already a kept one.

Targets: the overview's rows (polled every 5 s by every open overview) p99 <= 300 ms; a centre's
page p99 <= 300 ms; a closed month across the province (page, CSV, XLSX) p99 <= 300 ms once
computed, and computing it <= 10 s: a report opened a few times a month, not polled.

    .venv/bin/python bench/dashboard.py [--centres 170] [--tickets 120] [--requests 20] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import http.cookiejar
import re
import shutil
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' simulated centre

from bench.benchlib import emit, machine, percentile  # noqa: E402

TARGETS_MS = {"overview_rows": 300, "centre": 300, "month_by_centre": 300, "month_by_field": 300, "month_xlsx": 300}
COMPUTE_TARGET_MS = 10_000  # the first fetch of a month
MONTH = date(2026, 11, 1)
PASSWORD = "bench password 1"


def business_days(first: date) -> list[date]:
    days = [first + timedelta(days=d) for d in range(31) if (first + timedelta(days=d)).month == first.month]
    return [d for d in days if d.weekday() < 5]


def seed(dsn: str, folder: Path, centres: int, tickets: int) -> None:
    """One real centre's month through the real ingest path, then copies of it as other centres."""
    import psycopg

    from hub import accounts
    from hub.ingest import ingest
    from hub.store import save_live, save_setup
    from queuebox.hub_protocol import Batch
    from server import users
    from server.uplink_source import EventSource
    from tests.report_fixtures import simulate_days

    path = folder / "centre.db"
    december = [d for d in business_days(date(2026, 12, 1))][:2]  # the month is closed at the hub
    simulate_days(path, [(d, tickets) for d in business_days(MONTH) + december], seed=3)
    source = EventSource(path)
    with psycopg.connect(dsn, autocommit=True) as conn:
        try:
            save_setup(conn, "c000", source.setup())
            first = 1
            while events := source.events(first, 500):
                ingest(conn, Batch("c000", 0, first, tuple(events)))
                first = events[-1].seq + 1
            from datetime import datetime, timezone
            live = source.live(datetime.now(timezone.utc))
            live.update(faults={"kiosk-k1": "fault paper_out: out of paper"}, software="bench")
            save_live(conn, "c000", live)
        finally:
            source.close()
        with conn.transaction():
            conn.execute("INSERT INTO centres (id, epoch, live, live_at, setup) SELECT 'c' || lpad(n::text, 3, '0'), "
                         "epoch, live, live_at, setup FROM centres, generate_series(1, %s) n WHERE id = 'c000'",
                         [centres - 1])
            conn.execute("INSERT INTO epochs (centre, epoch, acked, day) SELECT c.id, e.epoch, e.acked, e.day "
                         "FROM epochs e, centres c WHERE e.centre = 'c000' AND c.id <> 'c000'")
            conn.execute("INSERT INTO tickets SELECT c.id, t.epoch, t.id, t.day, t.service, t.label, t.priority, t.status, "
                         "t.queue, t.counter, t.issued_at, t.first_called_at, t.called_at, t.started_at, t.finished_at, "
                         "t.transferred, t.ended_by FROM tickets t, centres c WHERE t.centre = 'c000' AND c.id <> 'c000'")
            conn.execute("INSERT INTO ratings SELECT c.id, r.epoch, r.ticket, r.counter, r.score, r.at, r.reason "
                         "FROM ratings r, centres c WHERE r.centre = 'c000' AND c.id <> 'c000'")
        conn.execute("ANALYZE")
        users.HASH_METHOD = "pbkdf2:sha256:1000"  # the login is not what is measured
        accounts.add(conn, "bench", PASSWORD, "province_viewer")


class Viewer:
    """A logged-in browser, as urllib with cookies."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        page = self.get("/login").decode()
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        form = urllib.parse.urlencode({"login": "bench", "password": PASSWORD, "csrf_token": token}).encode()
        self.opener.open(self.base + "/login", data=form, timeout=30).close()

    def get(self, path: str) -> bytes:
        with self.opener.open(self.base + path, timeout=120) as response:
            body = response.read()
            if response.url.endswith("/login") and path != "/login":
                raise RuntimeError(f"{path}: not logged in")
            return bytes(body)


def times(viewer: Viewer, path: str, requests: int) -> dict[str, Any]:
    start = time.perf_counter()
    viewer.get(path)  # also the warm-up
    first_ms = (time.perf_counter() - start) * 1000
    taken = []
    size = 0
    for _ in range(requests):
        start = time.perf_counter()
        size = len(viewer.get(path))
        taken.append((time.perf_counter() - start) * 1000)
    taken.sort()
    return {"first_ms": round(first_ms, 1), "p50_ms": round(percentile(taken, 50), 1),
            "p99_ms": round(percentile(taken, 99), 1), "max_ms": round(taken[-1], 1), "bytes": size}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--centres", type=int, default=170, help="centres of the province (default: 170)")
    parser.add_argument("--tickets", type=int, default=120, help="tickets a business day of each (default: 120)")
    parser.add_argument("--requests", type=int, default=20, help="fetches of each page (default: 20)")
    parser.add_argument("--json-out", metavar="FILE", help="also write the JSON here")
    args = parser.parse_args(argv)

    from hub.pgcluster import Cluster, find_pg_bin
    from hub.schema import migrate
    from hub.web_main import dashboard_listener
    from tests.factories import make_config

    bin_dir = find_pg_bin()
    if bin_dir is None:
        print("PostgreSQL is not installed (apt install postgresql)", file=sys.stderr)
        return 2
    folder = Path(tempfile.mkdtemp(prefix="queuebox-bench-dashboard-"))
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="queuebox-bench-pg-")), bin_dir).init().start()
    try:
        cluster.execute('CREATE DATABASE "hub"')
        dsn = cluster.dsn("hub")
        import psycopg
        with psycopg.connect(dsn, autocommit=True) as conn:
            migrate(conn)
        started = time.perf_counter()
        seed(dsn, folder, args.centres, args.tickets)
        seeded_s = time.perf_counter() - started
        listener = dashboard_listener(make_config(hub={"database": dsn}), "127.0.0.1", 0, secret_key="bench")
        thread = threading.Thread(target=listener.run, daemon=True)
        thread.start()
        try:
            viewer = Viewer(f"http://127.0.0.1:{listener.port}")
            month = f"month={MONTH:%Y-%m}"
            pages = {"overview_rows": "/overview/rows?sort=waiting", "centre": f"/centre/c{args.centres // 2:03d}",
                     "month_by_centre": f"/reports?{month}&by=centre", "month_by_field": f"/reports?{month}&by=service",
                     "month_xlsx": f"/reports/export.xlsx?{month}&by=centre"}
            floor = times(viewer, "/healthz", args.requests)
            results = {name: times(viewer, path, args.requests if name in ("overview_rows", "centre")
                                   else max(3, args.requests // 5)) for name, path in pages.items()}
        finally:
            listener.close()
            thread.join(timeout=10)
    finally:
        cluster.stop("immediate")
        shutil.rmtree(cluster.directory, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)
    result = {
        "bench": "dashboard",
        "settings": {"centres": args.centres, "tickets_per_day": args.tickets, "business_days": len(business_days(MONTH)),
                     "tickets_in_month": args.centres * args.tickets * len(business_days(MONTH)),
                     "requests": args.requests, "seeded_s": round(seeded_s, 1)},
        "targets": {**{f"{name}_p99_ms": ms for name, ms in TARGETS_MS.items()},
                    "month_first_ms": COMPUTE_TARGET_MS},
        "floor": {"healthz": floor},
        "pages": results,
        "meets": {**{name: results[name]["p99_ms"] <= ms for name, ms in TARGETS_MS.items()},
                  **{f"{name}_first": results[name]["first_ms"] <= COMPUTE_TARGET_MS
                     for name in results if name.startswith("month")}},
        "machine": machine(),
    }
    return emit(result, args.json_out)


if __name__ == "__main__":
    sys.exit(main())
