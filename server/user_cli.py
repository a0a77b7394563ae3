"""`queuebox user add|passwd|list`: web accounts from the command line (the first admin
is made here; later ones can be made in the web administration too)."""

from __future__ import annotations

import argparse
import getpass
import sys

from queuebox.clock import utc_now
from queuebox.config import Config
from server import store, users


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Again: "):
        raise users.UserError("password", "the two passwords differ")
    return first


def cmd_user(args: argparse.Namespace, config: Config, db_path: str) -> int:
    db = store.open_database(db_path)
    try:
        store.migrate(db)
        if args.action == "list":
            print(f"{'login':<20} {'role':<8} {'counters':<16} state")
            now = utc_now()
            for u in users.all_users(db):
                state = "active" if u.active else "disabled"
                if u.locked(now):  # by server.account_attempts; `passwd` or the web's Unlock lifts it
                    state += f", locked until {u.locked_until.isoformat(timespec='minutes')}"
                print(f"{u.login:<20} {u.role:<8} {','.join(u.counters) or '-':<16} {state}")
            return 0
        try:
            if args.action == "add":
                counters = [c.strip() for c in args.counters.split(",") if c.strip()]
                users.add(db, args.login, _password(args.password_stdin), args.role, counters, utc_now(),
                          known_counters={c.id for c in config.counters})
                print(f"added {args.login} ({args.role})")
            else:
                users.set_password(db, args.login, _password(args.password_stdin))
                print(f"password of {args.login} changed")
        except users.UserError as exc:
            print(f"{exc.field}: {exc.message}", file=sys.stderr)
            return 2
        return 0
    finally:
        db.close()
