"""Migration 0003 on a database of the previous version: the session key leaves the database,
every account gets its own session generation, and tokens made before scopes keep every scope."""

from __future__ import annotations

import pytest

from server import api_tokens, store, users
from server.migrations import migrations
from tests.factories import MONDAY_9AM


@pytest.fixture
def old_db(tmp_path):
    """A database as the previous version left it: a key row, two accounts, a token."""
    db = store.open_database(tmp_path / "old.db")
    migrations.apply(db, stop_before="0003_sessions_and_scopes")
    db.execute("INSERT INTO settings (key, value, at, actor) VALUES ('web.secret_key', 'leaked', 'x', 'server')")
    for login in ("admin", "clerk1"):
        db.execute("INSERT INTO users (login, password_hash, role, counters, created_at) VALUES (?, 'h', 'admin', "
                   "'[]', 'x')", [login])
    db.execute("INSERT INTO api_tokens (name, token_hash, created_at) VALUES ('portal', ?, 'x')",
               [api_tokens.digest("qb_old")])
    yield db
    db.close()


def test_the_stored_session_key_is_removed(old_db):
    store.migrate(old_db)
    assert old_db.execute("SELECT count(*) FROM settings WHERE key = 'web.secret_key'").fetchone()[0] == 0


def test_every_account_gets_its_own_session_generation(old_db):
    store.migrate(old_db)
    gens = [u.session_gen for u in users.all_users(old_db)]
    assert len(set(gens)) == 2 and all(len(g) == 32 for g in gens)


def test_a_token_made_before_scopes_keeps_doing_everything(old_db):
    store.migrate(old_db)
    token = api_tokens.verify(old_db, "qb_old", MONDAY_9AM)
    assert token.scopes == api_tokens.ALL_SCOPES and token.expires_at is None
    assert token.may("issue") and token.may("read") and token.may("counter", "7")
