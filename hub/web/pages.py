"""The overview of every centre, refreshed by a short poll of its rows, and one centre's page
(its live board and today's figures from the hub's own copy of its tickets)."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, abort, render_template, request

from hub import accounts, store
from hub.overview import SORTS, CentreRow, centre_row, sort_rows
from hub.web.auth import role_required, viewer_required
from hub.web.common import conn, settings
from hub.web.format import format_helpers
from queuebox.figures import Period

bp = Blueprint("pages", __name__)
POLL_S = 5  # seconds between two refreshes of the overview's rows


@bp.app_context_processor
def helpers() -> dict[str, Any]:
    return format_helpers()


def _rows(sort: str) -> list[CentreRow]:
    now = settings().now()
    return sort_rows([centre_row(c, now) for c in store.centres(conn())], sort)


def _sort() -> str:
    asked = request.args.get("sort", "waiting")
    return asked if asked in SORTS else "waiting"


@bp.get("/overview")
@viewer_required
def overview() -> Any:
    sort = _sort()
    return render_template("overview.html", rows=_rows(sort), sort=sort, sorts=SORTS, poll_s=POLL_S)


@bp.get("/overview/rows")
@viewer_required
def overview_rows() -> Any:
    """The overview's table body alone, for the page's poll."""
    return render_template("_rows.html", rows=_rows(_sort()))


@bp.get("/centre/<centre_id>")
@viewer_required
def centre(centre_id: str) -> Any:
    found = store.centre(conn(), centre_id)
    if found is None:
        abort(404)
    row = centre_row(found, settings().now())
    today = _today(found)
    by_service = store.centre_reports(conn(), centre_id, Period.day(today), "service")["service"]
    names = {s["code"]: s.get("name_vi", "") for s in (found.setup or {}).get("services", [])}
    return render_template("centre.html", row=row, centre=found, today=today, report=by_service, names=names)


def _today(found: store.Centre) -> date:
    """The centre's business day as its live summary says, else today in the site's time zone."""
    day = (found.live or {}).get("day")
    try:
        return date.fromisoformat(day) if day else settings().now().astimezone(settings().config.zone).date()
    except ValueError:
        return settings().now().astimezone(settings().config.zone).date()


@bp.get("/accounts")
@role_required("province_admin")
def account_list() -> Any:
    """The dashboard's accounts (made and changed with `queuebox hub-user`)."""
    return render_template("accounts.html", accounts=accounts.all_accounts(conn()), now=settings().now())
