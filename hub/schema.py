"""The hub's PostgreSQL schema as numbered migrations, and their runner.

A released migration is never edited: change the schema by adding one at the end. The runner
applies the pending ones in order, each in its own transaction with its `schema_migrations`
row, under an advisory lock so two hub processes starting together do not race; a database
that has migrations this version does not know (a newer hub wrote it) is refused.

Tables (the dashboard reads them through hub/store.py):
- `centres`: one row per centre account seen; its current `epoch` (history), the last time it
  was heard from, its retained `live` summary and `setup` (services and counters).
- `epochs`: one history of a centre. A centre restored from an old backup starts a new epoch
  rather than overwrite the hub's copy. `acked` is the highest seq up to which every event is
  here; `day` the business day in force at `acked` (from its `day_opened` events).
- `coverage`: seq ranges received beyond `acked` (batches that came before a gap was filled).
- `events`: every event as the centre committed it, keyed (centre, epoch, seq).
- `tickets`, `ratings`: rebuilt from the events up to `acked`, in seq order (a rating with the
  reason given with it, if any).
- `refused_batches`: batches the hub could not accept, kept whole for an operator.
- `accounts`: who may log in to the province dashboard, with which role (hub/accounts.py).
"""

from __future__ import annotations

from typing import Callable

import psycopg

from queuebox.errors import SchemaTooNewError

LOCK_KEY = 0x71756575  # the advisory lock of migrations ("queu")

MIGRATIONS: list[tuple[str, str]] = [
    ("0001_initial", """
        CREATE TABLE centres (
            id TEXT PRIMARY KEY,
            epoch INTEGER NOT NULL DEFAULT 1,
            first_heard TIMESTAMPTZ NOT NULL DEFAULT now(),
            last_heard TIMESTAMPTZ NOT NULL DEFAULT now(),
            live JSONB,
            live_at TIMESTAMPTZ,
            setup JSONB
        );
        CREATE TABLE epochs (
            centre TEXT NOT NULL REFERENCES centres (id),
            epoch INTEGER NOT NULL,
            acked BIGINT NOT NULL DEFAULT 0,
            day DATE,
            started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            forked_at BIGINT,  -- the first seq that differed from the previous epoch
            PRIMARY KEY (centre, epoch)
        );
        CREATE TABLE coverage (
            centre TEXT NOT NULL,
            epoch INTEGER NOT NULL,
            lo BIGINT NOT NULL,
            hi BIGINT NOT NULL,
            PRIMARY KEY (centre, epoch, lo),
            FOREIGN KEY (centre, epoch) REFERENCES epochs (centre, epoch)
        );
        CREATE TABLE events (
            centre TEXT NOT NULL,
            epoch INTEGER NOT NULL,
            seq BIGINT NOT NULL,
            at TEXT NOT NULL,            -- as the centre wrote it: local time with its offset
            at_utc TIMESTAMPTZ NOT NULL,
            type TEXT NOT NULL,
            ticket BIGINT,
            counter TEXT,
            actor TEXT,
            data JSONB NOT NULL,
            received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            PRIMARY KEY (centre, epoch, seq),
            FOREIGN KEY (centre, epoch) REFERENCES epochs (centre, epoch)
        );
        CREATE TABLE tickets (
            centre TEXT NOT NULL,
            epoch INTEGER NOT NULL,
            id BIGINT NOT NULL,
            day DATE NOT NULL,
            service TEXT NOT NULL,
            label TEXT NOT NULL,
            priority BOOLEAN NOT NULL,
            status TEXT NOT NULL,
            queue TEXT NOT NULL,
            counter TEXT,
            issued_at TEXT NOT NULL,
            first_called_at TEXT,
            called_at TEXT,
            started_at TEXT,
            finished_at TEXT,
            transferred BOOLEAN NOT NULL DEFAULT false,
            ended_by TEXT,
            PRIMARY KEY (centre, epoch, id)
        );
        CREATE INDEX tickets_day ON tickets (centre, epoch, day);
        CREATE TABLE ratings (
            centre TEXT NOT NULL,
            epoch INTEGER NOT NULL,
            ticket BIGINT NOT NULL,
            counter TEXT,
            score SMALLINT NOT NULL CHECK (score BETWEEN 1 AND 4),
            at TEXT NOT NULL,
            PRIMARY KEY (centre, epoch, ticket)
        );
        CREATE TABLE refused_batches (
            id BIGSERIAL PRIMARY KEY,
            centre TEXT NOT NULL,
            received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            reason TEXT NOT NULL,
            payload BYTEA NOT NULL
        );
    """),
    # a priority ticket's group (the `issued` event's "group"), for the reports by group
    ("0002_priority_groups", "ALTER TABLE tickets ADD COLUMN priority_group TEXT;"),
    ("0003_dashboard_accounts", """
        CREATE TABLE accounts (
            login TEXT PRIMARY KEY,
            password_hash TEXT NOT NULL,
            role TEXT NOT NULL,
            active BOOLEAN NOT NULL DEFAULT true,
            failed_logins INTEGER NOT NULL DEFAULT 0,
            locked_until TIMESTAMPTZ,
            session_gen TEXT NOT NULL,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now()
        );
    """),
    # Why a citizen who rated 3 or 4 was not satisfied (the centre's `ratings.reason`), from the
    # `rating_reason` events; the ratings folded before this migration get theirs from the stored events.
    ("0004_rating_reasons", """
        ALTER TABLE ratings ADD COLUMN reason TEXT;
        UPDATE ratings r SET reason = given.reason FROM (
            SELECT DISTINCT ON (e.centre, e.epoch, e.ticket) e.centre, e.epoch, e.ticket, e.data->>'reason' AS reason
            FROM events e JOIN epochs p ON p.centre = e.centre AND p.epoch = e.epoch
            WHERE e.type = 'rating_reason' AND e.ticket IS NOT NULL AND jsonb_typeof(e.data->'reason') = 'string'
              AND e.seq <= p.acked
            ORDER BY e.centre, e.epoch, e.ticket, e.seq) given
        WHERE r.centre = given.centre AND r.epoch = given.epoch AND r.ticket = given.ticket;
    """),
]
KNOWN = [name for name, _ in MIGRATIONS]


def applied(conn: psycopg.Connection) -> list[str]:
    """Names of the migrations already applied, in order ([] on an empty database)."""
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return []
    return [row[0] for row in conn.execute("SELECT name FROM schema_migrations ORDER BY name")]


def migrate(conn: psycopg.Connection, migrations: list[tuple[str, str]] | None = None,
            log: Callable[[str], None] | None = None) -> list[str]:
    """Apply the pending migrations; returns their names. SchemaTooNewError on a newer schema.

    `migrations` is for tests (the default is MIGRATIONS); `conn` must not be in a transaction.
    """
    migrations = MIGRATIONS if migrations is None else migrations
    known = {name for name, _ in migrations}
    done: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                     "name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        present = applied(conn)
        unknown = [name for name in present if name not in known]
        if unknown:
            raise SchemaTooNewError(
                f"this hub database was written by a newer queuebox (unknown migrations: {', '.join(unknown)}); "
                "upgrade queuebox on this hub")
        for name, sql in migrations:
            if name in present:
                continue
            conn.execute(sql)  # type: ignore[arg-type]
            conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", [name])
            done.append(name)
            if log:
                log(name)
    return done
