"""Web accounts: who may log in, with which role, at which counters.

Roles: `admin` (everything, users included), `manager` (administration of services,
counters, the board and reports; any counter console), `clerk` (only the consoles of the
counters listed for them). Passwords are stored as Werkzeug PBKDF2-SHA256 hashes (600,000
rounds: ~0.2 s a login, without scrypt's 32 MB of memory on a small Pi).

Guessing is limited in two places, each attempt counted *before* the slow hash so that
parallel guesses cannot slip past: per address (`server.login_guard`: `server.login_attempts`
for one account, `server.address_attempts` over all) and per account, here, in the database:
`server.account_attempts` failures in a row from all addresses together lock the account for
`server.lockout_min` minutes (an admin may `unlock` it sooner). A success resets the count.
Unknown, disabled and wrong all cost one hash and give the same answer.

Each account has a `session_gen`, a random value its web sessions carry: `end_sessions`
(logout, a new password, a new role, disabling) changes it, which ends every session of that
account on every device.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from werkzeug.security import check_password_hash, generate_password_hash

from queuebox.clock import parse_iso
from server.login_guard import LoginGuard

ROLES = ("admin", "manager", "clerk")
HASH_METHOD = "pbkdf2:sha256:600000"
MIN_PASSWORD = 8
_LOGIN = re.compile(r"[a-z0-9][a-z0-9._-]{1,31}")
_DUMMY_HASHES: dict[str, str] = {}  # by hash method (tests use fewer rounds)


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
    locked_until: datetime | None = None  # the account itself is locked (account_attempts) until then
    session_gen: str = field(default="", compare=False, repr=False)  # carried by its sessions; a new one ends them

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now

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
    return User(row["login"], row["role"], tuple(json.loads(row["counters"] or "[]")), bool(row["active"]),
                parse_iso(row["locked_until"]) if row["locked_until"] else None, row["session_gen"])


def _new_gen() -> str:
    return secrets.token_hex(16)


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
    gen = _new_gen()
    db.execute("INSERT INTO users (login, password_hash, role, counters, created_at, session_gen) "
               "VALUES (?, ?, ?, ?, ?, ?)",
               [login, generate_password_hash(password, method=HASH_METHOD), role, json.dumps(list(counters)),
                now.isoformat(timespec="seconds"), gen])
    return User(login, role, tuple(counters), session_gen=gen)


def update(db: Any, login: str, role: str, counters: list[str] | tuple[str, ...], active: bool,
           known_counters: set[str] | None = None) -> User:
    """Change an account; a new role or disabling it ends its sessions (see `end_sessions`)."""
    _check_role(role, counters, known_counters)
    before = get(db, login)
    if before is None:
        raise UserError("login", f"no user {login!r}")
    db.execute("UPDATE users SET role = ?, counters = ?, active = ? WHERE login = ?",
               [role, json.dumps(list(counters)), int(active), login])
    if role != before.role or not active:
        end_sessions(db, login)
    return get(db, login)  # type: ignore[return-value]


def end_sessions(db: Any, login: str) -> None:
    """End every web session of `login`, on every device (they carry the old `session_gen`)."""
    db.execute("UPDATE users SET session_gen = ? WHERE login = ?", [_new_gen(), login])


def unlock(db: Any, login: str) -> None:
    """Lift the lock of the account `login` and forget its failures; UserError if there is none."""
    if db.execute("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE login = ?", [login]).rowcount != 1:
        raise UserError("login", f"no user {login!r}")


def set_password(db: Any, login: str, password: str) -> None:
    """A new password: unlocks the account and ends its sessions."""
    problem = check_password(password)
    if problem:
        raise UserError("password", problem)
    if get(db, login) is None:
        raise UserError("login", f"no user {login!r}")
    db.execute("UPDATE users SET password_hash = ?, failed_logins = 0, locked_until = NULL, session_gen = ? "
               "WHERE login = ?", [generate_password_hash(password, method=HASH_METHOD), _new_gen(), login])


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
    """The outcome of a login. `user` on success. Otherwise `locked_until` when the attempt was
    refused or this failure started a block, and `by` says what is blocked: ``"device"``
    (this address, for this account or for all) or ``"account"`` (the account itself)."""

    user: User | None
    locked_until: datetime | None = None
    by: str | None = None


def authenticate(db: Any, login: str, password: str, now: datetime, *, address: str, guard: LoginGuard,
                 account_attempts: int, lockout: timedelta) -> LoginResult:
    """Check `login`/`password` tried from `address` (REMOTE_ADDR).

    The `guard` counts the attempt first (or refuses it: no hash); then, for an existing
    account not locked, the failure count in the database goes up by one in one statement
    (``RETURNING``), still before the hash; `account_attempts` in a row lock the account for
    `lockout`. Unknown, disabled and wrong all cost one hash and return no user."""
    admission = guard.admit(login, address, now)
    if not admission.allowed:
        return LoginResult(None, admission.until, "device")
    row = next(db.query("SELECT * FROM users WHERE login = ?", [login]), None)
    if row is None:
        check_password_hash(_dummy_hash(), password)
        return LoginResult(None, admission.until, "device" if admission.until else None)
    user = _user(row)
    if user.locked(now):
        return LoginResult(None, user.locked_until, "account")
    failures = db.execute("UPDATE users SET failed_logins = failed_logins + 1 WHERE login = ? RETURNING failed_logins",
                          [login]).fetchone()[0]
    account_until = None
    if failures >= account_attempts:
        account_until = now + lockout
        db.execute("UPDATE users SET failed_logins = 0, locked_until = ? WHERE login = ?",
                   [account_until.isoformat(timespec="seconds"), login])
    if check_password_hash(row["password_hash"], password) and user.active:
        db.execute("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE login = ?", [login])
        guard.succeeded(login, address)
        return LoginResult(user)
    if account_until is not None:
        return LoginResult(None, account_until, "account")
    return LoginResult(None, admission.until, "device" if admission.until else None)


def _dummy_hash() -> str:
    """A hash of no one's password, checked when the login does not exist (same cost as a real one)."""
    if HASH_METHOD not in _DUMMY_HASHES:
        _DUMMY_HASHES[HASH_METHOD] = generate_password_hash("not a password of anyone", method=HASH_METHOD)
    return _DUMMY_HASHES[HASH_METHOD]
