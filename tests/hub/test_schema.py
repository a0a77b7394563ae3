"""The hub's migrations on a real PostgreSQL: from empty, again, and a newer schema refused."""

from __future__ import annotations

import psycopg
import pytest

from hub.schema import KNOWN, MIGRATIONS, applied, migrate
from queuebox.errors import SchemaTooNewError


def _tables(conn: psycopg.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def test_migrate_from_empty_makes_every_table(pg_dsn):
    with psycopg.connect(pg_dsn) as conn:
        assert migrate(conn) == KNOWN
        assert {"centres", "epochs", "coverage", "events", "tickets", "ratings", "refused_batches",
                "schema_migrations"} <= _tables(conn)
        assert applied(conn) == KNOWN


def test_migrate_again_changes_nothing(pg_dsn):
    with psycopg.connect(pg_dsn) as conn:
        migrate(conn)
        assert migrate(conn) == []


def test_a_later_migration_is_applied_on_an_older_schema(pg_dsn):
    later = MIGRATIONS + [("0099_note", "ALTER TABLE centres ADD COLUMN note TEXT")]
    with psycopg.connect(pg_dsn) as conn:
        migrate(conn)
        assert migrate(conn, later) == ["0099_note"]
        conn.execute("UPDATE centres SET note = 'x'")


def test_a_newer_schema_is_refused_and_left_as_it_is(pg_dsn):
    later = MIGRATIONS + [("0099_note", "ALTER TABLE centres ADD COLUMN note TEXT")]
    with psycopg.connect(pg_dsn) as conn:
        migrate(conn, later)
        with pytest.raises(SchemaTooNewError, match="0099_note"):
            migrate(conn)
        assert applied(conn) == [*KNOWN, "0099_note"]


def test_a_failing_migration_leaves_no_half_schema(pg_dsn):
    broken = MIGRATIONS + [("0099_broken", "CREATE TABLE half (x INT); SELECT no_such_function()")]
    with psycopg.connect(pg_dsn) as conn:
        with pytest.raises(psycopg.errors.UndefinedFunction):
            migrate(conn, broken)
        assert "half" not in _tables(conn) and "centres" not in _tables(conn)


def test_the_reasons_migration_gives_ratings_already_folded_their_reason_from_the_stored_events(pg_dsn):
    before = [m for m in MIGRATIONS if m[0] < "0004_rating_reasons"]
    with psycopg.connect(pg_dsn) as conn:
        migrate(conn, before)
        conn.execute("INSERT INTO centres (id) VALUES ('c1')")
        conn.execute("INSERT INTO epochs (centre, epoch, acked) VALUES ('c1', 1, 4)")
        for seq, type_, ticket, data in [(1, "rated", 1, '{"score": 4}'), (2, "rating_reason", 1, '{"reason": "Chờ lâu"}'),
                                         (3, "rated", 2, '{"score": 3}'), (4, "rating_reason", 1, '{"reason": "Khác"}'),
                                         (5, "rating_reason", 2, '{"reason": "Not folded yet"}')]:
            conn.execute("INSERT INTO events (centre, epoch, seq, at, at_utc, type, ticket, data) "
                         "VALUES ('c1', 1, %s, '2026-11-23T09:00:00+07:00', now(), %s, %s, %s)", [seq, type_, ticket, data])
        conn.execute("INSERT INTO ratings (centre, epoch, ticket, score, at) VALUES ('c1', 1, 1, 4, 'x'), ('c1', 1, 2, 3, 'x')")
        conn.commit()
        assert migrate(conn) == ["0004_rating_reasons"]
        # the first reason counts; one past `acked` is folded with its batch, not by the migration
        assert conn.execute("SELECT ticket, reason FROM ratings ORDER BY ticket").fetchall() == [(1, "Chờ lâu"), (2, None)]
