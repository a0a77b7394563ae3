"""The province's month reports are kept while nothing they are made of changed, and made
again as soon as something did (hub/report_cache.py), on the three centres of
tests/hub/province.py in a real PostgreSQL. Each kept report equals one computed afresh."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from hub.ingest import ingest
from hub import report_cache
from hub.report_cache import ReportCache, keep_last_month_ready, last_month, make_ready
from hub.store import centre, province_reason_counts, province_reports, save_setup
from queuebox.figures import Period
from queuebox.hub_protocol import Batch
from tests.hub.batches import event, ticket_story
from tests.hub.province import CENTRES, TODAY
from tests.report_fixtures import MONDAY, ZONE

MONTH = Period.month(TODAY)  # November 2026: the centres are on its 27th, so it is still open
CLOSED = Period.day(MONDAY)  # the 23rd: every centre has opened a business day two days later
CENTRE = CENTRES[0].id


@pytest.fixture
def conn(province_dsn):
    with psycopg.connect(province_dsn, autocommit=True) as connection:
        yield connection


def send(conn: psycopg.Connection, centre_id: str, make_events) -> None:
    """The centre's next batch: `make_events(first_seq)` → its events."""
    found = centre(conn, centre_id)
    events = make_events(found.acked + 1)
    ingest(conn, Batch(centre_id, found.epoch, found.acked + 1, tuple(events)))
    assert centre(conn, centre_id).acked == events[-1].seq


def test_a_closed_day_is_kept_while_the_centres_send_later_days(conn):
    cache = ReportCache()
    first = cache.province_reports(conn, CLOSED, "centre")
    reasons = cache.province_reason_counts(conn, CLOSED, "service")
    send(conn, CENTRE, lambda seq: [event(seq, "paused")])
    again = cache.province_reports(conn, CLOSED, "centre")
    assert again is first
    assert again == province_reports(conn, CLOSED, "centre")
    assert cache.province_reason_counts(conn, CLOSED, "service") is reasons
    assert reasons == province_reason_counts(conn, CLOSED, "service") and reasons.totals.total() > 0


def test_the_open_month_is_made_again_when_a_batch_brings_a_ticket(conn):
    cache = ReportCache()
    before = cache.province_reports(conn, MONTH, "centre", "service")
    assert cache.province_reports(conn, MONTH, "centre", "service") is before  # nothing arrived
    # issued … rated at 09:01 … 09:05 of the 23rd, carried by the centre's next seqs
    send(conn, CENTRE, lambda seq: [replace(e, seq=seq + n) for n, e in enumerate(ticket_story(1, 90_001, "A901"))])
    after = cache.province_reports(conn, MONTH, "centre", "service")
    assert after["centre"].totals.issued == before["centre"].totals.issued + 1
    assert after == province_reports(conn, MONTH, "centre", "service")


def test_a_changed_target_makes_a_closed_month_again(conn):
    cache = ReportCache()
    before = cache.province_reports(conn, CLOSED, "service")["service"]
    setup = centre(conn, CENTRE).setup
    services = [{**s, "target_wait_min": 0} for s in setup["services"]]  # nobody is called within 0 minutes
    save_setup(conn, CENTRE, {**setup, "services": services})
    after = cache.province_reports(conn, CLOSED, "service")["service"]
    assert after.totals.within_target < before.totals.within_target
    assert after == province_reports(conn, CLOSED, "service")["service"]


def test_a_centre_whose_history_starts_again_makes_a_closed_month_again(conn):
    cache = ReportCache()
    before = cache.province_reports(conn, CLOSED, "centre")["centre"]
    reasons_before = cache.province_reason_counts(conn, CLOSED, "centre")
    # The centre restored an old backup: its seq 1 differs from the hub's, a new epoch begins.
    ingest(conn, Batch(CENTRE, 0, 1, (event(1, "paused", minute=3),)))
    assert centre(conn, CENTRE).epoch == 2
    after = cache.province_reports(conn, CLOSED, "centre")["centre"]
    assert next(r for r in after.rows if r.key == CENTRE).issued == 0
    assert after.totals.issued < before.totals.issued
    assert after == province_reports(conn, CLOSED, "centre")["centre"]
    reasons_after = cache.province_reason_counts(conn, CLOSED, "centre")
    assert CENTRE in reasons_before.groups and CENTRE not in reasons_after.groups
    assert reasons_after == province_reason_counts(conn, CLOSED, "centre")


def test_a_centre_still_sending_a_closed_days_backlog_keeps_it_open(conn):
    cache = ReportCache()
    day = Period.day(TODAY - timedelta(days=2))  # the 25th: the centres are on the 27th, two days on
    assert cache.province_reports(conn, day, "centre") is cache.province_reports(conn, day, "centre")
    yesterday = Period.day(TODAY - timedelta(days=1))  # a rating of its last ticket may still come
    first = cache.province_reports(conn, yesterday, "centre")
    send(conn, CENTRE, lambda seq: [event(seq, "paused")])
    assert cache.province_reports(conn, yesterday, "centre") is not first


def test_only_the_last_reports_asked_are_kept(conn):
    cache = ReportCache(kept=2)
    first = cache.province_reports(conn, CLOSED, "centre")
    cache.province_reports(conn, CLOSED, "service")
    assert cache.province_reports(conn, CLOSED, "centre") is first
    cache.province_reports(conn, CLOSED, "day")  # the third: the least recently asked goes
    assert cache.province_reports(conn, CLOSED, "service") is not None
    assert cache.province_reports(conn, CLOSED, "centre") is not first


# --- last month made ahead (the dashboard's thread) ------------------------------------------------

@pytest.mark.parametrize("now, month", [
    ("2026-12-01T00:30:00+07:00", "2026-11"),  # 30 minutes into December in Hanoi: still 30/11 in UTC
    ("2027-01-15T10:00:00+07:00", "2026-12"),
    ("2026-11-30T23:59:00+07:00", "2026-10")])
def test_last_month_is_the_month_before_today_in_the_provinces_time_zone(now, month):
    period = last_month(datetime.fromisoformat(now).astimezone(timezone.utc), ZONE)
    assert f"{period.start:%Y-%m}" == month


def test_a_month_made_ahead_opens_without_being_made_again(province_dsn, conn, monkeypatch, quick_hashes):
    from hub.web import create_app
    from tests.factories import make_config
    from tests.hub.test_dashboard import log_in

    cache = ReportCache()
    make_ready(cache, conn, MONTH)

    def made_again(*args):
        raise AssertionError("the page made the month again")
    monkeypatch.setattr(report_cache, "province_reports", made_again)
    monkeypatch.setattr(report_cache, "province_reason_counts", made_again)
    app = create_app(province_dsn, make_config(), secret_key="test secret", reports=cache)
    client = app.test_client()
    log_in(client, "xem")
    for by, row in (("centre", CENTRE), ("service", "Đất đai")):
        response = client.get(f"/reports?month={MONTH.start:%Y-%m}&by={by}")
        assert response.status_code == 200 and row in response.get_data(as_text=True)


def test_a_hub_database_away_is_logged_and_the_pages_make_the_month_themselves(caplog):
    stop = threading.Event()
    stop.set()  # one round, then return
    keep_last_month_ready(ReportCache(), "host=127.0.0.1 port=1 dbname=nothing", ZONE, stop,
                          lambda: datetime(2026, 12, 3, tzinfo=timezone.utc))
    assert "could not make last month's reports ahead" in caplog.text
