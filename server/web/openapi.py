"""The OpenAPI 3.1 document of the JSON API (`server.web.api`), served at /api/v1/openapi.json.

Kept beside the routes by a test that compares its paths and methods with the app's URL map,
and checks every operation answers 401 and every `$ref` resolves.
"""

from __future__ import annotations

import copy
from typing import Any

from queuebox.protocol import (COUNTER_ACTIONS, COUNTER_STATES, ERROR_CODES, MAX_ID, MAX_LABEL, MAX_PAYLOAD,
                               MAX_RATING_REASON, MAX_REASON, REASON_WINDOW_S)

TICKET_STATUSES = ("waiting", "called", "serving", "done", "no_show", "cancelled")


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"oneOf": [schema, {"type": "null"}]}


STR = {"type": "string"}
INT = {"type": "integer", "minimum": 0}
TIME = {"type": "string", "format": "date-time", "description": "ISO-8601 with the centre's UTC offset"}
COMMAND_ID = {"type": "string", "minLength": 1, "maxLength": MAX_ID,
              "description": "client-made unique id, the idempotency key: a repeat gets the first reply"}
SERVICE_CODE = {"type": "string", "pattern": "^[A-Z]{1,3}$", "examples": ["A"]}
GROUP_CODE = {"type": "string", "pattern": "^[A-Z0-9]{1,4}$", "examples": ["CT"]}
COUNTS = {"type": "object", "additionalProperties": INT, "description": "service code → tickets waiting"}
SCORE = {"type": "integer", "minimum": 1, "maximum": 4,
         "description": "1 very satisfied, 2 satisfied, 3 neutral, 4 dissatisfied"}
LABEL = {"type": "string", "minLength": 1, "maxLength": MAX_LABEL, "pattern": r"\S", "examples": ["A023"]}


def _needs(action: str, key: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The rule that `action` needs `key` (not null)."""
    return {"if": {"required": ["action"], "properties": {"action": {"const": action}}},
            "then": {"required": [key], "properties": {key: schema}}}


SCHEMAS: dict[str, Any] = {
    "Error": _obj(["code", "message"],
                  code={"type": "string", "description": "unauthorized, too_large, not_found, method_not_allowed, "
                                                         "or a protocol code: " + ", ".join(ERROR_CODES)},
                  message={"type": "string", "description": "in English, for the integrator"},
                  field={"type": "string", "description": "bad_request: the body field at fault, when there is one"}),
    "ErrorReply": _obj(["ok", "error"], id=_nullable(STR), ok={"const": False}, error=_ref("Error")),
    "TakeRequest": {**_obj(["id", "service"], id=COMMAND_ID, service=SERVICE_CODE,
                           priority={"type": "boolean", "default": False,
                                     "description": "a priority ticket (elderly, disabled, pregnant …)"},
                           group={**_nullable(GROUP_CODE),
                                  "description": "a priority group of the centre (e.g. CT, the elderly): a priority "
                                                 "ticket of that group; an unknown code is bad_request"}),
                    # a group makes the ticket priority: "priority": false with a group is refused
                    "not": {"required": ["group", "priority"],
                            "properties": {"group": GROUP_CODE, "priority": {"const": False}}},
                    "description": "the MQTT `kiosk/<kiosk>/take` payload; unknown fields are ignored"},
    "IssuedTicket": _obj(["label", "service", "service_name", "priority", "issued_at", "waiting_ahead",
                          "estimated_wait_min", "status_url"],
                         label={"type": "string", "examples": ["A023"]}, service=SERVICE_CODE, service_name=STR,
                         service_name_en=STR, priority={"type": "boolean"}, group=_nullable(GROUP_CODE),
                         group_name=_nullable(STR), group_name_en=_nullable(STR), issued_at=TIME, waiting_ahead=INT,
                         estimated_wait_min=_nullable(INT),
                         status_url={"type": "string", "format": "uri", "description": "the public status page (QR)"}),
    "TakeReply": _obj(["id", "ok", "ticket"], id=STR, ok={"const": True}, ticket=_ref("IssuedTicket")),
    "CounterCommand": {**_obj(["id", "action"], id=COMMAND_ID, action={"enum": list(COUNTER_ACTIONS)},
                              to={**_nullable(SERVICE_CODE), "description": "transfer: the service to send the "
                                                                            "ticket to"},
                              ticket={**_nullable(LABEL), "description": "call: the label to call, e.g. A023"},
                              reason={**_nullable({"type": "string", "maxLength": MAX_REASON}),
                                      "description": "e.g. why it pauses"}),
                       # transfer needs "to", call needs "ticket" (null counts as absent)
                       "allOf": [_needs("transfer", "to", SERVICE_CODE), _needs("call", "ticket", LABEL)],
                       "description": "the MQTT `counter/<counter>/command` payload; unknown fields are ignored, "
                                      "a null field counts as absent"},
    "RatingRequest": {**_obj(["id", "score"], id=COMMAND_ID, score=SCORE,
                             reason={**_nullable({"type": "string", "minLength": 1, "maxLength": MAX_RATING_REASON,
                                                  "pattern": r"\S"}),
                                     "description": "for a score of 3 or 4: why, the Vietnamese text of one of the "
                                                    "centre's queue.rating_reasons; may also come in a later request "
                                                    f"with the same score, within {REASON_WINDOW_S} s of the rating"}),
                      "description": "the MQTT `counter/<counter>/rating` payload; unknown fields are ignored, "
                                     "a null field counts as absent"},
    "RatingReply": _obj(["id", "ok", "ticket", "score"], id=STR, ok={"const": True},
                        ticket={"type": "string", "description": "the rated ticket's label"}, score=SCORE,
                        reason={"type": "string", "description": "the reason recorded by this request"}),
    "TicketView": _obj(["label", "service", "queue", "service_name", "priority", "status", "counter", "issued_at",
                        "called_at", "call_count", "transferred_from"],
                       label=STR, service=SERVICE_CODE, queue={**SERVICE_CODE, "description": "the queue it is in now"},
                       service_name=STR, priority={"type": "boolean"}, group=_nullable(GROUP_CODE),
                       group_name=_nullable(STR), status={"enum": list(TICKET_STATUSES)},
                       counter=_nullable(STR), issued_at=TIME, called_at=_nullable(TIME), call_count=INT,
                       transferred_from=_nullable(SERVICE_CODE)),
    "CounterReply": _obj(["id", "ok", "ticket"], id=STR, ok={"const": True},
                         ticket={**_nullable(_ref("TicketView")),
                                 "description": "the ticket the action is about; null e.g. for next on an "
                                                "empty queue"}),
    "BoardCall": _obj(["ticket", "counter", "counter_name", "service", "at", "recall"],
                      ticket=STR, counter=STR, counter_name=STR, service=SERVICE_CODE, at=TIME, recall=INT),
    "Board": _obj(["seq", "at", "calls", "waiting", "message"], seq=INT, at=TIME,
                  calls={"type": "array", "maxItems": 10, "items": _ref("BoardCall"), "description": "newest first"},
                  waiting=COUNTS, message=STR),
    "ServiceQueue": _obj(["code", "name_vi", "name_en", "open", "waiting", "waiting_labels", "longest_wait_min"],
                         code=SERVICE_CODE, name_vi=STR, name_en=STR, open={"type": "boolean"}, waiting=INT,
                         waiting_labels={"type": "array", "items": STR,
                                         "description": "in calling order: issue order, priority first under the "
                                                        "strict policy, transferred-to-front first"},
                         longest_wait_min={**_nullable(INT), "description": "minutes since the oldest was issued"}),
    "CounterQueue": _obj(["id", "name", "services", "state", "ticket"], id=STR, name=STR,
                         services={"type": "array", "items": SERVICE_CODE}, state={"enum": list(COUNTER_STATES)},
                         ticket=_nullable(STR)),
    "Queue": _obj(["day", "at", "services", "counters"], day={"type": "string", "format": "date"}, at=TIME,
                  services={"type": "array", "items": _ref("ServiceQueue")},
                  counters={"type": "array", "items": _ref("CounterQueue")}),
    "TicketStatus": _obj(["label", "service", "service_name", "status", "final", "headline", "detail", "note",
                          "waiting_ahead", "estimated_wait_min", "counter", "counter_name", "transferred_from",
                          "transferred_from_name", "rejoin_until", "issued_at", "issued_time", "updated_at",
                          "updated_text", "day", "refresh_s"],
                         label=STR, service={**SERVICE_CODE, "description": "the queue it is in now"},
                         service_name=STR, status={"enum": list(TICKET_STATUSES)},
                         final={"type": "boolean", "description": "done or cancelled: it will not change again"},
                         headline={"type": "string", "description": "the main sentence, in the asked language"},
                         detail=STR, note=STR, waiting_ahead=_nullable(INT), estimated_wait_min=_nullable(INT),
                         counter=_nullable(STR), counter_name=_nullable(STR),
                         transferred_from=_nullable(SERVICE_CODE), transferred_from_name=_nullable(STR),
                         rejoin_until=_nullable(TIME), issued_at=TIME, issued_time=STR, updated_at=TIME,
                         updated_text=STR, day={"type": "string", "format": "date"}, refresh_s=INT),
}


def _json(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


def _error(description: str) -> dict[str, Any]:
    return _json("ErrorReply", description)


RESPONSES = {
    "Unauthorized": {**_error("no token, or an unknown, revoked or expired one"),
                     "headers": {"WWW-Authenticate": {"schema": STR, "description": 'Bearer realm="queuebox"'}}},
    "Forbidden": _error("forbidden: the token's scopes do not include the one this operation needs "
                        "(`issue`, `read`, `counter:<id>` or `counter:*`; the message names it)"),
    "BadRequest": _error("not a JSON object, or a field of the wrong type or value (`error.field` names it)"),
    "TooLarge": _error(f"the body is larger than {MAX_PAYLOAD} bytes"),
}
_AUTH = {"401": {"$ref": "#/components/responses/Unauthorized"}, "403": {"$ref": "#/components/responses/Forbidden"}}
_COMMAND = {"400": {"$ref": "#/components/responses/BadRequest"}, "413": {"$ref": "#/components/responses/TooLarge"}}
_LANG = {"name": "lang", "in": "query", "required": False, "schema": {"enum": ["vi", "en"]},
         "description": "language of the texts (default: the site's first language)"}


def _body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(schema)}}}


PATHS: dict[str, Any] = {
    "/api/v1/openapi.json": {"get": {
        "operationId": "openapi", "summary": "This document", "security": [], "tags": ["meta"],
        "responses": {"200": {"description": "the OpenAPI document",
                              "content": {"application/json": {"schema": {"type": "object"}}}}}}},
    "/api/v1/tickets": {"post": {
        "operationId": "takeTicket", "summary": "Issue a ticket (like a kiosk button)", "tags": ["tickets"],
        "description": "Needs the scope `issue`. Issued as kiosk `api-<token name>`; nothing is printed. The "
                       "same id again returns the first reply, and issues nothing.",
        "requestBody": _body("TakeRequest"),
        "responses": {"201": _json("TakeReply", "issued (or the first reply to this id)"), **_COMMAND, **_AUTH,
                      "409": _error("service_closed (outside its hours) or daily_limit (no numbers left today)"),
                      "422": _error("unknown_service: no service with this code")}}},
    "/api/v1/tickets/{token}": {"get": {
        "operationId": "ticketStatus", "summary": "A ticket's status, as its public page shows it",
        "tags": ["tickets"], "description": "Needs the scope `read`.",
        "parameters": [{"name": "token", "in": "path", "required": True, "schema": STR,
                        "description": "the token of the ticket's status URL (/t/<token>)"}, _LANG],
        "responses": {"200": _json("TicketStatus", "the status"), **_AUTH,
                      "404": _error("unknown_ticket: no ticket with this token")}}},
    "/api/v1/counters/{counter_id}/commands": {"post": {
        "operationId": "counterCommand", "summary": "A counter action: next, recall, start, done, no_show, "
                                                    "transfer, call, pause, resume", "tags": ["counters"],
        "description": "Needs the scope `counter:<counter_id>` or `counter:*`. Recorded with the actor "
                       "`api/<token name>/<counter>`. The same id again (for this token and counter) returns the "
                       "first reply and changes nothing.",
        "parameters": [{"name": "counter_id", "in": "path", "required": True, "schema": STR}],
        "requestBody": _body("CounterCommand"),
        "responses": {"200": _json("CounterReply", "applied (or the first reply to this id)"), **_COMMAND, **_AUTH,
                      "404": _error("unknown_counter: no counter with this id"),
                      "409": _error("not_allowed: the counter's state refuses it (paused, no ticket, too few calls "
                                    "for no_show …)"),
                      "422": _error("unknown_service (transfer) or unknown_ticket (call)")}}},
    "/api/v1/counters/{counter_id}/rating": {"post": {
        "operationId": "rating", "summary": "A citizen's rating of the ticket the counter finished last, and why",
        "tags": ["counters"],
        "description": "Needs the scope `counter:<counter_id>` or `counter:*`. Accepted once per ticket within "
                       "the counter's rating window; a reason for a score of 3 or 4 comes with it or in a second "
                       "request with the same score. A refused reason leaves the score recorded: its 422 reply "
                       "carries `ticket` and `score`. The same id again returns the first reply.",
        "parameters": [{"name": "counter_id", "in": "path", "required": True, "schema": STR}],
        "requestBody": _body("RatingRequest"),
        "responses": {"200": _json("RatingReply", "recorded (or the first reply to this id)"), **_COMMAND, **_AUTH,
                      "404": _error("unknown_counter: no counter with this id"),
                      "409": _error("no_ticket (nothing to rate, or the time has passed), already_rated (the "
                                    "first counts), not_allowed (a reason for a score of 1 or 2)"),
                      "422": _error("unknown_reason: not one of the centre's reasons (the score, when it came "
                                    "with it, is recorded)")}}},
    "/api/v1/board": {"get": {
        "operationId": "board", "summary": "The waiting-room board, as the retained MQTT `board` message",
        "tags": ["state"], "description": "Needs the scope `read`.",
        "responses": {"200": _json("Board", "the board"), **_AUTH}}},
    "/api/v1/queue": {"get": {
        "operationId": "queue", "summary": "Who waits where, and what each counter is doing", "tags": ["state"],
        "description": "Needs the scope `read`.",
        "responses": {"200": _json("Queue", "the queues of the current business day"), **_AUTH}}},
}


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (a fresh dict each call)."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "queuebox API", "version": "1",
                 "description": "Tickets, counter commands and queue state of a queuebox centre. Every route but "
                                "this document needs `Authorization: Bearer <token>` (`queuebox api-token add "
                                "NAME --scope …`) whose scopes allow the operation. Bodies are UTF-8 JSON; "
                                "commands follow the MQTT protocol (v1)."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": copy.deepcopy(PATHS),
        "components": {"schemas": copy.deepcopy(SCHEMAS), "responses": copy.deepcopy(RESPONSES),
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                                      "description": "a token made by `queuebox api-token add`"}}},
    }
