"""Changing the procedure catalogue: add, edit, hide or show, move up or down, replace it all
(an import). Each change is one transaction of the single writer (`Engine.write`): the rows,
then one `catalogue_changed` event naming what changed (the action, procedure ids, services;
never the texts), then the MQTT bridge republishes the summaries of the services concerned.

Procedures are hidden, not deleted: a hidden one stays in the administration, leaves every
screen and the lookup page, and keeps its id (so its address works again when it is shown).
An import replaces the whole catalogue: procedures whose code (or, without a code, whose field
and name) match one already there keep its id; the others are removed.

Checks are `server.catalogue_rules`'s, against the services configured at the moment of the
write; refusals raise CatalogueError with the problems.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from typing import Any

from queuebox.catalogue import Procedure
from queuebox.config import Config
from queuebox.errors import QueueboxError
from server.catalogue_rules import Problem, check_catalogue, check_procedure, renumbered
from server.catalogue_store import get_procedure, load_procedures
from server.engine import Engine
from server.store import EventRecord

EVENT = "catalogue_changed"
_COLUMNS = ("code", "service", "name_vi", "name_en", "documents", "processing_time", "fee", "result_place",
            "portal_url", "on_the_spot", "position", "hidden")


class CatalogueError(QueueboxError, ValueError):
    """A change of the catalogue that cannot be made; `problems` says why, field by field."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.field}: {p.text}" if p.field else p.text for p in problems))


class UnknownProcedure(QueueboxError, LookupError):
    """No procedure has this id."""


def save(engine: Engine, actor: str, values: dict[str, str], *, on_the_spot: bool,
         procedure_id: int | None = None) -> int:
    """Add a procedure (`procedure_id` None: last of its field) or change one (it keeps its place
    unless it moves to another field, where it goes last); returns its id."""
    def change(conn: sqlite3.Connection, config: Config, stamp: str) -> dict[str, Any]:
        old = get_procedure(conn, procedure_id) if procedure_id is not None else None
        if procedure_id is not None and old is None:
            raise UnknownProcedure(procedure_id)
        procedure, problems = check_procedure(values, [s.code for s in config.services],
                                              procedure_id=procedure_id or 0, on_the_spot=on_the_spot,
                                              hidden=old.hidden if old else False)
        if procedure.code is not None and _code_taken(conn, procedure.code, procedure_id):
            problems.append(Problem("code", "duplicate_code", {"value": procedure.code}))
        if problems:
            raise CatalogueError(problems)
        if old is not None and old.service == procedure.service:
            procedure = replace(procedure, position=old.position)
        else:
            procedure = replace(procedure, position=_last_position(conn, procedure.service) + 1)
        new_id = _write_row(conn, procedure, stamp, insert=old is None)
        services = sorted({procedure.service, *([old.service] if old else [])})
        return {"action": "edit" if old else "add", "ids": [new_id], "services": services}
    return int(engine.write(EVENT, actor, change).data["ids"][0])


def set_hidden(engine: Engine, actor: str, procedure_id: int, hidden: bool) -> EventRecord:
    """Hide a procedure from every screen and the lookup page, or show it again."""
    def change(conn: sqlite3.Connection, config: Config, stamp: str) -> dict[str, Any]:
        procedure = _existing(conn, procedure_id)
        conn.execute("UPDATE procedures SET hidden = ?, updated_at = ? WHERE id = ?",
                     [int(hidden), stamp, procedure_id])
        return {"action": "hide" if hidden else "show", "ids": [procedure_id], "services": [procedure.service]}
    return engine.write(EVENT, actor, change)


def move(engine: Engine, actor: str, procedure_id: int, step: int) -> EventRecord | None:
    """Move a procedure one place up (`step` -1) or down (+1) within its field; None if it is
    already first or last."""
    def change(conn: sqlite3.Connection, config: Config, stamp: str) -> dict[str, Any]:
        procedure = _existing(conn, procedure_id)
        listed = [p for p in load_procedures(conn, include_hidden=True) if p.service == procedure.service]
        at = [p.id for p in listed].index(procedure_id)
        if not 0 <= at + step < len(listed):
            raise _Nothing
        listed[at], listed[at + step] = listed[at + step], listed[at]
        for p in renumbered(listed):
            conn.execute("UPDATE procedures SET position = ?, updated_at = ? WHERE id = ? AND position != ?",
                         [p.position, stamp, p.id, p.position])
        return {"action": "move", "ids": [procedure_id], "services": [procedure.service]}
    try:
        return engine.write(EVENT, actor, change)
    except _Nothing:
        return None


def replace_all(engine: Engine, actor: str, procedures: list[Procedure]) -> EventRecord:
    """Make `procedures` (in their order, e.g. from `catalogue_files.read_catalogue`) the catalogue.
    Checked again here, against the services of this moment; all or nothing."""
    def change(conn: sqlite3.Connection, config: Config, stamp: str) -> dict[str, Any]:
        codes = [s.code for s in config.services]
        problems = [p for proc in procedures for p in _recheck(proc, codes)]
        problems += [p for _index, p in check_catalogue(procedures)]
        if problems:
            raise CatalogueError(problems)
        old = load_procedures(conn, include_hidden=True)
        by_code = {p.code.casefold(): p.id for p in old if p.code}
        by_name = {(p.service, p.name_vi): p.id for p in old if not p.code}
        next_id = max((p.id for p in old), default=0) + 1  # a removed procedure's id is not given to another
        rows = []
        for p in renumbered(procedures):
            kept_id = by_code.pop(p.code.casefold(), None) if p.code else by_name.pop((p.service, p.name_vi), None)
            if kept_id is None:
                kept_id, next_id = next_id, next_id + 1
            rows.append(replace(p, id=kept_id))
        conn.execute("DELETE FROM procedures")
        for p in rows:
            _write_row(conn, p, stamp, insert=True)
        services = sorted({p.service for p in old} | {p.service for p in procedures})
        return {"action": "import", "count": len(procedures), "services": services}
    return engine.write(EVENT, actor, change)


# --- rows ---------------------------------------------------------------------------------

def _write_row(conn: sqlite3.Connection, p: Procedure, stamp: str, *, insert: bool) -> int:
    """Insert (with its id if it has one, else a new id) or update the row of `p`; returns its id."""
    values = [p.code, p.service, p.name_vi, p.name_en, "\n".join(p.documents), p.processing_time, p.fee,
              p.result_place, p.portal_url, int(p.on_the_spot), p.position, int(p.hidden)]
    if insert:
        cur = conn.execute(f"INSERT INTO procedures (id, {', '.join(_COLUMNS)}, updated_at) "
                           f"VALUES (?, {', '.join('?' * len(_COLUMNS))}, ?)", [p.id or None, *values, stamp])
        return int(cur.lastrowid or 0)
    conn.execute(f"UPDATE procedures SET {', '.join(f'{c} = ?' for c in _COLUMNS)}, updated_at = ? WHERE id = ?",
                 [*values, stamp, p.id])
    return p.id


def _existing(conn: sqlite3.Connection, procedure_id: int) -> Procedure:
    procedure = get_procedure(conn, procedure_id)
    if procedure is None:
        raise UnknownProcedure(procedure_id)
    return procedure


def _code_taken(conn: sqlite3.Connection, code: str, procedure_id: int | None) -> bool:
    return conn.execute("SELECT 1 FROM procedures WHERE lower(code) = lower(?) AND id IS NOT ?",
                        [code, procedure_id]).fetchone() is not None


def _last_position(conn: sqlite3.Connection, service: str) -> int:
    return int(conn.execute("SELECT coalesce(max(position), 0) FROM procedures WHERE service = ?",
                            [service]).fetchone()[0])


def _recheck(p: Procedure, services: list[str]) -> list[Problem]:
    values = {**p.__dict__, "code": p.code or "", "documents": "\n".join(p.documents)}
    return check_procedure(values, services)[1]


class _Nothing(Exception):
    """Nothing to change: the transaction is rolled back and no event written."""

