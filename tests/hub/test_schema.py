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
