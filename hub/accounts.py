"""Accounts of the province dashboard, in the hub's PostgreSQL (`accounts` table).

Roles: `province_admin` (everything the dashboard offers, and the accounts through
`queuebox hub-user`), `province_viewer` (reads the overview, the centres and the reports).
Logins, passwords, hashing and guessing limits are the centre's (`server.users`): the same
rules for a login name and a password, the same PBKDF2 hash, the per-address throttle of
`server.login_guard` counted before the hash, and `account_attempts` failures in a row lock the
account for the lockout. Unknown, disabled and wrong all cost one hash and answer the same.

Each account carries a `session_gen` that its sessions hold; a new password or logout changes
it, which ends every session of that account.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psycopg
from werkzeug.security import check_password_hash, generate_password_hash

import server.users as users
from server.login_guard import LoginGuard
from server.users import LoginResult, UserError, check_login, check_password

ROLES = ("province_admin", "province_viewer")


@dataclass(frozen=True)
class Account:
    login: str
    role: str
    active: bool = True
    locked_until: datetime | None = None
    session_gen: str = field(default="", compare=False, repr=False)

    @property
    def is_admin(self) -> bool:
        return self.role == "province_admin"


_COLUMNS = "login, role, active, locked_until, session_gen"


def get(conn: psycopg.Connection, login: str) -> Account | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM accounts WHERE login = %s", [login]).fetchone()
    return Account(*row) if row else None


def all_accounts(conn: psycopg.Connection) -> list[Account]:
    return [Account(*row) for row in conn.execute(f"SELECT {_COLUMNS} FROM accounts ORDER BY login")]


def add(conn: psycopg.Connection, login: str, password: str, role: str) -> Account:
    """Create an account; UserError naming the field at fault."""
    problem = check_login(login)
    if problem:
        raise UserError("login", problem)
    if role not in ROLES:
        raise UserError("role", f"role must be one of {', '.join(ROLES)}")
    problem = check_password(password)
    if problem:
        raise UserError("password", problem)
    gen = secrets.token_hex(16)
    inserted = conn.execute(
        "INSERT INTO accounts (login, password_hash, role, session_gen) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (login) DO NOTHING", [login, _hash(password), role, gen]).rowcount
    if not inserted:
        raise UserError("login", f"{login!r} already exists")
    return Account(login, role, session_gen=gen)


def set_password(conn: psycopg.Connection, login: str, password: str) -> None:
    """A new password: unlocks the account and ends its sessions."""
    problem = check_password(password)
    if problem:
        raise UserError("password", problem)
    changed = conn.execute("UPDATE accounts SET password_hash = %s, failed_logins = 0, locked_until = NULL, "
                           "session_gen = %s WHERE login = %s",
                           [_hash(password), secrets.token_hex(16), login]).rowcount
    if not changed:
        raise UserError("login", f"no account {login!r}")


def end_sessions(conn: psycopg.Connection, login: str) -> None:
    """End every dashboard session of `login` (they carry the old `session_gen`)."""
    conn.execute("UPDATE accounts SET session_gen = %s WHERE login = %s", [secrets.token_hex(16), login])


def authenticate(conn: psycopg.Connection, login: str, password: str, now: datetime, *, address: str,
                 guard: LoginGuard, account_attempts: int, lockout: timedelta) -> LoginResult:
    """Check `login`/`password` tried from `address`, as `server.users.authenticate` does for a
    centre's accounts; `LoginResult.user` is the `Account` on success."""
    admission = guard.admit(login, address, now)
    if not admission.allowed:
        return LoginResult(None, admission.until, "device")
    row = conn.execute("SELECT password_hash, active, locked_until FROM accounts WHERE login = %s", [login]).fetchone()
    if row is None:
        check_password_hash(users._dummy_hash(), password)
        return LoginResult(None, admission.until, "device" if admission.until else None)
    password_hash, active, locked_until = row
    if locked_until is not None and locked_until > now:
        return LoginResult(None, locked_until, "account")
    failures = conn.execute("UPDATE accounts SET failed_logins = failed_logins + 1 WHERE login = %s "
                            "RETURNING failed_logins", [login]).fetchone()[0]  # type: ignore[index]
    account_until = None
    if failures >= account_attempts:
        account_until = now + lockout
        conn.execute("UPDATE accounts SET failed_logins = 0, locked_until = %s WHERE login = %s", [account_until, login])
    if check_password_hash(password_hash, password) and active:
        conn.execute("UPDATE accounts SET failed_logins = 0, locked_until = NULL WHERE login = %s", [login])
        guard.succeeded(login, address)
        return LoginResult(get(conn, login))  # type: ignore[arg-type]
    if account_until is not None:
        return LoginResult(None, account_until, "account")
    return LoginResult(None, admission.until, "device" if admission.until else None)


def _hash(password: str) -> str:
    return generate_password_hash(password, method=users.HASH_METHOD)  # the centre's hash, read when called
