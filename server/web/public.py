"""The citizen's ticket status page, `/t/<token>`: the URL in the QR code on the ticket.

It shows the label, the service, where the ticket stands (waiting with the people ahead and
an estimated wait, called to a counter, being served, finished, absent when called, expired)
and refreshes itself: `static/status.js` polls `/t/<token>.json` (same fields, texts already
in the page's language), a `<noscript>` meta refresh does it on phones without JavaScript.

Nothing personal is shown: no kiosk, no other ticket, no clerk, not even the priority flag
(it says something about the person). An unknown or malformed token is the app's plain 404,
the same whether or not such a token ever existed. A ticket of an earlier business day
never shows today's queue: it is finished, or expired.
"""

from __future__ import annotations

import math
import re
from datetime import date, timedelta
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, render_template, url_for

from queuebox.clock import business_day, iso, parse_iso
from server import rules
from server.catalogue_store import count_by_service
from server.web.common import db, get_engine
from server.web.i18n import _, current_language

bp = Blueprint("public", __name__)

TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")  # what the engine makes (secrets.token_urlsafe), with room to spare
POLL_S = 10  # seconds between two polls of the page; app.config["STATUS_POLL_S"] overrides (tests)
FALLBACK_REFRESH_S = 30  # the <noscript> meta refresh
STATUSES = ("waiting", "called", "serving", "done", "no_show", "cancelled")
FINAL = frozenset({"done", "cancelled"})  # nothing changes any more: the page stops polling


@bp.after_request
def no_store(response: Any) -> Any:
    """A status is personal to whoever holds the ticket and changes every minute: never cached."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@bp.get("/t/<token>")
def status(token: str) -> Any:
    view = ticket_status(token)
    if view is None:
        abort(404)
    return render_template("public/status.html", view=view, fallback_refresh=FALLBACK_REFRESH_S,
                           json_url=url_for("public.status_json", token=token, lang=current_language()))


@bp.get("/t/<token>.json")
def status_json(token: str) -> Any:
    view = ticket_status(token)
    if view is None:
        abort(404)
    return jsonify(view)


def ticket_status(token: str) -> dict[str, Any] | None:
    """What the status page shows for ticket `token`, in the request's language; None if there is no such ticket.

    Keys: label, service (the code of the queue it is in now), service_name, procedures_url (the
    procedure lookup's page of that field, null when it has none), status (one of
    `STATUSES`), final, headline, detail, note (texts, "" when none), waiting_ahead and
    estimated_wait_min (waiting only; minutes are null when no open counter serves the
    queue), counter and counter_name (called, serving), transferred_from (+ _name),
    rejoin_until (no_show), issued_at, issued_time, updated_at, updated_text, day, refresh_s.
    """
    if not TOKEN.fullmatch(token):
        return None
    row = _row(token)
    if row is None:
        return None
    engine = get_engine()
    state = engine.snapshot()
    now = engine.now()
    zone = engine.config.zone
    today = business_day(None if state.day == date.min else state.day, now, zone)
    live = state.tickets.get(row["id"]) if row["day"] == today.isoformat() == state.day.isoformat() else None
    if live is None and row["day"] == today.isoformat() and row["status"] in rules.ACTIVE | {"no_show"}:
        row = _row(token) or row  # the snapshot is newer than our first read: the ticket has just finished

    status = live.status if live is not None else row["status"]
    if row["day"] < today.isoformat() and status != "done":
        status = "cancelled"  # an earlier day's ticket that was not served: the day closed it
    queue = live.queue if live is not None else row["queue"]
    counter = live.counter if live is not None else row["counter"]
    transferred_from = live.transferred_from if live is not None else row["transferred_from"]
    issued_at = parse_iso(row["issued_at"])
    view: dict[str, Any] = {
        "label": row["label"], "service": queue, "service_name": _service_name(queue),
        "procedures_url": _procedures_url(queue), "status": status,
        "final": status in FINAL, "headline": "", "detail": "", "note": "",
        "waiting_ahead": None, "estimated_wait_min": None, "counter": None, "counter_name": None,
        "transferred_from": None, "transferred_from_name": None, "rejoin_until": None,
        "issued_at": iso(issued_at, zone), "updated_at": iso(now, zone), "day": row["day"],
        "issued_time": _time_of(issued_at, zone, with_date=row["day"] != today.isoformat()),
        "refresh_s": int(current_app.config.get("STATUS_POLL_S", POLL_S)),
    }

    if status == "waiting" and live is not None:
        ahead, minutes = rules.estimate_wait(state, live)
        view.update(waiting_ahead=ahead, estimated_wait_min=minutes)
        view["headline"] = (_("Waiting: you are next") if ahead == 0
                            else _("Waiting: %(num)s ahead of you", num=ahead))
        if minutes is None:
            view["detail"] = _("No counter is serving this field right now, so the wait cannot be estimated.")
        elif ahead == 0:
            view["detail"] = _("Please watch the screen: your number will be called soon.")
        else:
            view["detail"] = _("Estimated wait: about %(min)s min", min=max(minutes, 1))
        if transferred_from:
            view.update(transferred_from=transferred_from, transferred_from_name=_service_name(transferred_from))
            view["note"] = _("Your number was moved to the field: %(service)s", service=view["service_name"])
    elif status in ("called", "serving") and counter:
        name = _counter_name(counter)
        view.update(counter=counter, counter_name=name)
        if status == "called":
            view["headline"] = _("Number %(label)s, please go to %(counter)s", label=row["label"], counter=name)
            view["detail"] = _("Please come to the counter now.")
        else:
            view["headline"] = _("Being served at %(counter)s", counter=name)
    elif status == "done":
        view["headline"] = _("Finished — thank you")
    elif status == "no_show":
        view["headline"] = _("Called, but you were not there")
        finished = live.finished_at if live is not None else None
        if finished is not None:
            until = finished + timedelta(minutes=engine.config.queue.no_show_rejoin_min)
            left = math.ceil((until - now).total_seconds() / 60)
            view["rejoin_until"] = iso(until, zone)
            if left > 0:
                view["detail"] = _("Please go to a counter within %(min)s min to be called back.", min=left)
        if not view["detail"]:
            view["detail"] = _("The time to come back has passed. Please take a new number.")
    else:  # cancelled, or (a moment between two reads) a state without its counter
        view["status"], view["final"] = "cancelled", True
        view["headline"] = _("This number has expired — the working day has ended")
        view["detail"] = _("Please take a new number when you come again.")
    local_now = now.astimezone(zone).strftime("%H:%M")
    view["updated_text"] = (_("Updated at %(time)s", time=local_now) if view["final"]
                            else _("Updated at %(time)s · this page refreshes by itself", time=local_now))
    return view


def _row(token: str) -> dict[str, Any] | None:
    return next(db().query("SELECT id, day, label, status, queue, counter, transferred_from, issued_at "
                           "FROM tickets WHERE token = ?", [token]), None)


def _service_name(code: str) -> str:
    """The service's name in the page's language (English falls back to Vietnamese if it has none)."""
    svc = get_engine().config.service(code)
    if svc is None:
        return code
    return svc.name_en if current_language() == "en" and svc.name_en else svc.name_vi


def _procedures_url(code: str) -> str | None:
    """The lookup page of field `code`'s procedures, when it has any to show."""
    if not count_by_service(db()).get(code) or get_engine().config.service(code) is None:
        return None
    return url_for("procedures.field", code=code)


def _counter_name(counter_id: str) -> str:
    cfg = get_engine().config.counter(counter_id)
    return cfg.name if cfg is not None else _("Counter %(id)s", id=counter_id)


def _time_of(moment: Any, zone: Any, with_date: bool) -> str:
    """`09:05`, or `09:05 23/11/2026` for an earlier day's ticket."""
    return moment.astimezone(zone).strftime("%H:%M %d/%m/%Y" if with_date else "%H:%M")
