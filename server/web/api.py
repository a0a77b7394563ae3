"""The JSON API for integrations, `/api/v1`: issue tickets, send counter commands and ratings, read the
board, the queues and a ticket's status. Described by the OpenAPI document at
`/api/v1/openapi.json` (`server.web.openapi`), the one route that needs no token.

Every other request carries ``Authorization: Bearer <token>`` (`queuebox api-token add NAME`);
without a valid one (unknown, revoked, expired): 401 ``{"ok": false, "error": {"code":
"unauthorized", ...}}``. A token may do only what its scopes say (`SCOPE_OF`: ``issue``
to issue tickets, ``read`` to read, ``counter:<id>`` or ``counter:*`` for counter commands and
ratings);
anything else is 403 ``{"ok": false, "error": {"code": "forbidden", ...}}`` naming the scope
it lacks.

Commands speak the MQTT protocol (DESIGN.md §4): the body is the payload a kiosk or a keypad
would publish, validated by the same parser, so both accept exactly the same commands, and
the reply is the same JSON. The ``id`` is the idempotency key, as on MQTT: a repeated id
gets the first reply again (same status) and changes nothing. Tickets are issued as kiosk
``api-<token name>``; counter commands are recorded with the actor ``api/<token name>/<counter>``
(an id is unique per token and counter). Replies are UTF-8 JSON, never cached.

HTTP statuses: 201 ticket issued, 200 otherwise; refusals carry the protocol's error code:
`STATUS_OF` maps it (400 bad_request with ``error.field`` when one field is at fault,
404 unknown_counter in the path, 409 when the queue's state refuses, 422 for a reference
to something that does not exist); 413 for a body over the protocol's 4096 bytes (or the
app's 64 KiB, refused before it is read).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from flask import Blueprint, g, jsonify, request

from queuebox import protocol
from queuebox.clock import business_day, iso
from server import api_tokens, rules
from server.web.common import db, get_engine, json_error
from server.web.openapi import document
from server.web.public import ticket_status

bp = Blueprint("api", __name__, url_prefix="/api/v1")

STATUS_OF = {
    "bad_request": 400, "unauthorized": 401, "unknown_counter": 404,
    "service_closed": 409, "daily_limit": 409, "not_allowed": 409, "queue_empty": 409,
    "no_ticket": 409, "already_rated": 409,
    "unknown_service": 422, "unknown_ticket": 422, "unknown_reason": 422,
}
SCOPE_OF = {"api.take": "issue", "api.counter_command": "counter", "api.rating": "counter", "api.board": "read",
            "api.queue": "read", "api.ticket": "read"}  # endpoint -> the scope it needs (api_tokens.ApiToken.may)
_FIELD = re.compile(r'"([A-Za-z_][\w.\[\]]*)"')  # protocol messages start with the field they are about


@bp.before_request
def authenticate() -> Any:
    """Every route but the OpenAPI document needs a valid bearer token; its name goes to `g.api_token`."""
    if request.endpoint == "api.openapi":
        return None
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    token = api_tokens.verify(db(), secret.strip(), get_engine().now()) if scheme.lower() == "bearer" else None
    if token is None:
        given = bool(request.headers.get("Authorization"))
        response = json_error(401, "unauthorized", "a valid API token is required: 'Authorization: Bearer <token>' "
                                                   "(make one with `queuebox api-token add NAME`; an unknown, revoked "
                                                   "or expired token is refused)")
        response.headers["WWW-Authenticate"] = 'Bearer realm="queuebox"' + (', error="invalid_token"' if given else "")
        return response
    g.api_token = token.name
    scope = SCOPE_OF.get(request.endpoint or "")
    counter = (request.view_args or {}).get("counter_id")
    if scope is not None and not token.may(scope, counter):
        wanted = f"counter:{counter}" if scope == "counter" else scope
        response = json_error(403, "forbidden", f"the token {token.name!r} lacks the scope {wanted!r} for this "
                                                f"(its scopes: {' '.join(token.scopes)})")
        response.headers["WWW-Authenticate"] = f'Bearer realm="queuebox", error="insufficient_scope", scope="{wanted}"'
        return response
    return None


@bp.after_request
def no_store(response: Any) -> Any:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/openapi.json")
def openapi() -> Any:
    return jsonify(document())


@bp.post("/tickets")
def take() -> Any:
    body = _body()
    try:
        cmd = protocol.parse_take(body)
    except protocol.ProtocolError as exc:
        return _bad_request(exc, body)
    result = get_engine().take(cmd.id, f"api-{g.api_token}", cmd.service, cmd.priority, cmd.group)
    return _reply(result.reply, success=201)


@bp.post("/counters/<counter_id>/commands")
def counter_command(counter_id: str) -> Any:
    engine = get_engine()
    if engine.config.counter(counter_id) is None:
        return json_error(404, "unknown_counter", f"no counter with id {counter_id!r}")
    body = _body()
    try:
        cmd = protocol.parse_counter_command(body)
    except protocol.ProtocolError as exc:
        return _bad_request(exc, body)
    result = engine.counter(cmd.id, counter_id, cmd.action, to=cmd.to, ticket=cmd.ticket, reason=cmd.reason,
                            origin=f"api/{g.api_token}/{counter_id}")
    return _reply(result.reply, success=200)


@bp.post("/counters/<counter_id>/rating")
def rating(counter_id: str) -> Any:
    """A citizen's rating at the counter, and optionally its reason: the keypad's `rating` payload."""
    engine = get_engine()
    if engine.config.counter(counter_id) is None:
        return json_error(404, "unknown_counter", f"no counter with id {counter_id!r}")
    body = _body()
    try:
        cmd = protocol.parse_rating(body)
    except protocol.ProtocolError as exc:
        return _bad_request(exc, body)
    result = engine.rate(cmd.id, counter_id, cmd.score, reason=cmd.reason, origin=f"api/{g.api_token}/{counter_id}")
    return _reply(result.reply, success=200)


@bp.get("/board")
def board() -> Any:
    return jsonify(get_engine().snapshots()[0])


@bp.get("/queue")
def queue() -> Any:
    """Per service: how many wait, their labels in calling order, the longest wait; per counter: state and ticket."""
    engine = get_engine()
    config = engine.config
    state = engine.snapshot()
    now = engine.now()
    today = business_day(None if state.day == date.min else state.day, now, config.zone)
    if today > state.day:  # no command yet today: what remains of an earlier day is cancelled at the next one
        state = rules.open_day(state, today, now).state
    strict = config.queue.priority == "strict"
    local = now.astimezone(config.zone)
    services = []
    for svc in config.services:
        waiting = sorted((t for t in state.tickets.values() if t.status == "waiting" and t.queue == svc.code),
                         key=lambda t: (strict and not t.priority, not t.front, t.id))
        oldest = min((t.issued_at for t in waiting), default=None)
        services.append({
            "code": svc.code, "name_vi": svc.name_vi, "name_en": svc.name_en, "open": svc.is_open(local),
            "waiting": len(waiting), "waiting_labels": [t.label for t in waiting],
            "longest_wait_min": int((now - oldest).total_seconds() // 60) if oldest else None,
        })
    counters = []
    for cfg in config.counters:
        c = state.counters[cfg.id]
        held = state.tickets.get(c.ticket) if c.ticket is not None else None
        counters.append({"id": cfg.id, "name": cfg.name, "services": sorted(cfg.services), "state": c.state,
                         "ticket": held.label if held else None})
    return jsonify({"day": today.isoformat(), "at": iso(now, config.zone), "services": services, "counters": counters})


@bp.get("/tickets/<token>")
def ticket(token: str) -> Any:
    view = ticket_status(token)
    if view is None:
        return json_error(404, "unknown_ticket", "no ticket with this token")
    return jsonify(view)


def _body() -> bytes:
    """The request body (Werkzeug answers 413 past the app's MAX_CONTENT_LENGTH before we read it)."""
    return request.get_data(cache=False)


def _bad_request(exc: protocol.ProtocolError, body: bytes) -> Any:
    if len(body) > protocol.MAX_PAYLOAD:
        return json_error(413, "too_large", f"a command is at most {protocol.MAX_PAYLOAD} bytes of JSON, "
                                            f"this one is {len(body)}")
    error: dict[str, Any] = {"code": "bad_request", "message": exc.message}
    match = _FIELD.match(exc.message)
    if match:
        error["field"] = match.group(1)
    response = jsonify({"id": exc.command_id if exc.command_id is not None else protocol.peek_id(body),
                        "ok": False, "error": error})
    response.status_code = 400
    return response


def _reply(reply: dict[str, Any], success: int) -> Any:
    response = jsonify(reply)
    response.status_code = success if reply.get("ok") else STATUS_OF.get(reply["error"]["code"], 422)
    return response
