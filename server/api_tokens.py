"""Tokens for programs using the JSON API (`/api/v1`): a name, and a secret shown once.

A token is ``qb_`` followed by 43 random URL-safe characters (256 bits). Only its SHA-256
is stored (`api_tokens.token_hash`), so a copy of the database does not let anyone in;
the secret is printed once by `queuebox api-token add NAME` and cannot be shown again —
a lost token is revoked and a new one made. Revoking deletes the row: the token stops
working at the next request. `last_used_at` is written at most once a minute per token,
so a busy integration does not turn every read into a database write.

Names are 1 to 28 lowercase letters, digits, '-' or '_' (they become part of the kiosk
id `api-<name>` of the tickets a token issues).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from queuebox.clock import parse_iso

PREFIX = "qb_"
MAX_TOKEN = 128  # characters; anything longer is not one of ours and is not even hashed
TOUCH_EVERY = timedelta(minutes=1)
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,27}")


class ApiTokenError(ValueError):
    """A token could not be created or revoked; `field` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ApiToken:
    """A token as listed: never its secret."""
    name: str
    created_at: str
    created_by: str | None
    last_used_at: str | None


def digest(token: str) -> str:
    """The stored form of `token`: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_name(name: str) -> str | None:
    """A problem with `name` as a new token name, or None."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        return "1 to 28 characters: lowercase letters, digits, '-' or '_', starting with a letter or digit"
    return None


def create(db: Any, name: str, created_by: str | None, now: datetime) -> str:
    """Make a token called `name` and return its secret (the only time it is available).

    Raises ApiTokenError for a bad name or one that is already taken."""
    problem = check_name(name)
    if problem:
        raise ApiTokenError("name", problem)
    token = PREFIX + secrets.token_urlsafe(32)
    cur = db.execute("INSERT OR IGNORE INTO api_tokens (name, token_hash, created_at, created_by) VALUES (?, ?, ?, ?)",
                     [name, digest(token), now.isoformat(timespec="seconds"), created_by])
    if cur.rowcount != 1:
        raise ApiTokenError("name", f"a token called {name!r} exists already; revoke it first to replace it")
    return token


def list_tokens(db: Any) -> list[ApiToken]:
    """Every token, by name."""
    return [ApiToken(r["name"], r["created_at"], r["created_by"], r["last_used_at"])
            for r in db.query("SELECT name, created_at, created_by, last_used_at FROM api_tokens ORDER BY name")]


def revoke(db: Any, name: str) -> None:
    """Delete the token called `name`; ApiTokenError if there is none."""
    cur = db.execute("DELETE FROM api_tokens WHERE name = ?", [name])
    if cur.rowcount != 1:
        raise ApiTokenError("name", f"no token called {name!r}")


def verify(db: Any, token: str | None, now: datetime) -> str | None:
    """The name of the token `token`, or None if it is missing, malformed, unknown or revoked.

    Records the use (`last_used_at`) when the last record is a minute old or more."""
    if not token or len(token) > MAX_TOKEN or not token.startswith(PREFIX):
        return None
    wanted = digest(token)
    row = db.execute("SELECT name, token_hash, last_used_at FROM api_tokens WHERE token_hash = ?",
                     [wanted]).fetchone()
    if row is None or not hmac.compare_digest(row[1], wanted):
        return None
    name, _, last = row
    if last is None or now - parse_iso(last) >= TOUCH_EVERY:
        db.execute("UPDATE api_tokens SET last_used_at = ? WHERE name = ?", [now.isoformat(timespec="seconds"), name])
    return str(name)


# --- command line: `queuebox api-token add NAME | list | revoke NAME` --------------------------

def add_cli_arguments(parser: Any) -> None:
    """The `api-token` subcommands, on the argparse parser `queuebox` made for the command."""
    parser.add_argument("--database", metavar="PATH", help="database file (default: database.path of the config)")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="create a token and print it (shown this once only)",
                         description="create a token and print it on standard output; it cannot be shown again")
    add.add_argument("name", help="what uses it, e.g. 'portal': 1 to 28 lowercase letters, digits, '-' or '_'")
    sub.add_parser("list", help="list the tokens (names and use, never the secrets)",
                   description="list the tokens (names and use, never the secrets)")
    revoke_ = sub.add_parser("revoke", help="delete a token: it stops working at once",
                             description="delete a token: it stops working at once")
    revoke_.add_argument("name")


def run_cli(args: Any, db_path: str) -> int:
    """Run one `api-token` subcommand on the database at `db_path`; the exit status."""
    import getpass
    import sys

    from queuebox.clock import utc_now
    from server import store

    db = store.open_database(db_path)
    try:
        store.migrate(db)
        if args.action == "list":
            print(f"{'name':<28} {'created':<25} {'by':<16} last used")
            for t in list_tokens(db):
                print(f"{t.name:<28} {t.created_at:<25} {t.created_by or '-':<16} {t.last_used_at or 'never'}")
            return 0
        try:
            if args.action == "add":
                token = create(db, args.name, f"cli/{getpass.getuser()}", utc_now())
                print(token)
                print(f"created API token {args.name!r}: it is shown this once, keep it now "
                      "(send it as 'Authorization: Bearer <token>')", file=sys.stderr)
            else:
                revoke(db, args.name)
                print(f"revoked API token {args.name!r}")
        except ApiTokenError as exc:
            print(f"{exc.field}: {exc.message}", file=sys.stderr)
            return 2
        return 0
    finally:
        db.close()
