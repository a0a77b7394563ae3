"""Tokens for programs using the JSON API (`/api/v1`): a name, and a secret shown once.

A token is ``qb_`` followed by 43 random URL-safe characters (256 bits). Only its SHA-256
is stored (`api_tokens.token_hash`), so a copy of the database does not let anyone in;
the secret is printed once by `queuebox api-token add NAME` and cannot be shown again —
a lost token is revoked and a new one made. Revoking deletes the row: the token stops
working at the next request. `last_used_at` is written at most once a minute per token,
so a busy integration does not turn every read into a database write.

Names are 1 to 28 lowercase letters, digits, '-' or '_' (they become part of the kiosk
id `api-<name>` of the tickets a token issues).

Each token has scopes, the least it needs: ``issue`` (issue tickets), ``read`` (board, queue,
a ticket's status), ``counter:<id>`` (commands of that counter; ``counter:*`` any counter);
and may have an expiry, after which it is refused like an unknown one. Tokens made before
scopes existed could do everything: they keep ``issue read counter:*`` and no expiry
(migration 0003), until revoked and made again with fewer.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any, Iterable

from queuebox.clock import parse_iso

PREFIX = "qb_"
MAX_TOKEN = 128  # characters; anything longer is not one of ours and is not even hashed
TOUCH_EVERY = timedelta(minutes=1)
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,27}")
ALL_COUNTERS = "counter:*"
ALL_SCOPES = ("issue", "read", ALL_COUNTERS)  # what a token made before scopes could do
_SCOPE = re.compile(r"issue|read|counter:(\*|[A-Za-z0-9_-]{1,32})")


class ApiTokenError(ValueError):
    """A token could not be created or revoked; `field` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ApiToken:
    """A token as listed: never its secret. `scopes` as stored (see the module's docstring);
    `expires_at` ISO time or None for never."""
    name: str
    created_at: str
    created_by: str | None
    last_used_at: str | None
    scopes: tuple[str, ...] = ALL_SCOPES
    expires_at: str | None = None

    def may(self, scope: str, counter: str | None = None) -> bool:
        """Whether the token may do `scope` (``issue``, ``read``, or ``counter`` for `counter`)."""
        if scope == "counter":
            return ALL_COUNTERS in self.scopes or f"counter:{counter}" in self.scopes
        return scope in self.scopes


def digest(token: str) -> str:
    """The stored form of `token`: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_name(name: str) -> str | None:
    """A problem with `name` as a new token name, or None."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        return "1 to 28 characters: lowercase letters, digits, '-' or '_', starting with a letter or digit"
    return None


def check_scopes(scopes: Iterable[str], known_counters: set[str] | None = None) -> str | None:
    """A problem with `scopes` for a new token (none, unknown, an unknown counter), or None."""
    scopes = list(scopes)
    if not scopes:
        return "give at least one scope: issue, read, counter:<id> or counter:*"
    for scope in scopes:
        if not isinstance(scope, str) or not _SCOPE.fullmatch(scope):
            return f"unknown scope {scope!r}: the scopes are issue, read, counter:<id> and counter:*"
        counter = scope.partition(":")[2]
        if counter not in ("", "*") and known_counters is not None and counter not in known_counters:
            return f"no counter {counter!r} (counters: {', '.join(sorted(known_counters))})"
    return None


def create(db: Any, name: str, created_by: str | None, now: datetime, *, scopes: Iterable[str],
           expires_at: datetime | None = None, known_counters: set[str] | None = None) -> str:
    """Make a token called `name` with `scopes`, valid until `expires_at` (None: until
    revoked), and return its secret (the only time it is available).

    Raises ApiTokenError for a bad name, one that is already taken, bad scopes or an expiry
    that is not after `now`."""
    problem = check_name(name)
    if problem:
        raise ApiTokenError("name", problem)
    scopes = list(dict.fromkeys(scopes))  # in the order given, once each
    problem = check_scopes(scopes, known_counters)
    if problem:
        raise ApiTokenError("scope", problem)
    if expires_at is not None and expires_at <= now:
        raise ApiTokenError("expires", f"{expires_at.isoformat(timespec='minutes')} is not in the future")
    token = PREFIX + secrets.token_urlsafe(32)
    cur = db.execute("INSERT OR IGNORE INTO api_tokens (name, token_hash, created_at, created_by, scopes, expires_at) "
                     "VALUES (?, ?, ?, ?, ?, ?)",
                     [name, digest(token), now.isoformat(timespec="seconds"), created_by, " ".join(scopes),
                      expires_at.isoformat(timespec="seconds") if expires_at else None])
    if cur.rowcount != 1:
        raise ApiTokenError("name", f"a token called {name!r} exists already; revoke it first to replace it")
    return token


def _token(row: dict[str, Any]) -> ApiToken:
    return ApiToken(row["name"], row["created_at"], row["created_by"], row["last_used_at"],
                    tuple(row["scopes"].split()), row["expires_at"])


def list_tokens(db: Any) -> list[ApiToken]:
    """Every token, by name."""
    return [_token(r) for r in db.query("SELECT * FROM api_tokens ORDER BY name")]


def revoke(db: Any, name: str) -> None:
    """Delete the token called `name`; ApiTokenError if there is none."""
    cur = db.execute("DELETE FROM api_tokens WHERE name = ?", [name])
    if cur.rowcount != 1:
        raise ApiTokenError("name", f"no token called {name!r}")


def verify(db: Any, token: str | None, now: datetime) -> ApiToken | None:
    """The token `token` (name, scopes …), or None if it is missing, malformed, unknown,
    revoked or expired at `now`.

    Records the use (`last_used_at`) when the last record is a minute old or more."""
    if not token or len(token) > MAX_TOKEN or not token.startswith(PREFIX):
        return None
    wanted = digest(token)
    row = next(db.query("SELECT * FROM api_tokens WHERE token_hash = ?", [wanted]), None)
    if row is None or not hmac.compare_digest(row["token_hash"], wanted):
        return None
    if row["expires_at"] is not None and now >= parse_iso(row["expires_at"]):
        return None
    last = row["last_used_at"]
    if last is None or now - parse_iso(last) >= TOUCH_EVERY:
        db.execute("UPDATE api_tokens SET last_used_at = ? WHERE name = ?",
                   [now.isoformat(timespec="seconds"), row["name"]])
    return _token(row)


def end_of_day(day: date, zone: tzinfo | None) -> datetime:
    """The expiry of a token "valid through `day`" (a date): the next midnight in `zone`."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)


# --- command line: `queuebox api-token add NAME --scope … [--expires DAY] | list | revoke NAME` ---

def add_cli_arguments(parser: Any) -> None:
    """The `api-token` subcommands, on the argparse parser `queuebox` made for the command."""
    parser.add_argument("--database", metavar="PATH", help="database file (default: database.path of the config)")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="create a token and print it (shown this once only)",
                         description="create a token and print it on standard output; it cannot be shown again")
    add.add_argument("name", help="what uses it, e.g. 'portal': 1 to 28 lowercase letters, digits, '-' or '_'")
    add.add_argument("--scope", action="append", required=True, metavar="SCOPE[,SCOPE…]",
                     help="what it may do (repeat or separate with commas): issue (issue tickets), read (board, "
                          "queue, ticket status), counter:<id> (that counter's commands), counter:* (any counter's)")
    add.add_argument("--expires", metavar="YYYY-MM-DD",
                     help="last day it works (until midnight, this machine's local time); default: until revoked")
    sub.add_parser("list", help="list the tokens (names and use, never the secrets)",
                   description="list the tokens (names and use, never the secrets)")
    revoke_ = sub.add_parser("revoke", help="delete a token: it stops working at once",
                             description="delete a token: it stops working at once")
    revoke_.add_argument("name")


def _expiry(day: str | None) -> datetime | None:
    if day is None:
        return None
    try:
        parsed = datetime.strptime(day, "%Y-%m-%d").date()
    except ValueError:
        raise ApiTokenError("expires", f"{day!r} is not a date like 2027-06-30") from None
    return end_of_day(parsed, datetime.now().astimezone().tzinfo)


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
            print(f"{'name':<28} {'created':<25} {'by':<16} {'last used':<25} {'expires':<25} scopes")
            for t in list_tokens(db):
                print(f"{t.name:<28} {t.created_at:<25} {t.created_by or '-':<16} {t.last_used_at or 'never':<25} "
                      f"{t.expires_at or 'never':<25} {' '.join(t.scopes)}")
            return 0
        try:
            if args.action == "add":
                scopes = [s.strip() for given in args.scope for s in given.split(",") if s.strip()]
                token = create(db, args.name, f"cli/{getpass.getuser()}", utc_now(), scopes=scopes,
                               expires_at=_expiry(args.expires))
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
