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

CENTRE = "xa-an-phu"


@pytest.fixture(scope="module")
def seeded_centre(tmp_path_factory):
    path = tmp_path_factory.mktemp("centre") / "queuebox.db"
    days = [(MONDAY + timedelta(days=d), 60) for d in range(0, 12) if (MONDAY + timedelta(days=d)).weekday() < 5]
    simulate_days(path, days, seed=11)
    return path


@pytest.fixture
def at_hub(seeded_centre, hub_dsn):
    """A connection to a hub database holding the seeded centre, sent in batches of 97."""
    source = EventSource(seeded_centre)
    try:
        with psycopg.connect(hub_dsn) as conn:
            save_setup(conn, CENTRE, source.setup())
            first = 1
            while events := source.events(first, 97):
                ingest(conn, Batch(CENTRE, 0, first, tuple(events)))
                first = events[-1].seq + 1
            yield conn
    finally:
        source.close()


@pytest.fixture
def at_centre(seeded_centre):
    db = open_readonly(seeded_centre)
    yield db
    db.close()


@pytest.mark.parametrize("by", DIMENSIONS)
def test_the_month_at_the_hub_equals_the_centres_report(at_hub, at_centre, by):
    month = Period.month(MONDAY)
    at_hub_report = centre_reports(at_hub, CENTRE, month, by)[by]
    own = reports(at_centre, month, by)[by]
    assert own.totals.issued > 100 and own.totals.rated > 10
    assert at_hub_report == own


@pytest.mark.parametrize("by", DIMENSIONS)
def test_the_reasons_of_the_month_at_the_hub_equal_the_centres(at_hub, at_centre, by):
    month = Period.month(MONDAY)
    at_hub_reasons = reason_counts(at_hub, CENTRE, month, by)
    own = centre_reason_counts(at_centre, month, by)
    assert len(own.reasons) >= 2 and own.totals.total() > 10
    assert at_hub_reasons == own
