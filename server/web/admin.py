"""The administration (managers and admins): the live overview, services, counters, the
priority policy and the board message; users are in `admin_users`.

Every change goes through `engine.reconfigure`, which validates it like the config file,
applies it at once (no restart), records a `config_changed` event and lets the MQTT bridge
republish the board. Saved sections take precedence over the config file from then on.
The overview is rendered on the server and kept live by server-sent events (`/admin/events`)
carrying the same data as `/admin/overview.json`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from queuebox.clock import iso
from queuebox.config import WEEKDAYS
from queuebox.errors import ConfigError
from server import store
from server.engine import Engine
from server.settings import raw_config
from server.web import admin_forms as forms
from server.web import admin_procedures, admin_users, admin_voice
from server.web.auth import role_required, session_ended
from server.web.common import get_engine
from server.web.i18n import N_, _, current_language
from server.web.live import live_response

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.context_processor
def limits() -> dict[str, Any]:
    return {"max_length": forms.MAX_LENGTH}
managers = role_required("admin", "manager")

STATE_NAMES = {"idle": N_("Idle"), "calling": N_("Calling"), "serving": N_("Serving"), "paused": N_("Paused")}
OVERRIDE_NAMES = {"open": N_("Open now"), "closed": N_("Closed now"), "hours": N_("By opening hours")}


# --- the overview ------------------------------------------------------------------------------

def overview_data(engine: Engine, lang: str = "vi") -> dict[str, Any]:
    """Every counter's state and each service's queue now, as plain JSON (times ISO-8601, local offset).

    Service names are in `lang`; states are codes (the page names them). `oldest` is the
    issue time of the service's longest-waiting ticket, `over` whether it has waited longer
    than the service's target already."""
    state = engine.snapshot()
    config, now = engine.config, engine.now()
    zone = config.zone
    served = _served_today(engine, state.day.isoformat())
    waiting: dict[str, list[Any]] = {}
    for t in state.tickets.values():
        if t.status == "waiting":
            waiting.setdefault(t.queue, []).append(t)
    names = {s.code: (s.name_en or s.name_vi) if lang == "en" else s.name_vi for s in config.services}
    counters = []
    for cfg in config.counters:
        c = state.counters[cfg.id]
        held = state.tickets.get(c.ticket) if c.ticket is not None else None
        since = (held.started_at if c.state == "serving" else held.called_at) if held else None
        counters.append({"id": cfg.id, "name": cfg.name, "state": c.state, "reason": c.pause_reason or "",
                         "ticket": held.label if held else None, "service": held.queue if held else None,
                         "since": iso(since, zone) if since else None, "services": list(cfg.services)})
    services = []
    for svc in config.services:
        queue = waiting.get(svc.code, [])
        oldest = min((t.issued_at for t in queue), default=None)
        services.append({
            "code": svc.code, "name": names[svc.code], "open": svc.is_open(now.astimezone(zone)),
            "override": svc.override, "waiting": len(queue), "priority": sum(t.priority for t in queue),
            "oldest": iso(oldest, zone) if oldest else None, "target_min": svc.target_wait_min,
            "over": bool(oldest and (now - oldest).total_seconds() > svc.target_wait_min * 60),
            "issued": state.issued.get(svc.code, 0), "served": served.get(svc.code, 0)})
    oldest_all = min((t.issued_at for queue in waiting.values() for t in queue), default=None)
    return {"now": iso(now, zone), "message": engine.message, "counters": counters, "services": services,
            "totals": {"waiting": sum(s["waiting"] for s in services), "issued": sum(s["issued"] for s in services),
                       "served": sum(served.values()),
                       "oldest": iso(oldest_all, zone) if oldest_all else None}}


def _served_today(engine: Engine, day: str) -> dict[str, int]:
    # Its own connection: the live stream calls this after the request has ended.
    db = store.open_database(engine.db_path)
    try:
        return {queue: n for queue, n in db.execute(
            "SELECT queue, count(*) FROM tickets WHERE day = ? AND status = 'done' GROUP BY queue", [day])}
    finally:
        db.close()


def age_text(since: str | None, now: str) -> str:
    """'m:ss' (or 'h:mm:ss') from `since` to `now`, both ISO-8601; '' without `since`."""
    if not since:
        return ""
    seconds = max(0, int((datetime.fromisoformat(now) - datetime.fromisoformat(since)).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


@bp.get("/")
@managers
def overview() -> Any:
    data = overview_data(get_engine(), current_language())
    labels = {"states": {k: _(v) for k, v in STATE_NAMES.items()}, "minutes": _("%(n)s min"), "live": _("Live"),
              "open": _("Taking tickets"), "closed": _("Not taking tickets")}
    return render_template("admin/overview.html", data=data, age=age_text, labels=labels, states=STATE_NAMES)


@bp.get("/overview.json")
@managers
def overview_json() -> Any:
    return jsonify(overview_data(get_engine(), current_language()))


@bp.get("/events")
@managers
def events() -> Response:
    engine, lang = get_engine(), current_language()  # the stream runs after the request context is gone

    def view() -> dict[str, Any]:
        return overview_data(engine, lang)
    return live_response(view, f"user:{current_user.get_id()}", shared=("overview", lang), ended=session_ended())


# --- saving -----------------------------------------------------------------------------------

def _actor() -> str:
    return f"web/{current_user.login}"


def _save(changes: dict[str, Any], section: str, index: int | None) -> tuple[forms.Errors, list[str]]:
    """Apply `changes` through the engine; ({}, []) when saved, else the problems to show."""
    engine = get_engine()
    raw = raw_config(engine.config)
    names = {"services": [f"{s['code']} ({s['name_vi']})" for s in changes.get("services", raw["services"])],
             "counters": [c["name"] for c in changes.get("counters", raw["counters"])]}
    try:
        engine.reconfigure(changes, _actor())
    except ConfigError as exc:
        return forms.problem_errors(exc.problems, section, index, names)
    flash(_("Saved."))
    return {}, []


def _raw(section: str) -> list[dict[str, Any]]:
    return raw_config(get_engine().config)[section]  # type: ignore[no-any-return]


# --- services ---------------------------------------------------------------------------------

@bp.get("/services")
@managers
def services() -> Any:
    engine = get_engine()
    local = engine.now().astimezone(engine.config.zone)
    open_now = {s.code: s.is_open(local) for s in engine.config.services}
    # the kiosk this configuration describes: a service none of its buttons names gets no paper ticket
    no_button = {s.code for s in engine.config.services if s.code not in engine.config.kiosk.buttons}
    return render_template("admin/services.html", services=_raw("services"), open_now=open_now,
                           no_button=no_button, kiosk=engine.config.kiosk.id,
                           overrides=OVERRIDE_NAMES, weekdays=forms.WEEKDAY_SHORT)


@bp.post("/services/<code>/override")
@managers
def service_override(code: str) -> Any:
    """The one-click 'open now / closed now / by opening hours' switch."""
    listed = _raw("services")
    index = _index(listed, "code", code)
    override = request.form.get("override", "")
    if override not in forms.OVERRIDES:
        abort(400)
    listed[index]["override"] = override
    errors, general = _save({"services": listed}, "services", index)
    for problem in [*errors.values(), *general]:
        flash(problem, "error")
    return redirect(url_for("admin.services"))


@bp.route("/services/new", methods=["GET", "POST"])
@managers
def service_new() -> Any:
    return _service_form(None)


@bp.route("/services/<code>/edit", methods=["GET", "POST"])
@managers
def service_edit(code: str) -> Any:
    return _service_form(code)


def _service_form(code: str | None) -> Any:
    return _item_form("services", "code", code, forms.read_service, forms.service_fields, forms.new_service_fields(),
                      "admin/service_form.html", code=code, weekdays=forms.WEEKDAY_NAMES, days=WEEKDAYS,
                      overrides=OVERRIDE_NAMES)


def _item_form(section: str, key: str, ident: str | None, read: Callable[..., tuple[dict[str, Any], forms.Errors]],
               to_fields: Callable[[dict[str, Any]], dict[str, Any]], blank: dict[str, Any], template: str,
               **context: Any) -> Any:
    """The edit (or, `ident` None, add) form of one service or counter, and its saving."""
    listed = _raw(section)
    index = _index(listed, key, ident) if ident is not None else len(listed)
    fields = to_fields(listed[index]) if ident is not None else blank
    errors: forms.Errors = {}
    general: list[str] = []
    if request.method == "POST":
        item, errors = read(request.form, ident)
        fields = {**forms.submitted_fields(request.form), key: item[key]}
        if not errors:
            errors, general = _save({section: [*listed[:index], item, *listed[index + 1:]]}, section, index)
            if not errors and not general:
                return redirect(url_for(f"admin.{section}"))
    status = 422 if errors or general else 200
    return render_template(template, fields=fields, errors=errors, general=general, **context), status


@bp.post("/services/<code>/delete")
@managers
def service_delete(code: str) -> Any:
    """Remove a service; the counters serving it stop serving it (a counter serving nothing else blocks it)."""
    listed = _raw("services")
    _index(listed, "code", code)
    counters = _raw("counters")
    changes: dict[str, Any] = {"services": [s for s in listed if s["code"] != code]}
    only = [c["name"] for c in counters if list(c["services"]) == [code]]
    if only:
        flash(_("%(counters)s serve only this service: give them another service first.", counters=", ".join(only)),
              "error")
        return redirect(url_for("admin.service_edit", code=code))
    if any(code in c["services"] for c in counters):
        changes["counters"] = [{**c, "services": {k: w for k, w in c["services"].items() if k != code}}
                               for c in counters]
    errors, general = _save(changes, "services", None)
    if errors or general:
        for problem in [*errors.values(), *general]:
            flash(problem, "error")
        return redirect(url_for("admin.service_edit", code=code))
    return redirect(url_for("admin.services"))


# --- counters ---------------------------------------------------------------------------------

@bp.get("/counters")
@managers
def counters() -> Any:
    names = {s.code: s.name_vi for s in get_engine().config.services}
    return render_template("admin/counters.html", counters=_raw("counters"), service_names=names)


@bp.route("/counters/new", methods=["GET", "POST"])
@managers
def counter_new() -> Any:
    return _counter_form(None)


@bp.route("/counters/<counter_id>/edit", methods=["GET", "POST"])
@managers
def counter_edit(counter_id: str) -> Any:
    return _counter_form(counter_id)


def _counter_form(counter_id: str | None) -> Any:
    services = _raw("services")
    codes = [s["code"] for s in services]
    return _item_form("counters", "id", counter_id, lambda form, ident: forms.read_counter(form, codes, ident),
                      forms.counter_fields, {"id": "", "name": ""}, "admin/counter_form.html",
                      counter_id=counter_id, services=services)


@bp.post("/counters/<counter_id>/delete")
@managers
def counter_delete(counter_id: str) -> Any:
    listed = _raw("counters")
    _index(listed, "id", counter_id)
    errors, general = _save({"counters": [c for c in listed if c["id"] != counter_id]}, "counters", None)
    if errors or general:
        for problem in [*errors.values(), *general]:
            flash(problem, "error")
        return redirect(url_for("admin.counter_edit", counter_id=counter_id))
    return redirect(url_for("admin.counters"))


# --- queue policy and board message -----------------------------------------------------------

@bp.route("/queue", methods=["GET", "POST"])
@managers
def queue() -> Any:
    return _section_form("queue", forms.read_queue, "admin/queue.html")


@bp.route("/message", methods=["GET", "POST"])
@managers
def message() -> Any:
    return _section_form("message", forms.read_message, "admin/message.html")


def _section_form(section: str, read: Callable[[Any], tuple[Any, forms.Errors]], template: str) -> Any:
    engine = get_engine()
    fields = {"message": engine.message} if section == "message" else dict(raw_config(engine.config)[section])
    if section == "queue":
        fields = forms.queue_fields(fields)
    errors: forms.Errors = {}
    general: list[str] = []
    status = 200
    if request.method == "POST":
        value, errors = read(request.form)
        fields = forms.submitted_fields(request.form)
        if not errors:
            errors, general = _save({section: value}, section, None)
            if not errors and not general:
                return redirect(url_for(f"admin.{section}"))
        status = 422
    return render_template(template, fields=fields, errors=errors, general=general,
                           groups=engine.config.priority_groups), status


def _index(items: list[dict[str, Any]], key: str, value: str | None) -> int:
    """Position of the item whose `key` is `value`; 404 if there is none."""
    for i, item in enumerate(items):
        if item[key] == value:
            return i
    abort(404)


admin_users.register(bp)
admin_procedures.register(bp)
admin_voice.register(bp)
