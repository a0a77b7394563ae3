"""`queuebox user add|passwd|list`, as a technician runs it."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from queuebox.clock import utc_now
from server import store, users
from server.login_guard import LoginGuard

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config" / "queuebox.example.toml"


def queuebox(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "queuebox.cli", *args], cwd=ROOT, input=stdin,
                          capture_output=True, text=True, timeout=60)


def user(db: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return queuebox("user", "--config", str(EXAMPLE), "--database", str(db), *args, stdin=stdin)


def attempt(db: object, login: str, password: str) -> users.LoginResult:
    """A login from a new address each time: only the account's own lock applies."""
    return users.authenticate(db, login, password, utc_now(), address="192.0.2.1",
                              guard=LoginGuard(5, 20, timedelta(hours=1)), account_attempts=5,
                              lockout=timedelta(hours=1))


def can_log_in(db_path: Path, login: str, password: str) -> bool:
    db = store.open_database(db_path)
    try:
        return attempt(db, login, password).user is not None
    finally:
        db.close()


def test_add_list_and_change_password(tmp_path):
    db = tmp_path / "q.db"
    added = user(db, "add", "lan", "--role", "clerk", "--counters", "1,2", "--password-stdin", stdin="mật khẩu tốt\n")
    assert added.returncode == 0, added.stderr
    assert "added lan (clerk)" in added.stdout
    listed = user(db, "list")
    assert "lan" in listed.stdout and "1,2" in listed.stdout and "active" in listed.stdout
    assert can_log_in(db, "lan", "mật khẩu tốt")
    changed = user(db, "passwd", "lan", "--password-stdin", stdin="another secret\n")
    assert changed.returncode == 0, changed.stderr
    assert not can_log_in(db, "lan", "mật khẩu tốt")
    assert can_log_in(db, "lan", "another secret")


def test_passwd_unlocks_a_locked_account(tmp_path):
    db = tmp_path / "q.db"
    user(db, "add", "boss", "--role", "admin", "--password-stdin", stdin="first password\n")
    conn = store.open_database(db)
    for _ in range(5):
        attempt(conn, "boss", "wrong")
    assert attempt(conn, "boss", "first password").locked_until
    conn.close()
    assert "active, locked until" in user(db, "list").stdout
    user(db, "passwd", "boss", "--password-stdin", stdin="second password\n")
    assert can_log_in(db, "boss", "second password")


def test_bad_input_is_refused_with_the_field_named(tmp_path):
    db = tmp_path / "q.db"
    cases = [
        (("add", "Bad Name", "--role", "admin", "--password-stdin"), "long enough", "login:"),
        (("add", "lan", "--role", "clerk", "--password-stdin"), "long enough", "counters: a clerk needs"),
        (("add", "lan", "--role", "clerk", "--counters", "99", "--password-stdin"), "long enough", "unknown counter"),
        (("add", "lan", "--role", "admin", "--password-stdin"), "short", "password: at least 8"),
        (("passwd", "nobody", "--password-stdin"), "long enough", "no user"),
    ]
    for args, password, message in cases:
        result = user(db, *args, stdin=password + "\n")
        assert result.returncode == 2, args
        assert message in result.stderr, (args, result.stderr)
    assert "lan" not in user(db, "list").stdout


def test_a_login_cannot_be_added_twice(tmp_path):
    db = tmp_path / "q.db"
    assert user(db, "add", "lan", "--role", "manager", "--password-stdin", stdin="long enough\n").returncode == 0
    again = user(db, "add", "lan", "--role", "manager", "--password-stdin", stdin="long enough\n")
    assert again.returncode == 2 and "already exists" in again.stderr
