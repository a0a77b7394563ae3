"""The `queuebox` command. Each subcommand reads `--config FILE` (default: $QUEUEBOX_CONFIG,
then /etc/queuebox/queuebox.toml), builds what it needs and runs. Logging is set up here
only: to stderr, no timestamps (journald adds them)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import TYPE_CHECKING, Callable, Sequence

from queuebox.config import DEFAULT_HUB_PATH, DEFAULT_PATH, Config, load_config, redacted
from queuebox.config_devices import SLIDE_KINDS
from queuebox.errors import ConfigError, QueueboxError

if TYPE_CHECKING:
    from queuebox.broker_files import Written

logger = logging.getLogger("queuebox")


# The commands a province's server runs, reading the hub's own file by default.
HUB_COMMANDS = frozenset({"hub", "hub-credentials", "hub-web", "hub-user"})


def _config_path(args: argparse.Namespace, hub: bool = False) -> str:
    return args.config or os.environ.get("QUEUEBOX_CONFIG") or (DEFAULT_HUB_PATH if hub else DEFAULT_PATH)


def _load(args: argparse.Namespace) -> Config:
    return load_config(_config_path(args))


def _load_hub(args: argparse.Namespace) -> Config:
    return load_config(_config_path(args, hub=True), hub=True)


def cmd_check_config(args: argparse.Namespace) -> int:
    path = args.file or _config_path(args, hub=args.hub)
    try:
        config = load_config(path, hub=args.hub)
    except ConfigError as exc:
        print(f"{path}: {len(exc.problems)} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    if args.print:
        print(json.dumps(redacted(config), ensure_ascii=False, indent=2))
    if args.hub:
        h = config.hub
        print(f"{path}: OK — province hub: broker {h.host}:{h.port} (root {h.root}), dashboard port {h.web_port}, "
              f"time zone {config.site.timezone}")
    else:
        print(f"{path}: OK — {config.site.name}: {len(config.services)} services, "
              f"{len(config.counters)} counters, time zone {config.site.timezone}")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from server import store

    config = _load(args)
    path = args.database or config.database.path
    db = store.open_database(path)
    try:
        applied = store.migrate(db)
        store.sync_config(db, config)
    finally:
        db.close()
    print(f"{path}: " + (f"applied {', '.join(applied)}" if applied else "schema is up to date"))
    return 0


def cmd_server(args: argparse.Namespace) -> int:
    from server.main import run_server

    config = _load(args)
    run_server(config, args.database or config.database.path,
               args.listen or config.server.listen, args.port or config.server.port,
               dev=args.dev, dev_tickets=args.dev_tickets)
    return 0


def cmd_mqtt_credentials(args: argparse.Namespace) -> int:
    from server.credentials import write_credentials

    _print_written(write_credentials(_load(args), args.out, group=args.group))
    return 0


def cmd_hub_credentials(args: argparse.Namespace) -> int:
    from hub.credentials import write_hub_credentials

    written, centres = write_hub_credentials(_load_hub(args), args.out, centres=args.centre, remove=args.remove,
                                             hubs=args.hub, group=args.group)
    _print_written(written)
    print(f"centres: {', '.join(centres) if centres else '(none yet: add one with --centre ID)'}")
    return 0


def _print_written(written: Written) -> None:
    for path, mode, group in written.files:
        print(f"wrote {path} (mode {mode:04o}{f', group {group}' if group else ''})")
    print(f"accounts: {len(written.new) + len(written.kept)} "
          f"({len(written.kept)} kept their password, {len(written.new)} new)")
    if written.new:
        print(f"new passwords for: {', '.join(written.new)}")
    if written.dropped:
        print(f"removed: {', '.join(written.dropped)}")
    for warning in written.warnings:
        print(f"warning: {warning}", file=sys.stderr)


def cmd_demo(args: argparse.Namespace) -> int:
    from pathlib import Path

    from server.demo import run_demo

    return run_demo(_load(args), Path(args.dir), args.web_port)


def cmd_hub_demo(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hub.demo import run_hub_demo

    return run_hub_demo(_load(args), Path(args.dir), args.web_port)


def cmd_display(args: argparse.Namespace) -> int:
    from display.main import parse_size, run_display

    size = None
    if args.size:
        try:
            size = parse_size(args.size)
        except ValueError as exc:
            raise QueueboxError(str(exc)) from None
    config = _load(args)
    counter = args.counter or config.display.counter
    if args.counter:  # display.counter is checked with the rest of the config
        from queuebox.config_check import counter_problem

        problem = counter_problem(args.counter, config)
        if problem:
            raise QueueboxError(f"--counter: {problem}")
    return run_display(config, windowed=args.windowed, screenshot=args.screenshot, sample=args.sample,
                       size=size, follow=args.follow, drawn_log=args.drawn_log, slide=args.slide, counter=counter)


def cmd_kiosk(args: argparse.Namespace) -> int:
    from pathlib import Path

    from device.main import run_kiosk

    return run_kiosk(_load(args), simulate=args.simulate, out=Path(args.out) if args.out else None,
                     print_delay_s=args.print_delay)


def cmd_keypad(args: argparse.Namespace) -> int:
    from device.keypad_main import run_keypad

    return run_keypad(_load(args), counter=args.counter, simulate=args.simulate)


def cmd_ticket_preview(args: argparse.Namespace) -> int:
    from pathlib import Path

    from device.main import preview_ticket

    path = preview_ticket(_load(args), args.service, Path(args.out), priority=args.priority,
                          waiting_ahead=args.ahead, paper_width_mm=args.paper, group=args.group)
    print(f"wrote {path}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from server.report_cli import cmd_report as run_report

    titled = args.layout == "monthly" or args.format == "xlsx"  # the title names the centre
    config = None
    if not args.database:
        config = _load(args)
    elif titled and not args.centre:
        try:
            config = _load(args)
        except ConfigError as exc:
            print(f"queuebox report: the title names the centre: add --centre NAME, or a --config with its "
                  f"site.name ({exc.problems[0] if exc.problems else exc})", file=sys.stderr)
            return 2
    return run_report(args, args.database or config.database.path, centre=config.site.name if config else "")


def cmd_user(args: argparse.Namespace) -> int:
    from server.user_cli import cmd_user as run_user

    config = _load(args)
    return run_user(args, config, args.database or config.database.path)


def cmd_uplink(args: argparse.Namespace) -> int:
    from server.uplink import run_uplink

    config = _load(args)
    return run_uplink(config, args.database or config.database.path)


def cmd_restore(args: argparse.Namespace) -> int:
    from server.restore import restore_from_hub

    config = _load(args)
    done = restore_from_hub(config, args.database or config.database.path, force=args.force)
    if done.moved_aside is not None:
        print(f"moved the previous database aside: {done.moved_aside}")
    print(f"{done.path}: restored {done.events} events ({done.tickets} tickets) from the hub, epoch {done.epoch}")
    return 0


def cmd_hub(args: argparse.Namespace) -> int:
    from hub.main import run_hub

    return run_hub(_load_hub(args))


def cmd_hub_web(args: argparse.Namespace) -> int:
    from hub.web_main import run_hub_web

    config = _load_hub(args)
    return run_hub_web(config, args.listen or config.hub.web_listen, args.port or config.hub.web_port)


def cmd_hub_user(args: argparse.Namespace) -> int:
    from hub.account_cli import run

    return run(args, _load_hub(args))


def cmd_api_token(args: argparse.Namespace) -> int:
    from server.api_tokens import run_cli

    return run_cli(args, args.database or _load(args).database.path)


def cmd_catalogue(args: argparse.Namespace) -> int:
    from server.catalogue_cli import run_cli

    config = _load(args)
    return run_cli(args, config, args.database or config.database.path)


def cmd_backup(args: argparse.Namespace) -> int:
    from server.backup import cmd_backup as run_backup

    return run_backup(args, _load(args))


def build_parser(chosen: str | None = None) -> argparse.ArgumentParser:
    """The `queuebox` parser. With `chosen` (the command about to run), the options of the other
    server commands are left out, so a kiosk or display process never imports server modules
    (SQLite, the reports) only to build a parser: memory a 40 MB kiosk cannot spare."""
    parser = argparse.ArgumentParser(
        prog="queuebox", description="Queue management for one-stop public service centres.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, func: Callable[[argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        default = DEFAULT_HUB_PATH if name in HUB_COMMANDS else DEFAULT_PATH
        p.add_argument("--config", metavar="FILE",
                       help=f"configuration file (default: $QUEUEBOX_CONFIG or {default})")
        p.set_defaults(func=func)
        return p

    p = command("check-config", cmd_check_config, "validate a configuration file and list every problem")
    p.add_argument("file", nargs="?", help="the file to check (default: --config)")
    p.add_argument("--print", action="store_true", help="print the configuration, secrets hidden")
    p.add_argument("--hub", action="store_true",
                   help="check it as a province hub's configuration ([hub] needed, no [site] id or name)")

    p = command("migrate", cmd_migrate, "create or upgrade the database schema and load services and counters")
    p.add_argument("--database", metavar="PATH", help="database file (default: database.path of the config)")

    p = command("server", cmd_server, "run the queue engine and the web server")
    p.add_argument("--database", metavar="PATH", help="database file (default: database.path of the config)")
    p.add_argument("--listen", metavar="ADDR", help="address to listen on (default: server.listen)")
    p.add_argument("--port", type=int, help="port to listen on (default: server.port)")
    p.add_argument("--dev", action="store_true",
                   help="demo only (`queuebox demo` sets it): add the virtual kiosk page /dev/kiosk, whose buttons "
                        "press a simulated kiosk's buttons (answers requests from this machine only)")
    p.add_argument("--dev-tickets", metavar="DIR",
                   help="with --dev: the simulated kiosk's --out folder, whose ticket pictures the page shows "
                        "(default: var/tickets)")

    p = command("mqtt-credentials", cmd_mqtt_credentials,
                "write the Mosquitto password file, ACL and conf snippet, and the device passwords")
    p.add_argument("--out", metavar="DIR", required=True,
                   help="folder for secrets.toml, passwd, acl and mosquitto.conf; "
                        "existing passwords in DIR/secrets.toml are kept")
    p.add_argument("--group", default="mosquitto",
                   help="group that may read passwd and acl, the broker's (default: mosquitto)")

    p = command("user", cmd_user, "add web accounts (admin, manager, clerk), change passwords, list them")
    p.add_argument("--database", metavar="PATH", help="database file (default: database.path of the config)")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = actions.add_parser("add", help="create an account", description="create an account")
    a.add_argument("login", help="login name: lowercase letters, digits, '.', '_' or '-'")
    a.add_argument("--role", choices=("admin", "manager", "clerk"), required=True,
                   help="admin: everything; manager: administration and reports; clerk: its counters only")
    a.add_argument("--counters", default="", metavar="IDS", help="comma-separated counter ids (a clerk needs one)")
    a.add_argument("--password-stdin", action="store_true",
                   help="read the password from standard input (for scripts) instead of asking twice")
    a = actions.add_parser("passwd", help="set an account's password (also unlocks it)",
                           description="set an account's password (also unlocks it)")
    a.add_argument("login")
    a.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    actions.add_parser("list", help="list the accounts", description="list the accounts")

    p = command("api-token", cmd_api_token, "create, list and revoke the tokens of programs using the JSON API")
    if chosen in (None, "api-token"):
        from server.api_tokens import add_cli_arguments
        add_cli_arguments(p)

    p = command("catalogue", cmd_catalogue, "import the procedure catalogue from a CSV or XLSX file, or export it")
    p.add_argument("--database", metavar="PATH", help="database file (default: database.path of the config)")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = actions.add_parser("import", help="replace the catalogue with a CSV or XLSX file (all or nothing)",
                           description="replace the catalogue with a CSV or XLSX file (all or nothing); "
                                       "every problem is listed by line and column")
    a.add_argument("file", metavar="FILE", help="the list, e.g. config/procedures.example.csv")
    a = actions.add_parser("export", help="write the catalogue to a CSV or XLSX file",
                           description="write the catalogue to a CSV or XLSX file (by its name's ending), "
                                       "hidden procedures included")
    a.add_argument("file", metavar="FILE", help="the file to write, ending in .csv or .xlsx")

    p = command("backup", cmd_backup, "copy the live database (while the server runs) to a file, or to a folder "
                                      "keeping the newest N copies; the copy is checked")
    p.add_argument("--database", metavar="PATH", help="database file (default: database.path of the config)")
    p.add_argument("--to", metavar="FILE_OR_DIR",
                   help="a file to write, or a folder (one that exists, or a path ending in /) for copies named "
                        "queuebox-YYYYMMDD-HHMMSS.db (default: backups/ beside the database)")
    p.add_argument("--keep", type=int, metavar="N", help="into a folder: keep the newest N copies, remove older ones "
                                                         "(default: remove none)")

    p = command("demo", cmd_demo, "run a private broker, the server, the display, a simulated kiosk (virtual kiosk "
                "page) and a simulated keypad on this machine, for trying it out")
    p.add_argument("--dir", default="var/demo", help="folder for the demo's database, accounts and logs "
                                                     "(default: var/demo)")
    p.add_argument("--web-port", type=int, default=8080, help="port of the web server (default: 8080)")

    p = command("hub-demo", cmd_hub_demo, "run a province on this machine: PostgreSQL, a hub broker, the hub and its "
                "dashboard, and three centres (servers with uplinks) under a simulated load")
    p.add_argument("--dir", default="var/hub-demo", help="folder for the demo's cluster, databases and logs, "
                                                         "emptied first (default: var/hub-demo)")
    p.add_argument("--web-port", type=int, default=8090, help="port of the province dashboard (default: 8090)")

    p = command("display", cmd_display, "run the waiting-room display: the board full screen, calls spoken")
    p.add_argument("--windowed", action="store_true", help="draw in a window (for a desktop), not full screen")
    p.add_argument("--screenshot", metavar="PNG", help="draw the board once to PNG, headless, and exit "
                                                       "(the retained board from the broker, or --sample)")
    p.add_argument("--sample", action="store_true", help="with --screenshot: an example board, no broker needed")
    p.add_argument("--follow", action="store_true", help="with --screenshot: keep running headless and rewrite PNG "
                                                         "after every frame (for a machine without a screen)")
    p.add_argument("--size", metavar="WxH", help="window or screenshot size, e.g. 1920x1080 or 1080x1920 "
                                                 "(default: display.width/height, else the screen's)")
    p.add_argument("--slide", choices=SLIDE_KINDS, default="history",
                   help="with --screenshot: draw the first slide of this kind under the newest call (default: "
                        "history, the previous calls)")
    p.add_argument("--drawn-log", metavar="FILE", help="append a JSON line to FILE for each frame drawn: the board's "
                                                       "seq and calls, and when (for tests and monitoring)")
    p.add_argument("--counter", metavar="ID", help="a counter display: only that counter's name and number, very "
                                                   "large, no voice (default: display.counter, else the board)")

    p = command("kiosk", cmd_kiosk, "run the ticket kiosk: buttons, LEDs and the thermal printer")
    p.add_argument("--simulate", action="store_true",
                   help="no GPIO or printer: press buttons by typing their service code (or publishing it to "
                        "kiosk/<id>/simulate); each ticket is saved as .bin (printer bytes) and .png")
    p.add_argument("--out", metavar="DIR", help="with --simulate: folder for the tickets (default: var/tickets)")
    p.add_argument("--print-delay", type=float, default=0.0, metavar="S",
                   help="with --simulate: seconds the simulated printer takes per ticket, like a real one "
                        "(default: 0)")

    p = command("keypad", cmd_keypad, "run a counter keypad: Next, Recall, No-show, Done and rating buttons with LEDs")
    p.add_argument("--counter", metavar="ID", help="the counter it serves (default: keypad.counter)")
    p.add_argument("--simulate", action="store_true",
                   help="no GPIO: press buttons by typing n (next), r (recall), s (no-show), d (done) or 1-4 "
                        "(ratings) and Enter; the LEDs are printed")

    p = command("ticket-preview", cmd_ticket_preview, "draw a sample ticket of a service to a PNG file")
    p.add_argument("--service", required=True, metavar="CODE", help="service code, e.g. A")
    p.add_argument("--out", required=True, metavar="PNG", help="the picture to write, e.g. ticket.png")
    p.add_argument("--priority", action="store_true", help="a priority ticket")
    p.add_argument("--group", metavar="CODE", help="a priority ticket of this priority group, e.g. CT")
    p.add_argument("--ahead", type=int, default=4, metavar="N", help="people waiting ahead (default: 4)")
    p.add_argument("--paper", type=int, choices=(58, 80), help="paper width in mm (default: printer.paper_width_mm)")

    p = command("uplink", cmd_uplink, "send this centre's events (read-only) and a live summary to the province hub")
    p.add_argument("--database", metavar="PATH", help="database file (default: database.path of the config)")
    p = command("restore", cmd_restore, "rebuild this centre's database from its history at the province hub "
                                        "(a new SD card); stop the server and the uplink first")
    p.add_argument("--from-hub", action="store_true", required=True,
                   help="ask the hub (the [uplink] broker and account) for every event of this centre")
    p.add_argument("--database", metavar="PATH", help="database file to write (default: database.path of the config)")
    p.add_argument("--force", action="store_true",
                   help="if the database already holds events, move it aside (never deleted) and restore anyway")
    command("hub", cmd_hub, "run the province hub: store every centre's events in PostgreSQL and acknowledge them")
    p = command("hub-credentials", cmd_hub_credentials,
                "write the province hub broker's password file, ACL and conf snippet, and the centres' passwords")
    p.add_argument("--out", metavar="DIR", required=True,
                   help="folder for secrets.toml, passwd, acl and mosquitto.conf; existing passwords and centres "
                        "in DIR/secrets.toml are kept")
    p.add_argument("--centre", metavar="ID", action="append", default=[],
                   help="add a centre's account, centre-<ID> (its site.id); repeat for several")
    p.add_argument("--remove", metavar="ID", action="append", default=[], help="remove a centre's account")
    p.add_argument("--hub", metavar="NAME", action="append", default=[],
                   help="a hub process's account; repeat for several processes (default: hub.username)")
    p.add_argument("--group", default="mosquitto",
                   help="group that may read passwd and acl, the broker's (default: mosquitto)")
    p = command("hub-web", cmd_hub_web, "serve the province dashboard (every centre live, monthly reports)")
    p.add_argument("--listen", metavar="ADDR", help="address to listen on (default: hub.web_listen)")
    p.add_argument("--port", type=int, help="port to listen on (default: hub.web_port)")
    p = command("hub-user", cmd_hub_user, "add province dashboard accounts (admin, viewer), change passwords, list them")
    if chosen in (None, "hub-user"):
        from hub.account_cli import add_arguments
        add_arguments(p)

    p = command("report", cmd_report, "print the manager's report of a period: tickets, waiting and service "
                                      "times, satisfaction, by service, counter, clerk, hour or day")
    if chosen in (None, "report"):
        from server.report_cli import add_report_arguments
        add_report_arguments(p)
    return parser


def _command_in(argv: Sequence[str]) -> str | None:
    """The command word of a `queuebox` command line (the top-level options take no value), if any."""
    return next((word for word in argv if not word.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(_command_in(argv)).parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except QueueboxError as exc:
        print(f"queuebox: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
