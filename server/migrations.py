"""The database schema as sqlite-utils migrations. A released migration is never edited:
change the schema by adding a new one at the end."""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from queuebox.errors import SchemaTooNewError

migrations = Migrations("queuebox")
KNOWN: list[str] = []  # names of the migrations this version has, in order


def _migration(name: str):  # type: ignore[no-untyped-def]
    KNOWN.append(name)
    return migrations(name=name)

_INITIAL = [
    """CREATE TABLE services (
        code TEXT PRIMARY KEY,
        name_vi TEXT NOT NULL,
        name_en TEXT NOT NULL DEFAULT '',
        number_start INTEGER NOT NULL,
        number_end INTEGER NOT NULL,
        label_format TEXT NOT NULL,
        daily_limit INTEGER NOT NULL DEFAULT 0,
        open_days TEXT NOT NULL DEFAULT '[]',
        hours TEXT NOT NULL DEFAULT '[]',
        target_wait_min INTEGER NOT NULL,
        service_min INTEGER NOT NULL
    )""",
    """CREATE TABLE counters (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        services TEXT NOT NULL DEFAULT '{}',
        state TEXT NOT NULL DEFAULT 'idle' CHECK (state IN ('idle', 'calling', 'serving', 'paused')),
        ticket INTEGER,
        pause_reason TEXT,
        normal_streak INTEGER,
        last_done INTEGER
    )""",
    """CREATE TABLE days (
        day TEXT PRIMARY KEY,
        opened_at TEXT NOT NULL
    )""",
    """CREATE TABLE tickets (
        id INTEGER PRIMARY KEY,
        day TEXT NOT NULL,
        service TEXT NOT NULL,
        number INTEGER NOT NULL,
        label TEXT NOT NULL,
        priority INTEGER NOT NULL DEFAULT 0,
        token TEXT NOT NULL UNIQUE,
        kiosk TEXT,
        status TEXT NOT NULL CHECK (status IN ('waiting', 'called', 'serving', 'done', 'no_show', 'cancelled')),
        queue TEXT NOT NULL,
        front INTEGER NOT NULL DEFAULT 0,
        issued_at TEXT NOT NULL,
        called_at TEXT,
        started_at TEXT,
        finished_at TEXT,
        counter TEXT,
        call_count INTEGER NOT NULL DEFAULT 0,
        transferred_from TEXT,
        UNIQUE (day, service, number)
    )""",
    "CREATE INDEX tickets_day_status ON tickets (day, status)",
    """CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        type TEXT NOT NULL,
        ticket INTEGER,
        counter TEXT,
        actor TEXT,
        data TEXT NOT NULL DEFAULT '{}'
    )""",
    "CREATE INDEX events_ticket ON events (ticket)",
    """CREATE TABLE commands (
        id TEXT PRIMARY KEY,
        at TEXT NOT NULL,
        reply TEXT NOT NULL
    )""",
    """CREATE TABLE ratings (
        ticket INTEGER PRIMARY KEY REFERENCES tickets (id),
        counter TEXT NOT NULL,
        score INTEGER NOT NULL CHECK (score BETWEEN 1 AND 4),
        at TEXT NOT NULL
    )""",
    """CREATE TABLE users (
        login TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('admin', 'manager', 'clerk')),
        counters TEXT NOT NULL DEFAULT '[]',
        created_at TEXT NOT NULL
    )""",
]


@_migration("0001_initial")
def _initial(db: Database) -> None:
    for statement in _INITIAL:
        db.execute(statement)


_WEB = [
    "ALTER TABLE services ADD COLUMN override TEXT NOT NULL DEFAULT 'hours'",
    # Settings changed from the web administration; they take precedence over the config file.
    """CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        at TEXT NOT NULL,
        actor TEXT
    )""",
    "ALTER TABLE users ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE users ADD COLUMN locked_until TEXT",
    "ALTER TABLE users ADD COLUMN active INTEGER NOT NULL DEFAULT 1",
    """CREATE TABLE api_tokens (
        name TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        created_by TEXT,
        last_used_at TEXT
    )""",
    # Rating tablets paired to a counter: the tablet keeps the token in a cookie, we keep its hash.
    """CREATE TABLE tablets (
        token_hash TEXT PRIMARY KEY,
        counter TEXT NOT NULL,
        paired_at TEXT NOT NULL,
        paired_by TEXT
    )""",
]


@_migration("0002_web")
def _web(db: Database) -> None:
    for statement in _WEB:
        db.execute(statement)


_SESSIONS = [
    # The session signing key moves to a 0600 file (server.secret_key_file): the row was readable
    # by anyone who could read the database or a backup. Sessions signed with it end.
    "DELETE FROM settings WHERE key = 'web.secret_key'",
    # A user's sessions carry this random value; changing it ends them all (logout, new password,
    # new role, disabled). The old key is gone, so every session starts afresh anyway.
    "ALTER TABLE users ADD COLUMN session_gen TEXT NOT NULL DEFAULT ''",
    "UPDATE users SET session_gen = lower(hex(randomblob(16)))",
    # API token scopes (space-separated: issue, read, counter:<id>, counter:*) and expiry.
    # Tokens made before scopes existed could do everything, and keep doing it.
    "ALTER TABLE api_tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT 'issue read counter:*'",
    "ALTER TABLE api_tokens ADD COLUMN expires_at TEXT",
]


@_migration("0003_sessions_and_scopes")
def _sessions(db: Database) -> None:
    for statement in _SESSIONS:
        db.execute(statement)


_PROCEDURES = [
    # The centre's catalogue of administrative procedures, as it publishes them (issue: procedures
    # and fees in plain sight). `service` is a service code of the configuration (services live in
    # the config and its web overrides, so no foreign key); texts are kept as published.
    """CREATE TABLE procedures (
        id INTEGER PRIMARY KEY,
        code TEXT UNIQUE,
        service TEXT NOT NULL,
        name_vi TEXT NOT NULL,
        name_en TEXT NOT NULL DEFAULT '',
        documents TEXT NOT NULL DEFAULT '',
        processing_time TEXT NOT NULL DEFAULT '',
        fee TEXT NOT NULL DEFAULT '',
        result_place TEXT NOT NULL DEFAULT '',
        portal_url TEXT NOT NULL DEFAULT '',
        on_the_spot INTEGER NOT NULL DEFAULT 0 CHECK (on_the_spot IN (0, 1)),
        position INTEGER NOT NULL DEFAULT 0,
        hidden INTEGER NOT NULL DEFAULT 0 CHECK (hidden IN (0, 1)),
        updated_at TEXT NOT NULL
    )""",
    "CREATE INDEX procedures_service ON procedures (service, position)",
]


@_migration("0004_procedures")
def _procedures(db: Database) -> None:
    for statement in _PROCEDURES:
        db.execute(statement)


_RATING_REASONS = [
    # Why a citizen who rated 3 or 4 was not satisfied: the Vietnamese text of the reason as the
    # configured list had it when chosen (reports group by it); NULL when none was given.
    "ALTER TABLE ratings ADD COLUMN reason TEXT",
]


@_migration("0005_rating_reasons")
def _rating_reasons(db: Database) -> None:
    for statement in _RATING_REASONS:
        db.execute(statement)


_PRIORITY_GROUPS = [
    # The code of a priority ticket's group (config priority_groups, e.g. CT for the elderly) as it
    # was when issued; NULL for a ticket of no group, priority or not.
    "ALTER TABLE tickets ADD COLUMN priority_group TEXT",
]


@_migration("0006_priority_groups")
def _priority_groups(db: Database) -> None:
    for statement in _PRIORITY_GROUPS:
        db.execute(statement)


def check_not_newer(db: Database) -> None:
    """Refuse a database that has migrations this version does not know (written by a newer queuebox)."""
    unknown = [m.name for m in migrations.applied(db) if m.name not in KNOWN]
    if unknown:
        raise SchemaTooNewError(
            f"this database was written by a newer queuebox (unknown migrations: {', '.join(unknown)}); "
            "upgrade queuebox or restore a backup made with this version")


def apply_migrations(db: Database) -> list[str]:
    """Apply pending migrations; returns their names. Refuses a newer schema."""
    check_not_newer(db)
    pending = [m.name for m in migrations.pending(db)]
    migrations.apply(db)
    return pending
