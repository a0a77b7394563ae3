"""`queuebox catalogue import FILE | export FILE`: load the province's list of procedures without
the web, or write the catalogue out. Import goes through the engine (the single writer), so it
is one `catalogue_changed` event like an import on the web; a running server sends the new
summaries to the screens within `server.mqtt.SERVICES_EVERY_S` seconds."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from queuebox.config import Config
from server.catalogue_files import CatalogueFileError, read_catalogue, to_csv, to_xlsx
from server.catalogue_rules import ordered
from server.catalogue_store import load_procedures
from server.catalogue_writes import CatalogueError, replace_all
from server.engine import Engine

ACTOR = "cli"


def import_file(engine: Engine, path: str | Path, actor: str = ACTOR) -> int:
    """Replace the catalogue with the file at `path`; returns how many procedures it holds.
    Raises CatalogueFileError or CatalogueError (nothing changed) when it cannot."""
    data = Path(path).read_bytes()
    procedures = read_catalogue(data, [s.code for s in engine.config.services])
    replace_all(engine, actor, procedures)
    return len(procedures)


def run_cli(args: argparse.Namespace, config: Config, db_path: str) -> int:
    engine = Engine(config, db_path)
    try:
        if args.action == "import":
            try:
                count = import_file(engine, args.file)
            except (CatalogueFileError, CatalogueError) as exc:
                problems = [p.text for p in exc.problems]
                print(f"{args.file}: not imported, {len(problems)} problem(s):", file=sys.stderr)
                for text in problems:
                    print(f"  - {text}", file=sys.stderr)
                return 1
            except OSError as exc:
                print(f"{args.file}: {exc.strerror}", file=sys.stderr)
                return 1
            print(f"{args.file}: imported {count} procedures")
            return 0
        suffix = Path(args.file).suffix.lower()
        if suffix not in (".csv", ".xlsx"):
            print(f"{args.file}: the name must end in .csv or .xlsx", file=sys.stderr)
            return 2
        procedures = ordered(engine.read(lambda conn: load_procedures(conn, include_hidden=True)),
                             [s.code for s in engine.config.services])
        Path(args.file).write_bytes(to_csv(procedures) if suffix == ".csv" else to_xlsx(procedures))
        print(f"{args.file}: wrote {len(procedures)} procedures")
        return 0
    finally:
        engine.close()
