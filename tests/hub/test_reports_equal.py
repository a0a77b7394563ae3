"""A month at the hub equals the centre's own report, figure for figure: the hub rebuilds the
tickets from the events and feeds the same definitions (server/reports.py), the reasons given
with poor ratings included."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from hub.ingest import ingest
from hub.store import centre_reports, reason_counts, save_setup
from queuebox.hub_protocol import Batch
from server.reports import DIMENSIONS, Period, open_readonly, reports
from server.reports import reason_counts as centre_reason_counts
from server.uplink_source import EventSource
from tests.report_fixtures import MONDAY, simulate_days


@pytest.fixture(scope="module")
def seeded_centre(tmp_path_factory):
    path = tmp_path_factory.mktemp("centre") / "queuebox.db"
    days = [(MONDAY + timedelta(days=d), 60) for d in range(0, 12) if (MONDAY + timedelta(days=d)).weekday() < 5]
    simulate_days(path, days, seed=11)
    return path


def _send_all(conn, source, centre, batch_size):
    first = 1
    while True:
        events = source.events(first, batch_size)
        if not events:
            return
        ingest(conn, Batch(centre, 0, first, tuple(events)))
        first = events[-1].seq + 1


@pytest.mark.parametrize("by", DIMENSIONS)
def test_the_month_at_the_hub_equals_the_centres_report(seeded_centre, hub_dsn, by):
    month = Period.month(MONDAY)
    source = EventSource(seeded_centre)
    try:
        with psycopg.connect(hub_dsn) as conn:
            save_setup(conn, "xa-an-phu", source.setup())
            _send_all(conn, source, "xa-an-phu", batch_size=97)
            at_hub = centre_reports(conn, "xa-an-phu", month, by)[by]
    finally:
        source.close()
    db = open_readonly(seeded_centre)
    try:
        at_centre = reports(db, month, by)[by]
    finally:
        db.close()
    assert at_centre.totals.issued > 100 and at_centre.totals.rated > 10
    assert at_hub == at_centre


@pytest.mark.parametrize("by", DIMENSIONS)
def test_the_reasons_of_the_month_at_the_hub_equal_the_centres(seeded_centre, hub_dsn, by):
    month = Period.month(MONDAY)
    source = EventSource(seeded_centre)
    try:
        with psycopg.connect(hub_dsn) as conn:
            save_setup(conn, "xa-an-phu", source.setup())
            _send_all(conn, source, "xa-an-phu", batch_size=97)
            at_hub = reason_counts(conn, "xa-an-phu", month, by)
    finally:
        source.close()
    db = open_readonly(seeded_centre)
    try:
        at_centre = centre_reason_counts(db, month, by)
    finally:
        db.close()
    assert len(at_centre.reasons) >= 2 and at_centre.totals.total() > 10
    assert at_hub == at_centre
