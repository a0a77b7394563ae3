"""Three centres at the hub, as the dashboard's tests see them: each a real engine's busy days
of November 2026 on its own SQLite file, sent through the real ingest path (hub/ingest.py)
with its setup, and a live summary made by the uplink's own code (EventSource.live and
server.uplink.faults) in the middle of a day with citizens still waiting."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import psycopg

from hub import accounts
from hub.ingest import ingest
from hub.store import save_live, save_setup
from queuebox.hub_protocol import Batch
from server.engine import Engine
from server.uplink import faults
from server.uplink_source import EventSource
from tests.factories import FakeClock
from tests.report_fixtures import MONDAY, ZONE, Simulation, report_config

PASSWORD = "correct horse 42"
TODAY = MONDAY + timedelta(days=4)  # Friday 27/11/2026: the day of the live summaries
NOW = datetime.combine(TODAY, datetime.min.time(), ZONE).replace(hour=10, minute=30)


@dataclass(frozen=True)
class SeededCentre:
    id: str
    path: Path
    waiting: int  # tickets taken this morning and still waiting at NOW
    statuses: dict[str, str]  # the devices' retained status, as the uplink reads them
    silent_min: int = 0  # the hub last heard from it this many minutes ago (its link is down)


CENTRES = (
    SeededCentre("phuong-ben-thanh", Path(), waiting=14, statuses={"kiosk-k1": "fault paper_out: the printer is out of paper"}),
    SeededCentre("xa-an-phu", Path(), waiting=0, statuses={"kiosk-k1": "online"}),
    SeededCentre("xa-tan-thanh", Path(), waiting=5, statuses={"display-d1": "offline"}, silent_min=95),
)


def build_centre(folder: Path, centre: SeededCentre, seed: int) -> SeededCentre:
    """A centre's database: four busy days, then TODAY's morning until 10:00, when the counters
    stop calling and the last `centre.waiting` citizens (who came just then) are still waiting."""
    path = folder / f"{centre.id}.db"
    clock = FakeClock(datetime.combine(MONDAY, datetime.min.time(), ZONE))
    engine = Engine(report_config(), path, clock=clock)
    try:
        sim = Simulation(engine, clock, seed)
        for d in range(4):
            sim.run_day(MONDAY + timedelta(days=d), 50 + 10 * seed)
        sim.run_day(TODAY, 20 + 5 * seed + centre.waiting, closes="10:00", last_ticket="09:55", late=centre.waiting)
    finally:
        engine.close()
    return SeededCentre(centre.id, path, centre.waiting, centre.statuses, centre.silent_min)


def send_to_hub(conn: psycopg.Connection, centre: SeededCentre, *, batch_size: int = 250) -> None:
    """What the centre's uplink sends: setup, every event in batches, and the live summary at NOW."""
    source = EventSource(centre.path)
    try:
        save_setup(conn, centre.id, source.setup())
        first = 1
        while events := source.events(first, batch_size):
            ingest(conn, Batch(centre.id, 0, first, tuple(events)))
            first = events[-1].seq + 1
        live = source.live(NOW)
        live.update(faults=faults(centre.statuses), software="1.0-test")
        save_live(conn, centre.id, live)
        if centre.silent_min:
            conn.execute("UPDATE centres SET last_heard = now() - make_interval(mins => %s) WHERE id = %s",
                         [centre.silent_min, centre.id])
    finally:
        source.close()


def add_accounts(conn: psycopg.Connection) -> None:
    accounts.add(conn, "tinh", PASSWORD, "province_admin")
    accounts.add(conn, "xem", PASSWORD, "province_viewer")


def november(day: date = MONDAY) -> str:
    return f"{day:%Y-%m}"
