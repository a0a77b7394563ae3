"""Web accounts: who may log in, with which role, at which counters.

Roles: `admin` (everything, users included), `manager` (administration of services,
counters, the board and reports; any counter console), `clerk` (only the consoles of the
counters listed for them). Passwords are stored as Werkzeug PBKDF2-SHA256 hashes (600,000
rounds: ~0.2 s a login, without scrypt's 32 MB of memory on a small Pi). After
`server.login_attempts` failed logins in a row an account is locked for
`server.lockout_min` minutes; a successful login resets the count.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from werkzeug.security import check_password_hash, generate_password_hash

from queuebox.clock import parse_iso

ROLES = ("admin", "manager", "clerk")
HASH_METHOD = "pbkdf2:sha256:600000"
MIN_PASSWORD = 8
_LOGIN = re.compile(r"[a-z0-9][a-z0-9._-]{1,31}")
# Checked against when the login does not exist, so a wrong login costs the same time as a wrong password.
_DUMMY_HASH = generate_password_hash("not a password of anyone", method=HASH_METHOD)


class UserError(ValueError):
    """A user could not be added or changed; `field` names the form field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class User:
    login: str
    role: str
    counters: tuple[str, ...] = ()
    active: bool = True

    def may_use_counter(self, counter_id: str) -> bool:
        return self.role in ("admin", "manager") or counter_id in self.counters

    @property
    def is_manager(self) -> bool:
        return self.role in ("admin", "manager")


def check_login(login: str) -> str | None:
    """A problem with `login` as a new account name, or None."""
    if not _LOGIN.fullmatch(login):
        return "2 to 32 characters: lowercase letters, digits, '.', '_' or '-', starting with a letter or digit"
    return None


def check_password(password: str) -> str | None:
    if len(password) < MIN_PASSWORD:
        return f"at least {MIN_PASSWORD} characters"
    return None


def _user(row: dict[str, Any]) -> User:
    return User(row["login"], row["role"], tuple(json.loads(row["counters"] or "[]")), bool(row["active"]))


def get(db: Any, login: str) -> User | None:
    row = next(db.query("SELECT * FROM users WHERE login = ?", [login]), None)
    return _user(row) if row else None


def all_users(db: Any) -> list[User]:
    return [_user(r) for r in db.query("SELECT * FROM users ORDER BY login")]


def add(db: Any, login: str, password: str, role: str, counters: list[str] | tuple[str, ...], now: datetime,
        known_counters: set[str] | None = None) -> User:
    """Create an account; raises UserError naming the field at fault."""
    problem = check_login(login)
    if problem:
        raise UserError("login", problem)
    if get(db, login) is not None:
        raise UserError("login", f"{login!r} already exists")
    _check_role(role, counters, known_counters)
    problem = check_password(password)
    if problem:
        raise UserError("password", problem)
    db.execute("INSERT INTO users (login, password_hash, role, counters, created_at) VALUES (?, ?, ?, ?, ?)",
               [login, generate_password_hash(password, method=HASH_METHOD), role, json.dumps(list(counters)), now.isoformat(timespec="seconds")])
    return User(login, role, tuple(counters))


def update(db: Any, login: str, role: str, counters: list[str] | tuple[str, ...], active: bool,
           known_counters: set[str] | None = None) -> User:
    _check_role(role, counters, known_counters)
    if get(db, login) is None:
        raise UserError("login", f"no user {login!r}")
    db.execute("UPDATE users SET role = ?, counters = ?, active = ? WHERE login = ?",
               [role, json.dumps(list(counters)), int(active), login])
    return User(login, role, tuple(counters), active)


def set_password(db: Any, login: str, password: str) -> None:
    problem = check_password(password)
    if problem:
        raise UserError("password", problem)
    if get(db, login) is None:
        raise UserError("login", f"no user {login!r}")
    db.execute("UPDATE users SET password_hash = ?, failed_logins = 0, locked_until = NULL WHERE login = ?",
               [generate_password_hash(password, method=HASH_METHOD), login])


def _check_role(role: str, counters: list[str] | tuple[str, ...], known: set[str] | None) -> None:
    if role not in ROLES:
        raise UserError("role", f"role must be one of {', '.join(ROLES)}")
    unknown = [c for c in counters if known is not None and c not in known]
    if unknown:
        raise UserError("counters", f"unknown counter(s): {', '.join(unknown)}")
    if role == "clerk" and not counters:
        raise UserError("counters", "a clerk needs at least one counter")


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    locked_until: datetime | None = None  # set when the account is locked (now or by this failure)


def authenticate(db: Any, login: str, password: str, now: datetime, attempts: int, lockout: timedelta) -> LoginResult:
    """Check a login; counts failures and locks the account after `attempts` in a row."""
    row = next(db.query("SELECT * FROM users WHERE login = ?", [login]), None)
    if row is None:
        check_password_hash(_DUMMY_HASH, password)
        return LoginResult(None)
    locked = parse_iso(row["locked_until"]) if row["locked_until"] else None
    if locked is not None and locked > now:
        return LoginResult(None, locked)
    if row["active"] and check_password_hash(row["password_hash"], password):
        db.execute("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE login = ?", [login])
        return LoginResult(_user(row))
    failures = row["failed_logins"] + 1
    until = now + lockout if failures >= attempts else None
    db.execute("UPDATE users SET failed_logins = ?, locked_until = ? WHERE login = ?",
               [0 if until else failures, until.isoformat(timespec="seconds") if until else None, login])
    return LoginResult(None, until)
