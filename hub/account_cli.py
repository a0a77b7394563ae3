"""`queuebox hub-user add|passwd|list`: the province dashboard's accounts, in the hub's
PostgreSQL (the first province admin is made here)."""

from __future__ import annotations

import argparse
import sys

from queuebox.config import Config


def add_arguments(p: argparse.ArgumentParser) -> None:
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = actions.add_parser("add", help="create an account", description="create an account")
    a.add_argument("login", help="login name: lowercase letters, digits, '.', '_' or '-'")
    a.add_argument("--role", choices=("admin", "viewer"), required=True,
                   help="admin: the province's administrator; viewer: reads the dashboard and the reports")
    a.add_argument("--password-stdin", action="store_true",
                   help="read the password from standard input (for scripts) instead of asking twice")
    a = actions.add_parser("passwd", help="set an account's password (also unlocks it)",
                           description="set an account's password (also unlocks it)")
    a.add_argument("login")
    a.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    actions.add_parser("list", help="list the accounts", description="list the accounts")


def run(args: argparse.Namespace, config: Config) -> int:
    # imported here: building the command line's parser loads no third-party module
    import psycopg

    from hub import accounts
    from hub.schema import migrate
    from server.user_cli import _password as read_password
    from server.users import UserError

    with psycopg.connect(config.hub.database, autocommit=True) as conn:
        migrate(conn)
        if args.action == "list":
            print(f"{'login':<20} {'role':<16} state")
            for a in accounts.all_accounts(conn):
                print(f"{a.login:<20} {a.role:<16} {'active' if a.active else 'disabled'}")
            return 0
        try:
            if args.action == "add":
                accounts.add(conn, args.login, read_password(args.password_stdin), f"province_{args.role}")
                print(f"added {args.login} (province {args.role})")
            else:
                accounts.set_password(conn, args.login, read_password(args.password_stdin))
                print(f"password of {args.login} changed")
        except UserError as exc:
            print(f"{exc.field}: {exc.message}", file=sys.stderr)
            return 2
    return 0
