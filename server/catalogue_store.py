"""The procedure catalogue in the database: reading it. Rows become `queuebox.catalogue.Procedure`."""

from __future__ import annotations

from typing import Any

from queuebox.catalogue import Procedure

_ORDER = "ORDER BY service, position, id"


def load_procedures(db: Any, *, include_hidden: bool = False) -> list[Procedure]:
    """Every procedure in the catalogue's order (by field, then position); hidden ones only if asked.
    `db` is a sqlite-utils Database or a sqlite3 connection."""
    where = "" if include_hidden else "WHERE hidden = 0 "
    cursor = db.execute(f"SELECT * FROM procedures {where}{_ORDER}")
    names = [d[0] for d in cursor.description]
    return [procedure_of(dict(zip(names, row))) for row in cursor.fetchall()]


def count_by_service(db: Any) -> dict[str, int]:
    """How many shown (not hidden) procedures each field has: service code → count; fields with none are absent."""
    return dict(db.execute("SELECT service, COUNT(*) FROM procedures WHERE hidden = 0 GROUP BY service").fetchall())


def get_procedure(db: Any, procedure_id: int) -> Procedure | None:
    """One procedure by id, hidden or not; None if there is none."""
    cursor = db.execute("SELECT * FROM procedures WHERE id = ?", [procedure_id])
    row = cursor.fetchone()
    return procedure_of(dict(zip([d[0] for d in cursor.description], row))) if row else None


def procedure_of(row: dict[str, Any]) -> Procedure:
    """A `procedures` row as a Procedure (documents are stored one per line)."""
    return Procedure(id=row["id"], service=row["service"], name_vi=row["name_vi"], name_en=row["name_en"],
                     code=row["code"], documents=tuple(d for d in row["documents"].splitlines() if d.strip()),
                     processing_time=row["processing_time"], fee=row["fee"], result_place=row["result_place"],
                     portal_url=row["portal_url"], on_the_spot=bool(row["on_the_spot"]),
                     position=row["position"], hidden=bool(row["hidden"]))
