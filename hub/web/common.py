"""What every part of the dashboard shares: its settings and one PostgreSQL connection per
request (autocommit: the pages only read, the login writes its counts at once)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

import psycopg
from flask import current_app, g

from hub.report_cache import ReportCache
from queuebox.config import Config


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Settings:
    """The hub's database, its configuration (`[hub]`, `[server]` for the web's limits, `[site]`
    for the languages and time zone), its clock (tests pass their own) and the province's
    closed months' reports (hub/report_cache.py)."""
    dsn: str
    config: Config
    now: Callable[[], datetime] = utc_now
    reports: ReportCache = field(default_factory=ReportCache)


def settings() -> Settings:
    return current_app.extensions["queuebox.hub_web"]  # type: ignore[no-any-return]


def conn() -> psycopg.Connection:
    """This request's own connection to the hub's database (closed when the request ends)."""
    if "pg" not in g:
        g.pg = psycopg.connect(settings().dsn, autocommit=True, connect_timeout=5)
    return g.pg  # type: ignore[no-any-return]


def close_conn(_: BaseException | None = None) -> None:
    pg = g.pop("pg", None)
    if pg is not None:
        pg.close()
