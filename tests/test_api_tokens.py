"""API tokens: made once and shown once, stored as a hash, verified, revoked; and the
`queuebox api-token` command."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from queuebox.cli import main
from server import api_tokens, store
from tests.factories import MONDAY_9AM


@pytest.fixture
def db(tmp_path):
    database = store.open_database(tmp_path / "tokens.db")
    store.migrate(database)
    yield database
    database.close()


def test_a_token_is_stored_only_as_its_hash(db):
    token = api_tokens.create(db, "portal", "admin", MONDAY_9AM, scopes=api_tokens.ALL_SCOPES)
    assert token.startswith("qb_") and len(token) == 3 + 43
    row = db.execute("SELECT * FROM api_tokens").fetchone()
    assert token not in repr(row)
    assert row[1] == hashlib.sha256(token.encode()).hexdigest()
    assert api_tokens.verify(db, token, MONDAY_9AM).name == "portal"


def test_tokens_are_random(db):
    assert api_tokens.create(db, "a", None, MONDAY_9AM, scopes=["read"]) != \
        api_tokens.create(db, "b", None, MONDAY_9AM, scopes=["read"])


@pytest.mark.parametrize("candidate", [None, "", "qb_", "qb_wrong", "not-even-prefixed", "qb_" + "x" * 200])
def test_anything_else_is_refused(db, candidate):
    api_tokens.create(db, "portal", None, MONDAY_9AM, scopes=api_tokens.ALL_SCOPES)
    assert api_tokens.verify(db, candidate, MONDAY_9AM) is None


def test_a_token_with_one_character_changed_is_refused(db):
    token = api_tokens.create(db, "portal", None, MONDAY_9AM, scopes=api_tokens.ALL_SCOPES)
    changed = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert api_tokens.verify(db, changed, MONDAY_9AM) is None


def test_revoking_stops_the_token(db):
    token = api_tokens.create(db, "portal", None, MONDAY_9AM, scopes=api_tokens.ALL_SCOPES)
    api_tokens.revoke(db, "portal")
    assert api_tokens.verify(db, token, MONDAY_9AM) is None
    assert api_tokens.list_tokens(db) == []
    with pytest.raises(api_tokens.ApiTokenError, match="no token called 'portal'"):
        api_tokens.revoke(db, "portal")


@pytest.mark.parametrize("name", ["", "Portal", "-x", "has space", "x" * 29, "é", "a/b"])
def test_names_are_checked(db, name):
    with pytest.raises(api_tokens.ApiTokenError) as caught:
        api_tokens.create(db, name, None, MONDAY_9AM, scopes=api_tokens.ALL_SCOPES)
    assert caught.value.field == "name"


def test_a_name_is_used_once(db):
    first = api_tokens.create(db, "portal", None, MONDAY_9AM, scopes=api_tokens.ALL_SCOPES)
    with pytest.raises(api_tokens.ApiTokenError, match="exists already"):
        api_tokens.create(db, "portal", None, MONDAY_9AM, scopes=api_tokens.ALL_SCOPES)
    assert api_tokens.verify(db, first, MONDAY_9AM).name == "portal"


def test_use_is_recorded_at_most_once_a_minute(db):
    token = api_tokens.create(db, "portal", "admin", MONDAY_9AM, scopes=api_tokens.ALL_SCOPES)
    assert api_tokens.list_tokens(db)[0].last_used_at is None
    api_tokens.verify(db, token, MONDAY_9AM)
    api_tokens.verify(db, token, MONDAY_9AM + timedelta(seconds=59))
    assert api_tokens.list_tokens(db)[0].last_used_at == "2026-11-23T02:00:00+00:00"
    api_tokens.verify(db, token, MONDAY_9AM + timedelta(minutes=1))
    listed = api_tokens.list_tokens(db)[0]
    assert listed == api_tokens.ApiToken("portal", "2026-11-23T02:00:00+00:00", "admin", "2026-11-23T02:01:00+00:00")


# --- the command line -------------------------------------------------------------------------------

def test_cli_adds_lists_and_revokes(tmp_path, capsys):
    path = str(tmp_path / "cli.db")
    assert main(["api-token", "--database", path, "add", "portal", "--scope", "issue,counter:1", "--scope", "read",
                 "--expires", "2099-12-31"]) == 0
    out, err = capsys.readouterr()
    token = out.strip()
    assert token.startswith("qb_") and "shown this once" in err
    db = store.open_database(path)
    try:
        assert api_tokens.verify(db, token, MONDAY_9AM).name == "portal"
    finally:
        db.close()

    assert main(["api-token", "--database", path, "list"]) == 0
    out = capsys.readouterr().out
    assert "portal" in out and token not in out and "cli/" in out
    assert "issue counter:1 read" in out and "2100-01-01T00:00:00" in out
    assert "never" not in out  # the verify above was a use

    assert main(["api-token", "--database", path, "add", "portal", "--scope", "read"]) == 2
    assert "exists already" in capsys.readouterr().err

    assert main(["api-token", "--database", path, "revoke", "portal"]) == 0
    assert "revoked" in capsys.readouterr().out
    assert main(["api-token", "--database", path, "revoke", "portal"]) == 2
    assert "no token called 'portal'" in capsys.readouterr().err
    main(["api-token", "--database", path, "list"])
    assert "portal" not in capsys.readouterr().out


def test_cli_refuses_a_bad_name(tmp_path, capsys):
    assert main(["api-token", "--database", str(tmp_path / "cli.db"), "add", "Bad Name", "--scope", "read"]) == 2
    assert capsys.readouterr().err.startswith("name: 1 to 28 characters")
