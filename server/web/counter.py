"""The counter console (`/counter/<id>`): the page a clerk works from all day.

Every button sends the protocol's counter command (`queuebox.protocol.parse_counter_command`
validates it exactly as for MQTT) to `Engine.counter`, with the id the page made for that
press: a double click, or a retry after a network error, applies once and gets the first
reply again. The page is rendered on the server, then kept current by server-sent events
(`/events`, fed by the engine's commits through the hub); the timers run in the browser.
Without JavaScript the same forms post and redirect back with a message.

The rating tablet's pages (`rating.py`) are a child blueprint, under the same `/counter` prefix.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import partial
from typing import Any

from flask import Blueprint, Response, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from queuebox.clock import iso
from queuebox.protocol import ACTION_KEYS, ProtocolError, parse_counter_command
from server import rules
from server.engine import Engine
from server.web import rating
from server.web.auth import require_counter, session_ended
from server.web.common import get_engine, get_hub, new_command_id
from server.web.i18n import N_, _, current_language
from server.web.live import live_response, shared_reads

bp = Blueprint("counter", __name__, url_prefix="/counter")
bp.register_blueprint(rating.bp)

NEXT_SHOWN = 8  # waiting labels listed on the console
# action -> keyboard shortcut shown on its button (Space also calls next)
SHORTCUTS = ACTION_KEYS
# Buttons that make sense in each counter state (the others are greyed out; the engine decides anyway).
ENABLED = {"idle": ("next", "call", "pause"),
           "calling": ("next", "recall", "start", "done", "no_show", "transfer", "call"),
           "serving": ("next", "done", "transfer", "call"),
           "paused": ("resume",)}
PAUSE_REASONS = (N_("Break"), N_("Meeting"), N_("Helping at another counter"), N_("Processing dossiers"))
STATE_NAMES = {"idle": N_("Idle"), "calling": N_("Calling"), "serving": N_("Serving"), "paused": N_("Paused")}
NOT_ALLOWED = N_("That cannot be done now.")
# What a refusal means to a clerk, by the engine's error code (refinements for not_allowed below).
REFUSALS = {
    "bad_request": N_("The request could not be read."),
    "unknown_service": N_("There is no such service."),
    "unknown_counter": N_("This counter does not exist any more."),
    "unknown_ticket": N_("There is no ticket %(label)s waiting today."),
    "service_closed": N_("This service is closed now."),
    "daily_limit": N_("This service has issued all its tickets for today."),
    "queue_empty": N_("Nobody is waiting."),
    "not_allowed": NOT_ALLOWED,
    "no_ticket": N_("There is nothing to rate."),
    "already_rated": N_("This ticket has been rated already."),
}
DONE_MESSAGES = {
    "next": N_("Calling %(label)s."), "call": N_("Calling %(label)s."),
    "recall": N_("Called %(label)s again (call %(count)s)."), "start": N_("Serving %(label)s."),
    "done": N_("%(label)s is done."), "no_show": N_("%(label)s marked absent."),
    "transfer": N_("%(label)s sent to %(service)s."),
    "pause": N_("The counter is paused."), "resume": N_("The counter is open again."),
}


# --- the console's data ---------------------------------------------------------------------

def service_name(engine: Engine, code: str, lang: str) -> str:
    """A service's name in `lang` (Vietnamese when it has no English name)."""
    svc = engine.config.service(code)
    if svc is None:
        return code
    return svc.name_en if lang == "en" and svc.name_en else svc.name_vi


def console_view(engine: Engine, counter_id: str, lang: str = "vi") -> dict[str, Any]:
    """Everything the console shows, as JSON: the counter, the ticket it holds (times ISO with
    offset), waiting counts and the next waiting labels of its services, the rating window.

    `now` is the server's clock, so the page can run its timers against it whatever the
    tablet's own clock says. `counter` is null if the counter was removed from the config."""
    _board, payloads = engine.snapshots()
    state = engine.snapshot()
    cfg = engine.config.counter(counter_id)
    payload = payloads.get(counter_id)
    if cfg is None or payload is None or counter_id not in state.counters:
        return {"counter": None, "now": iso(engine.now(), engine.config.zone)}
    zone = engine.config.zone
    c = state.counters[counter_id]
    held = state.tickets.get(c.ticket) if c.ticket is not None else None
    finished = state.finished.get(counter_id)
    codes = sorted(cfg.services, key=lambda code: (-cfg.services[code], code))
    waiting = [t for t in state.tickets.values() if t.status == "waiting" and t.queue in cfg.services]

    def when(moment: datetime | None) -> str | None:
        return iso(moment, zone) if moment else None
    ticket = None
    if held is not None:
        ticket = {"label": held.label, "service": held.service, "queue": held.queue,
                  "service_name": service_name(engine, held.queue, lang), "priority": held.priority,
                  "group": held.priority_group, "group_name": group_name(engine, held.priority_group, lang),
                  "status": held.status, "issued_at": when(held.issued_at), "called_at": when(held.called_at),
                  "started_at": when(held.started_at), "call_count": held.call_count,
                  "transferred_from": held.transferred_from}
    return {
        "seq": payload["seq"],
        "now": iso(engine.now(), zone),
        "counter": {"id": cfg.id, "name": cfg.name, "state": c.state, "pause_reason": c.pause_reason},
        "ticket": ticket,
        "waiting": [{"code": code, "name": service_name(engine, code, lang),
                     "count": sum(1 for t in waiting if t.queue == code),
                     "oldest": when(min((t.issued_at for t in waiting if t.queue == code), default=None))}
                    for code in codes],
        "waiting_total": len(waiting),
        "next": [{"label": t.label, "service": t.queue, "priority": t.priority, "group": t.priority_group,
                  "transferred": t.transferred_from is not None}
                 for t in rules.call_order(state, counter_id, NEXT_SHOWN)],
        "rating_until": payload.get("rating_until"),
        "rating_ticket": finished.ticket.label if payload.get("rating_until") and finished else None,
        "no_show_min_calls": engine.config.queue.no_show_min_calls,
    }


def group_name(engine: Any, code: str | None, lang: str) -> str | None:
    """The name of priority group `code` in `lang`; the code itself for a group no longer configured; None for none."""
    group = engine.config.priority_group(code)
    return group.name(lang) if group else code


def _state_names() -> dict[str, str]:
    return {state: _(name) for state, name in STATE_NAMES.items()}


def client_strings() -> dict[str, str]:
    """The translated words counter.js shows (it has no catalog of its own)."""
    return {**{f"state_{k}": v for k, v in _state_names().items()},
            "no_ticket": _("No ticket"), "paused_because": _("Paused: %(reason)s"), "paused": _("Paused"),
            "priority": _("Priority"), "transferred": _("transferred from %(service)s"),
            "calls": _("Calls: %(count)s"), "nobody": _("Nobody is waiting."),
            "live": _("Live"), "offline": _("Connection lost, reconnecting…"),
            "network": _("The server did not answer. Check the network and press again."),
            "rating_open": _("Awaiting the rating of %(label)s"), "working": _("Sending…"), "longest": _("longest wait"),
            "expired": _("This form has expired or did not come from this page. Reload the page and try again.")}


# --- messages ------------------------------------------------------------------------------

def done_message(action: str, reply: dict[str, Any], engine: Engine) -> str:
    """What a successful command did, in the clerk's words."""
    t = reply.get("ticket")
    if action in ("next", "call") and t is None:
        return _("Nobody is waiting.")
    if action in ("pause", "resume"):
        return _(DONE_MESSAGES[action])
    assert t is not None
    return _(DONE_MESSAGES[action], label=t["label"], count=t.get("call_count", 0),
             service=service_name(engine, t.get("queue") or "", current_language()))


def refusal_message(engine: Engine, counter_id: str, action: str, code: str, ticket: str | None = None) -> str:
    """Why the engine refused `action`, for the clerk. A refusal changes nothing, so the state
    read now is the state the command met."""
    if code == "bad_request" and action == "call":
        return _("Type the number to call, for example A023.")
    if code == "bad_request" and action == "transfer":
        return _("Choose the service to send the ticket to.")
    if code == "unknown_ticket":
        return _(REFUSALS[code], label=(ticket or "").upper())
    if code != "not_allowed":
        return _(REFUSALS.get(code) or NOT_ALLOWED)
    state = engine.snapshot()
    c = state.counters.get(counter_id)
    held = state.tickets.get(c.ticket) if c is not None and c.ticket is not None else None
    if c is not None and c.state == "paused":
        return _("The counter is already paused.") if action == "pause" else _("The counter is paused: press Resume first.")
    if action == "resume":
        return _("The counter is not paused.")
    if held is None:
        if action == "call":
            return _("Ticket %(label)s is already called at another counter.", label=(ticket or "").upper())
        return _("There is no ticket at this counter now.")
    if action == "pause":
        return _("Finish or transfer %(label)s before pausing.", label=held.label)
    if action == "no_show" and held.status == "called":
        return _("Call %(label)s at least %(count)s times before marking it absent.", label=held.label,
                 count=engine.config.queue.no_show_min_calls)
    if action in ("recall", "start", "no_show") and held.status == "serving":
        return _("%(label)s is already being served.", label=held.label)
    if action == "transfer":
        return _("%(label)s is already in this service.", label=held.label)
    if action == "call":
        return _("Ticket %(label)s is already called.", label=(ticket or held.label).upper())
    return _(NOT_ALLOWED)


# --- routes --------------------------------------------------------------------------------

@bp.get("/<counter_id>")
@login_required
def console(counter_id: str) -> Any:
    """The console page, rendered with the current state."""
    require_counter(counter_id)
    engine = get_engine()
    lang = current_language()
    view = console_view(engine, counter_id, lang)
    services = [{"code": s.code, "name": service_name(engine, s.code, lang)} for s in engine.config.services]
    enabled = ENABLED.get(view["counter"]["state"], ()) if view["counter"] else ()
    data = {"view": view, "strings": client_strings(), "shortcuts": SHORTCUTS, "enabled": ENABLED,
            "urls": {"command": url_for(".command", counter_id=counter_id),
                     "events": url_for(".events", counter_id=counter_id),
                     "state": url_for(".state_json", counter_id=counter_id)}}
    return render_template("counter/console.html", view=view, services=services, shortcuts=SHORTCUTS,
                           enabled=enabled, pause_reasons=[_(r) for r in PAUSE_REASONS],
                           state_names=_state_names(), data=data, form_id=new_command_id, since=when_text)


@bp.get("/<counter_id>/state.json")
@login_required
def state_json(counter_id: str) -> Any:
    """The console's view as JSON (what each server-sent event carries)."""
    require_counter(counter_id)
    return jsonify(console_view(get_engine(), counter_id, current_language()))


@bp.get("/<counter_id>/events")
@login_required
def events(counter_id: str) -> Response:
    """Server-sent events: the console's view now and after every change."""
    require_counter(counter_id)
    lang = current_language()
    view = partial(console_view, shared_reads(get_engine(), get_hub()), counter_id, lang)
    return live_response(view, f"user:{current_user.get_id()}", shared=("console", counter_id, lang),
                         ended=session_ended())


@bp.post("/<counter_id>/command")
@login_required
def command(counter_id: str) -> Any:
    """One button press: JSON `{"id", "action", "to"?, "ticket"?, "reason"?}` from the page's
    script (answered with the reply, a message and the new view), or the same fields as a
    plain form (answered with a redirect back to the console and the message)."""
    require_counter(counter_id)
    engine = get_engine()
    as_json = request.is_json
    payload = request.get_json(silent=True) if as_json else _form_payload()
    action = payload.get("action") if isinstance(payload, dict) else None
    action = action if isinstance(action, str) else ""
    try:
        cmd = parse_counter_command(json.dumps(payload, ensure_ascii=False))
    except ProtocolError as exc:
        message = refusal_message(engine, counter_id, action, "bad_request")
        return _answer(as_json, counter_id, 400, {"id": exc.command_id, "ok": False,
                                                   "error": {"code": "bad_request", "message": exc.message}}, message)
    result = engine.counter(cmd.id, counter_id, cmd.action, to=cmd.to, ticket=cmd.ticket, reason=cmd.reason,
                            origin=f"web/{current_user.login}")
    reply = result.reply
    if result.ok:
        return _answer(as_json, counter_id, 200, reply, done_message(cmd.action, reply, engine))
    code = reply["error"]["code"]
    message = refusal_message(engine, counter_id, cmd.action, code, cmd.ticket)
    return _answer(as_json, counter_id, 400 if code == "bad_request" else 409, reply, message)


def _form_payload() -> dict[str, Any]:
    """A no-script form post as a protocol command: blank fields are absent."""
    form = request.form
    payload: dict[str, Any] = {"id": form.get("id") or new_command_id(), "action": form.get("action", "")}
    reason = (form.get("reason_other") or "").strip() or (form.get("reason") or "").strip()
    for key, value in (("to", form.get("to")), ("ticket", form.get("ticket")), ("reason", reason)):
        if value and value.strip():
            payload[key] = value.strip().upper() if key == "ticket" else value.strip()
    return payload


def _answer(as_json: bool, counter_id: str, status: int, reply: dict[str, Any], message: str) -> Any:
    if not as_json:
        flash(message, "info" if reply.get("ok") else "error")
        return redirect(url_for("counter.console", counter_id=counter_id), code=303)
    body = {"reply": reply, "message": message, "ok": bool(reply.get("ok"))}
    if status != 400:
        body["view"] = console_view(get_engine(), counter_id, current_language())
    response = jsonify(body)
    response.status_code = status
    return response


def when_text(moment: str | None, now: str) -> str:
    """Minutes:seconds from `moment` to `now` (both ISO), as the page's timers show them."""
    if not moment:
        return "—"
    seconds = max(0, int((datetime.fromisoformat(now) - datetime.fromisoformat(moment)).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"

