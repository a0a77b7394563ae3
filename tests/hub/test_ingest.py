"""Ingesting batches into a real PostgreSQL: idempotent, in any order, gaps asked again,
a centre that went back kept apart, a refused batch kept whole."""

from __future__ import annotations

from dataclasses import replace

import psycopg
import pytest

from hub.ingest import current_ack, ingest, refuse
from queuebox.hub_protocol import Batch
from tests.hub.batches import batch, event, ticket_story


@pytest.fixture
def conn(hub_dsn):
    with psycopg.connect(hub_dsn) as connection:
        yield connection


def _count(conn, centre="c1", epoch=None):
    if epoch is None:
        return conn.execute("SELECT count(*) FROM events WHERE centre = %s", [centre]).fetchone()[0]
    return conn.execute("SELECT count(*) FROM events WHERE centre = %s AND epoch = %s", [centre, epoch]).fetchone()[0]


def test_a_batch_is_stored_and_acknowledged_with_its_last_event(conn):
    done = ingest(conn, batch("c1", 1, 10))
    assert (done.ack.epoch, done.ack.seq, done.inserted) == (1, 10, 10)
    assert done.ack.at == batch("c1", 10, 10).events[0].at
    assert _count(conn) == 10


def test_a_replayed_batch_changes_nothing_and_gets_the_same_ack(conn):
    first = ingest(conn, batch("c1", 1, 10))
    again = ingest(conn, batch("c1", 1, 10))
    assert again.ack == first.ack and again.inserted == 0 and not again.forked
    assert _count(conn) == 10


def test_a_gap_is_asked_again_and_filled_out_of_order(conn):
    ingest(conn, batch("c1", 1, 10))
    ahead = ingest(conn, batch("c1", 21, 30))
    assert (ahead.ack.seq, ahead.ack.resend_from) == (10, 11)
    filled = ingest(conn, batch("c1", 11, 20))
    assert (filled.ack.seq, filled.ack.resend_from) == (30, None)
    assert _count(conn) == 30


def test_tickets_rebuilt_out_of_order_equal_those_rebuilt_in_order(hub_dsn, postgres):
    story = ticket_story(1, 1, "A001") + ticket_story(6, 2, "A002")
    parts = [Batch("c1", 0, 1, tuple(story[:3])), Batch("c1", 0, 4, tuple(story[3:7])), Batch("c1", 0, 8, tuple(story[7:]))]
    results = []
    for order in (parts, parts[::-1]):
        name = postgres.create_database()
        with psycopg.connect(postgres.dsn(name)) as c:
            from hub.schema import migrate
            migrate(c)
            for part in order:
                ingest(c, part)
            results.append(c.execute("SELECT id, status, issued_at, first_called_at, finished_at, ended_by "
                                     "FROM tickets ORDER BY id").fetchall()
                           + c.execute("SELECT ticket, score FROM ratings ORDER BY ticket").fetchall())
        postgres.drop_database(name)
    assert results[0] == results[1]
    assert [r[1] for r in results[0][:2]] == ["done", "done"]


def _reasoned_story() -> list:
    """Two tickets rated 4 and 3; the first given a reason (a second one, refused at the centre,
    never reaches an event), the second a reason in the next batch after its rating."""
    story = ticket_story(1, 1, "A001") + ticket_story(6, 2, "A002")
    story[4] = replace(story[4], data={"score": 4, "label": "A001"})
    story[9] = replace(story[9], data={"score": 3, "label": "A002"})
    return [*story[:5], event(11, "rating_reason", ticket=1, minute=11, score=4, reason="Chờ quá lâu"),
            *story[5:], event(12, "rating_reason", ticket=2, minute=12, score=3, reason="Thái độ chưa tốt"),
            event(13, "rating_reason", ticket=1, minute=13, score=4, reason="Một lý do thứ hai")]


@pytest.mark.parametrize("cuts", [(5, 11), (10, 11), (1, 12)])
def test_a_reason_reaches_its_rating_whichever_batch_brings_it_and_in_any_order(hub_dsn, postgres, cuts):
    events = sorted(_reasoned_story(), key=lambda e: e.seq)
    bounds = [0, *cuts, len(events)]
    parts = [Batch("c1", 0, events[lo].seq, tuple(events[lo:hi])) for lo, hi in zip(bounds, bounds[1:])]
    results = []
    for order in (parts, parts[::-1], [parts[1], parts[2], parts[0]]):
        name = postgres.create_database()
        with psycopg.connect(postgres.dsn(name)) as c:
            from hub.schema import migrate
            migrate(c)
            for part in order:
                ingest(c, part)
            results.append(c.execute("SELECT ticket, score, reason FROM ratings ORDER BY ticket").fetchall())
        postgres.drop_database(name)
    assert results[0] == [(1, 4, "Chờ quá lâu"), (2, 3, "Thái độ chưa tốt")]
    assert results[1] == results[0] and results[2] == results[0]


def test_a_centre_restored_from_an_old_backup_gets_a_new_epoch_and_the_old_history_stays(conn):
    ingest(conn, batch("c1", 1, 50))
    # The backup ended at seq 30; what the centre writes afterwards is another history.
    other = Batch("c1", 1, 31, tuple(replace(e, type="resumed") for e in batch("c1", 31, 40).events))
    done = ingest(conn, other)
    assert done.forked and (done.ack.epoch, done.ack.seq) == (2, 40)
    assert _count(conn, epoch=1) == 50 and _count(conn, epoch=2) == 40
    assert conn.execute("SELECT count(*) FROM events WHERE epoch = 2 AND seq > 30 AND type = 'resumed'").fetchone()[0] == 10
    # A late batch of the old history does not fork again: it is stale.
    late = ingest(conn, batch("c1", 41, 50, epoch=1))
    assert late.stale and late.ack.epoch == 2 and _count(conn, epoch=2) == 40


def test_a_refused_batch_is_kept_whole_and_changes_no_event(conn):
    ingest(conn, batch("c1", 1, 5))
    ack = refuse(conn, "c1", b"\x00garbage", "not zlib data")
    assert (ack.epoch, ack.seq) == (1, 5)
    assert conn.execute("SELECT reason, payload FROM refused_batches").fetchone() == ("not zlib data", b"\x00garbage")
    assert _count(conn) == 5


def test_an_insert_that_fails_midway_leaves_nothing_half_written(conn):
    ingest(conn, batch("c1", 1, 5))
    bad = Batch("c1", 0, 6, (event(6), replace(event(7), data={"x": "\x00"})))  # PostgreSQL refuses NUL in JSONB
    with pytest.raises(psycopg.Error):
        ingest(conn, bad)
    assert _count(conn) == 5 and current_ack(conn, "c1").seq == 5
