"""The rating tablet at a counter (`/counter/<id>/rate`): four faces a citizen taps after
being served. It sends the keypad's rating (`Engine.rate`, origin ``tablet/<id>``). After a
score of 3 or 4 it asks why, from `queue.rating_reasons` (big buttons, "Skip", back to rest
after `REASON_S` seconds): the score is recorded at its own tap, and a chosen reason is sent
as a second rating with the same score and the reason, so skipping, walking away or a tablet
losing power never loses the score.

A tablet stands facing the public, so it holds no staff login. It is paired once: a manager
or an admin (never a clerk, who could then rate their own service from their own browser)
logs in on the tablet and presses "Pair";
the tablet gets a long-lived random token in an HttpOnly, SameSite=Strict cookie
``qb_tablet_<counter>`` (only its SHA-256 is stored, in `tablets`) and the login is closed.
From then on the cookie is the tablet's only credential, for this one counter. A manager
lists and unpairs a counter's tablets at `/counter/<id>/tablets`. Pairing and unpairing are
recorded as `tablet_paired` / `tablet_unpaired` events naming who did it.

A child blueprint of `counter` (so its endpoints are ``counter.rating.*``).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from functools import partial
from typing import Any

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, logout_user

from queuebox.clock import iso
from queuebox.protocol import REASON_SCORES, ProtocolError, parse_rating
from server.engine import Engine
from server.web.auth import role_required
from server.web.common import db, get_engine, get_hub
from server.web.i18n import N_, _, current_language
from server.web.live import live_response, shared_reads

bp = Blueprint("rating", __name__)

PAIRED_FOR_S = 5 * 365 * 86400  # a paired tablet stays paired until a manager unpairs it
THANKS_S = 5  # seconds the thank-you screen shows after a tap
REASON_S = 20  # seconds the reasons wait for a tap before the tablet goes back to rest
FACES = ((1, N_("Very satisfied")), (2, N_("Satisfied")), (3, N_("Neutral")), (4, N_("Dissatisfied")))
TOO_LATE = N_("The time to rate has passed. Thank you!")
NOT_A_FACE = N_("Please tap one of the faces.")
RATE_REFUSALS = {"no_ticket": TOO_LATE,
                 "already_rated": N_("Your rating has been recorded already. Thank you!"),
                 "bad_request": NOT_A_FACE,
                 "unknown_counter": N_("This counter does not exist any more."),
                 "unknown_reason": N_("Your rating has been recorded. Thank you!"),
                 "not_allowed": N_("Your rating has been recorded. Thank you!")}


def cookie_name(counter_id: str) -> str:
    return f"qb_tablet_{counter_id}"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _counter_or_404(counter_id: str) -> Any:
    cfg = get_engine().config.counter(counter_id)
    if cfg is None:
        abort(404)
    return cfg


def tablet_paired(counter_id: str) -> bool:
    """Whether this browser carries a pairing cookie of counter `counter_id` that is still valid."""
    token = request.cookies.get(cookie_name(counter_id))
    if not token or len(token) > 200:
        return False
    row = db().execute("SELECT counter FROM tablets WHERE token_hash = ?", [_hash(token)]).fetchone()
    return row is not None and row[0] == counter_id


def rate_view(engine: Engine, counter_id: str) -> dict[str, Any]:
    """What the tablet needs: until when a rating is accepted (null: nothing to rate) and the
    label of the ticket it is for, with the server's `now` to run the countdown against."""
    _board, payloads = engine.snapshots()
    until = payloads.get(counter_id, {}).get("rating_until")
    label = None
    if until:
        finished = engine.snapshot().finished.get(counter_id)
        label = finished.ticket.label if finished else None
    return {"now": iso(engine.now(), engine.config.zone), "rating_until": until, "ticket": label,
            "seq": payloads.get(counter_id, {}).get("seq")}


def reason_buttons(engine: Engine) -> list[dict[str, str]]:
    """The reasons as the tablet shows them: the text the server records (`value`, Vietnamese)
    and the text on the button, in the page's language (Vietnamese when a reason has no English)."""
    english = current_language() == "en"
    return [{"value": value, "text": (reason.get("en") if english else None) or value}
            for value, reason in zip(engine.config.queue.reason_texts(), engine.config.queue.rating_reasons)]


@bp.get("/<counter_id>/rate")
def page(counter_id: str) -> Any:
    """The faces for a paired tablet; the pairing screen for any other browser."""
    cfg = _counter_or_404(counter_id)
    if tablet_paired(counter_id):
        strings = {"thanks": _("Thank you for your rating!"), "network": _("Could not send. Please tap again.")}
        engine = get_engine()
        return render_template("counter/rate.html", counter=cfg, faces=FACES, view=rate_view(engine, counter_id),
                               strings=strings, thanks_s=THANKS_S, reasons=reason_buttons(engine),
                               reason_scores=sorted(REASON_SCORES), reason_s=REASON_S)
    may_pair = current_user.is_authenticated and current_user.is_manager
    status = 403 if current_user.is_authenticated and not may_pair else 200
    return render_template("counter/pair.html", counter=cfg, may_pair=may_pair), status


@bp.post("/<counter_id>/rate/pair")
@role_required("admin", "manager")
def pair(counter_id: str) -> Any:
    """Pair this browser with the counter, then close the staff login it was opened with
    (this browser's only: the manager's other sessions go on)."""
    cfg = _counter_or_404(counter_id)
    token = secrets.token_urlsafe(32)
    engine = get_engine()
    actor = f"web/{current_user.login}"
    db().execute("INSERT INTO tablets (token_hash, counter, paired_at, paired_by) VALUES (?, ?, ?, ?)",
                 [_hash(token), cfg.id, iso(engine.now(), engine.config.zone), current_user.login])
    engine.record("tablet_paired", actor, {"counter": cfg.id})
    logout_user()
    response = redirect(url_for("counter.rating.page", counter_id=cfg.id), code=303)
    response.set_cookie(cookie_name(cfg.id), token, max_age=PAIRED_FOR_S, path=f"/counter/{cfg.id}/rate",
                        httponly=True, samesite="Strict", secure=engine.config.server.secure_cookies)
    return response


@bp.get("/<counter_id>/rate/events")
def events(counter_id: str) -> Response:
    """Server-sent events for a paired tablet: its view now and after every change."""
    _counter_or_404(counter_id)
    if not tablet_paired(counter_id):
        abort(403)
    tablet = _hash(request.cookies.get(cookie_name(counter_id), ""))
    view = partial(rate_view, shared_reads(get_engine(), get_hub()), counter_id)
    return live_response(view, f"tablet:{tablet}", shared=("rate", counter_id))


@bp.get("/<counter_id>/rate/state.json")
def state_json(counter_id: str) -> Any:
    """The tablet's view as JSON (paired tablets only)."""
    _counter_or_404(counter_id)
    if not tablet_paired(counter_id):
        abort(403)
    return jsonify(rate_view(get_engine(), counter_id))


@bp.post("/<counter_id>/rate")
def rate(counter_id: str) -> Any:
    """A tap on a face, JSON `{"id", "score"}`, or on a reason, `{"id", "score", "reason"}` (the
    keypad's rating payload), from a paired tablet."""
    _counter_or_404(counter_id)
    if not tablet_paired(counter_id):
        return _json(403, {"ok": False, "error": {"code": "not_paired", "message": "this tablet is not paired"}},
                     _("This tablet is not paired with the counter."))
    try:
        cmd = parse_rating(json.dumps(request.get_json(silent=True), ensure_ascii=False))
    except ProtocolError as exc:
        return _json(400, {"id": exc.command_id, "ok": False, "error": {"code": "bad_request", "message": exc.message}},
                     _(NOT_A_FACE))
    reply = get_engine().rate(cmd.id, counter_id, cmd.score, reason=cmd.reason, origin=f"tablet/{counter_id}").reply
    if reply.get("ok"):
        return _json(200, reply, _("Thank you for your rating!"))
    code = reply["error"]["code"]
    status = {"bad_request": 400, "unknown_reason": 422}.get(code, 409)
    return _json(status, reply, _(RATE_REFUSALS.get(code) or TOO_LATE))


def _json(status: int, reply: dict[str, Any], message: str) -> Any:
    response = jsonify({"ok": bool(reply.get("ok")), "reply": reply, "message": message})
    response.status_code = status
    return response


@bp.get("/<counter_id>/tablets")
@role_required("admin", "manager")
def tablets(counter_id: str) -> Any:
    """The tablets paired with a counter, to unpair a lost or replaced one."""
    cfg = _counter_or_404(counter_id)
    rows = list(db().query("SELECT token_hash, paired_at, paired_by FROM tablets WHERE counter = ? ORDER BY paired_at",
                           [counter_id]))
    return render_template("counter/tablets.html", counter=cfg, tablets=rows)


@bp.post("/<counter_id>/tablets/unpair")
@role_required("admin", "manager")
def unpair(counter_id: str) -> Any:
    """Unpair one tablet (`tablet` = its token hash) or, with `all`, every tablet of the counter."""
    cfg = _counter_or_404(counter_id)
    if request.form.get("all"):
        removed = db().execute("DELETE FROM tablets WHERE counter = ?", [cfg.id]).rowcount
    else:
        removed = db().execute("DELETE FROM tablets WHERE counter = ? AND token_hash = ?",
                               [cfg.id, request.form.get("tablet", "")]).rowcount
    if removed:
        get_engine().record("tablet_unpaired", f"web/{current_user.login}", {"counter": cfg.id, "tablets": removed})
        flash(_("Tablets unpaired: %(count)s.", count=removed), "info")
    else:
        flash(_("That tablet is not paired any more."), "error")
    return redirect(url_for("counter.rating.tablets", counter_id=cfg.id), code=303)
