"""What every part of the web app shares: the engine, the live hub, a database connection
per request for reading (and for the tables the engine does not own: users, tokens,
tablets), and JSON errors."""

from __future__ import annotations

import secrets
from typing import Any

from flask import current_app, g, jsonify
from sqlite_utils import Database

from server import store
from server.engine import Engine
from server.web.live import Hub


def get_engine() -> Engine:
    return current_app.extensions["queuebox.engine"]  # type: ignore[no-any-return]


def get_hub() -> Hub:
    return current_app.extensions["queuebox.hub"]  # type: ignore[no-any-return]


def db() -> Database:
    """This request's own connection to the database file (closed when the request ends)."""
    if "db" not in g:
        g.db = store.open_database(get_engine().db_path)
    return g.db  # type: ignore[no-any-return]


def close_db(_: BaseException | None = None) -> None:
    conn = g.pop("db", None)
    if conn is not None:
        conn.close()


def new_command_id() -> str:
    """A fresh idempotency id for a command made on the server side (pages embed theirs in the form)."""
    return secrets.token_urlsafe(12)


def json_error(status: int, code: str, message: str, **extra: Any) -> Any:
    """The API's error body: `{"ok": false, "error": {"code", "message"}}` with an HTTP status."""
    response = jsonify({"ok": False, "error": {"code": code, "message": message}, **extra})
    response.status_code = status
    return response
