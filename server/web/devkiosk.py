"""The virtual kiosk (`/dev/kiosk`), for `queuebox demo` only: a page that looks like the
kiosk's face — one big button per open service, a priority toggle, the priority groups that have
a button on the kiosk (`kiosk.group_buttons`; the demo gives it one per group) — whose buttons press the
buttons of the simulated kiosk (`queuebox kiosk --simulate`), and which shows the tickets that
kiosk printed (the PNGs it saves in its `--out` folder), newest first.

It exists only when the server runs with ``--dev`` (`create_app(dev=True)`); otherwise every
URL here is the app's plain 404. It needs no login — it prints tickets, as the kiosk in the
hall does for anyone — but answers only requests from this machine (the demo listens on
127.0.0.1): from anywhere else it is a 404 as well.

A press is published, through the server's own MQTT connection, to
``<root>/<site>/kiosk/<id>/simulate`` with the text the simulated kiosk reads from its
keyboard: ``b``, ``priority b`` (the priority button, then B), or ``g ct b`` (the button of
priority group CT, then B). The page then polls the
list of saved tickets until a new one appears. Pictures are served only by a name the kiosk
makes (``YYYYMMDD-HHMMSS-<label>.png``), and only from that folder.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from flask import Blueprint, Flask, abort, current_app, jsonify, render_template, request, send_from_directory, \
    url_for

from queuebox.protocol import Topics
from server.web.common import get_engine, json_error
from server.web.i18n import _

bp = Blueprint("devkiosk", __name__, url_prefix="/dev/kiosk")

DEFAULT_TICKETS = "var/tickets"  # the simulated kiosk's default --out
SHOWN = 8  # tickets listed: the newest one large, the others as thumbnails
WAIT_FOR_TICKET_S = 10  # after a press, the page says nothing came out after this long
LOCAL = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})
# The kiosk's file names (device/main.py TicketFiles): issue time, then the label.
TICKET_FILE = re.compile(r"(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})-([A-Za-z0-9][A-Za-z0-9_.-]{0,31})\.png")


@dataclass(frozen=True)
class DevKiosk:
    """What the page needs from its process: `publish(topic, text)` sends an MQTT message
    (None: no connection to press with), `tickets` is the simulated kiosk's folder."""
    publish: Callable[[str, str], None] | None
    tickets: Path


def init_app(app: Flask, *, publish: Callable[[str, str], None] | None, tickets: str | Path | None) -> None:
    """Add the virtual kiosk to `app` (dev mode only)."""
    app.extensions["queuebox.devkiosk"] = DevKiosk(publish, Path(tickets or DEFAULT_TICKETS))
    app.register_blueprint(bp)


def _dev() -> DevKiosk:
    return current_app.extensions["queuebox.devkiosk"]  # type: ignore[no-any-return]


@bp.before_request
def from_this_machine_only() -> None:
    if request.remote_addr not in LOCAL:
        abort(404)


@bp.after_request
def not_cached(response: Any) -> Any:
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def kiosk_services() -> list[dict[str, Any]]:
    """The services that have a button on this site's kiosk, in configuration order, with
    whether each takes tickets now."""
    engine = get_engine()
    config = engine.config
    local = engine.now().astimezone(config.zone)
    buttons = {code.upper() for code in config.kiosk.buttons}
    return [{"code": s.code, "name_vi": s.name_vi, "name_en": s.name_en, "open": s.is_open(local)}
            for s in config.services if s.code in buttons]


def kiosk_groups() -> list[dict[str, str]]:
    """The priority groups that have a button on this site's kiosk, in configuration order."""
    config = get_engine().config
    return [{"code": g.code, "name_vi": g.name_vi, "name_en": g.name_en}
            for g in config.priority_groups if g.code in config.kiosk.group_buttons]


def ticket_list(folder: Path, limit: int = SHOWN) -> list[dict[str, str]]:
    """The newest `limit` ticket pictures in `folder`, newest first: name, label, time (HH:MM:SS), url."""
    try:
        entries = [(e.stat().st_mtime_ns, e.name) for e in os.scandir(folder)
                   if TICKET_FILE.fullmatch(e.name) and e.is_file()]
    except FileNotFoundError:  # no ticket printed yet: the kiosk makes the folder at start
        return []
    tickets = []
    for _mtime, name in sorted(entries, reverse=True)[:limit]:
        match = TICKET_FILE.fullmatch(name)
        assert match is not None
        tickets.append({"name": name, "label": match.group(7),
                        "time": f"{match.group(4)}:{match.group(5)}:{match.group(6)}",
                        "url": url_for("devkiosk.ticket", name=name)})
    return tickets


@bp.get("/")
def page() -> Any:
    config = get_engine().config
    strings = {
        "printing": _("Printing…"),
        "nothing": _("No ticket came out. Is the simulated kiosk running? Its log says why (kiosk.log)."),
        "failed": _("The button could not be pressed: %(error)s", error="{error}"),
        "none_yet": _("No ticket printed yet."),
        "ticket": _("Ticket %(label)s", label="{label}"),
        "printed": _("Ticket %(label)s is printed.", label="{label}"),
    }
    data = {"strings": strings, "wait_s": WAIT_FOR_TICKET_S,
            "urls": {"press": url_for("devkiosk.press"), "tickets": url_for("devkiosk.tickets")}}
    return render_template("devkiosk.html", services=kiosk_services(), groups=kiosk_groups(), kiosk=config.kiosk,
                           priority=bool(config.kiosk.priority_button), folder=_dev().tickets.resolve(),
                           tickets=ticket_list(_dev().tickets), data=data)


@bp.post("/press")
def press() -> Any:
    """Press a service's button (JSON ``{"service": "B", "priority": false}``, or with ``"group":
    "CT"`` the button of that priority group first); answers what was sent."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("service"), str) \
            or not isinstance(body.get("priority", False), bool) or not isinstance(body.get("group") or "", str):
        return json_error(400, "bad_request", _("The request could not be read."))
    config = get_engine().config
    code = body["service"].upper()
    if code not in {c.upper() for c in config.kiosk.buttons}:
        return json_error(400, "unknown_service", _("There is no such service."))
    group = body.get("group") or None
    if group is not None and group not in config.kiosk.group_buttons:
        return json_error(400, "unknown_group", _("This kiosk has no button for that priority group."))
    service = next((s for s in kiosk_services() if s["code"] == code), None)
    if service is not None and not service["open"]:  # the kiosk would refuse it too, unseen on this page
        return json_error(409, "service_closed", _("%(name)s is not taking tickets now: a manager closed it, or it "
                                                   "is outside its opening hours.", name=service["name_vi"]))
    priority = bool(body.get("priority")) and bool(config.kiosk.priority_button)
    if group is not None:  # the group's button arms priority itself (device/main.py Simulator)
        text, priority = f"g {group.lower()} {code.lower()}", True
    else:
        text = f"priority {code.lower()}" if priority else code.lower()
    publish = _dev().publish
    if publish is None:
        return json_error(503, "unavailable", _("This server has no connection to press the kiosk's buttons with."))
    try:
        publish(Topics(config.mqtt.root, config.site.id).kiosk_simulate(config.kiosk.id), text)
    except (OSError, RuntimeError, ValueError) as exc:
        current_app.logger.warning("virtual kiosk: press %r not sent: %s", text, exc)
        return json_error(503, "unavailable", _("This server has no connection to press the kiosk's buttons with."))
    return jsonify({"ok": True, "pressed": text, "service": code, "priority": priority, "group": group})


@bp.get("/tickets.json")
def tickets() -> Any:
    """What the page polls: the printed tickets, and the services with whether each is open now
    (a manager closing one on the web greys its button out within a poll)."""
    return jsonify({"tickets": ticket_list(_dev().tickets), "services": kiosk_services()})


@bp.get("/tickets/<name>")
def ticket(name: str) -> Any:
    if not TICKET_FILE.fullmatch(name):
        abort(404)
    return send_from_directory(_dev().tickets.resolve(), name, mimetype="image/png", max_age=0)
