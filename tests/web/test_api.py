"""The JSON API /api/v1: token auth, tickets, counter commands, board, queue, ticket status,
error shapes and statuses, idempotency, and the OpenAPI document kept in step with the routes."""

from __future__ import annotations

import json
import re

import pytest

from queuebox import protocol, protocol_messages
from server import api_tokens, store
from server.engine import Engine
from server.web import create_app
from tests.factories import make_config

ROUTES = [("get", "/api/v1/board"), ("get", "/api/v1/queue"), ("get", "/api/v1/tickets/sometoken"),
          ("post", "/api/v1/tickets"), ("post", "/api/v1/counters/1/commands"), ("post", "/api/v1/counters/1/rating")]


def new_token(engine, name="portal"):
    db = store.open_database(engine.db_path)
    try:
        return api_tokens.create(db, name, "test", engine.now(), scopes=api_tokens.ALL_SCOPES)
    finally:
        db.close()


@pytest.fixture
def token(engine):
    return new_token(engine)


@pytest.fixture
def api(client, token):
    """Calls the API with the test's token: `api("post", path, json=...)`."""
    def call(method, path, **kwargs):
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        return getattr(client, method)(path, headers=headers, **kwargs)
    return call


def take(api, service="A", command_id="t1", **extra):
    return api("post", "/api/v1/tickets", json={"id": command_id, "service": service, **extra})


def command(api, counter, action, command_id, **extra):
    return api("post", f"/api/v1/counters/{counter}/commands", json={"id": command_id, "action": action, **extra})


def rows(engine, sql, params=()):
    db = store.open_database(engine.db_path)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


# --- tokens ------------------------------------------------------------------------------------

@pytest.mark.parametrize("method, path", ROUTES)
@pytest.mark.parametrize("authorization", [None, "Bearer qb_not-a-token", "Bearer", "Basic cG9ydGFsOng=",
                                           "qb_missing-scheme", "Bearer " + "x" * 500])
def test_every_route_needs_a_valid_token(client, token, method, path, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = getattr(client, method)(path, headers=headers, json={"id": "x", "service": "A", "action": "next"})
    assert response.status_code == 401
    assert response.get_json() == {"ok": False, "error": {"code": "unauthorized", "message": response.get_json()
                                                          ["error"]["message"]}}
    assert "queuebox api-token add" in response.get_json()["error"]["message"]
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="queuebox"')
    assert ('error="invalid_token"' in response.headers["WWW-Authenticate"]) == bool(authorization)
    assert rows(client.application.extensions["queuebox.engine"], "SELECT count(*) FROM tickets")[0][0] == 0


@pytest.mark.parametrize("method, path", ROUTES)
def test_a_revoked_token_stops_working_at_once(client, engine, api, method, path):
    assert api("get", "/api/v1/board").status_code == 200
    db = store.open_database(engine.db_path)
    api_tokens.revoke(db, "portal")
    db.close()
    assert api(method, path, json={"id": "x", "service": "A", "action": "next"}).status_code == 401


def test_the_scheme_is_case_insensitive_and_use_is_recorded(client, engine, token, clock):
    assert client.get("/api/v1/board", headers={"Authorization": f"bearer {token}"}).status_code == 200
    assert rows(engine, "SELECT last_used_at FROM api_tokens")[0][0] == clock().isoformat(timespec="seconds")


def test_the_openapi_document_needs_no_token(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.get_json()["openapi"] == "3.1.0"


# --- tickets -----------------------------------------------------------------------------------

def test_issue_a_ticket_like_a_kiosk(api, engine):
    response = take(api, "A", "portal-1")
    assert response.status_code == 201
    body = response.get_json()
    assert body["id"] == "portal-1" and body["ok"] is True
    kiosk_reply = engine.take("k-1", "lobby", "A").reply  # the MQTT kiosk's reply for comparison
    assert set(body["ticket"]) == set(kiosk_reply["ticket"])
    assert body["ticket"]["label"] == "A001" and body["ticket"]["service_name"] == "Đất đai"
    assert rows(engine, "SELECT kiosk FROM tickets WHERE label = 'A001'") == [("api-portal",)]
    first_issue = "SELECT actor FROM events WHERE type = 'issued' ORDER BY seq LIMIT 1"
    assert rows(engine, first_issue) == [("kiosk/api-portal",)]


def test_a_priority_ticket(api):
    assert take(api, "B", "p-1", priority=True).get_json()["ticket"]["priority"] is True


def test_a_ticket_of_a_priority_group_and_an_unknown_group(api, engine):
    ticket = take(api, "B", "g-1", group="MT").get_json()["ticket"]
    assert (ticket["priority"], ticket["group"], ticket["group_name"]) == (True, "MT", "Phụ nữ mang thai")
    refused = take(api, "B", "g-2", group="ZZ")
    assert refused.status_code == 400 and refused.get_json()["error"]["code"] == "bad_request"
    assert "CT, KT, MT, CC, TE" in refused.get_json()["error"]["message"]
    assert rows(engine, "SELECT label, priority_group FROM tickets") == [("B001", "MT")]


def test_the_same_id_twice_issues_one_ticket_and_the_same_reply(api, engine, client):
    first = take(api, "A", "same-id")
    again = take(api, "A", "same-id")
    assert again.status_code == first.status_code == 201
    assert again.get_json() == first.get_json()
    assert rows(engine, "SELECT count(*) FROM tickets") == [(1,)]
    other = new_token(engine, "other")  # ids are scoped to a token, as to a kiosk
    response = client.post("/api/v1/tickets", json={"id": "same-id", "service": "A"},
                           headers={"Authorization": f"Bearer {other}"})
    assert response.get_json()["ticket"]["label"] == "A002"


def test_an_unknown_service_is_422(api, engine):
    response = take(api, "Z", "z-1")
    assert response.status_code == 422
    assert response.get_json() == {"id": "z-1", "ok": False,
                                   "error": {"code": "unknown_service", "message": "no service with code 'Z'"}}
    assert rows(engine, "SELECT count(*) FROM tickets") == [(0,)]


@pytest.fixture
def limited(tmp_path, clock):
    """An app whose service A allows one ticket a day and whose service C is closed now."""
    services = [{"code": "A", "name_vi": "Đất đai", "daily_limit": 1},
                {"code": "C", "name_vi": "Kinh doanh", "override": "closed"}]
    engine = Engine(make_config(services=services, counters=[{"id": "1", "name": "Quầy 1", "services": {"A": 1}}]),
                    tmp_path / "limited.db", clock=clock)
    app = create_app(engine, secret_key="test")
    headers = {"Authorization": f"Bearer {new_token(engine)}"}
    yield lambda body: app.test_client().post("/api/v1/tickets", json=body, headers=headers)
    engine.close()


def test_refusals_of_the_queue_are_409(limited):
    assert limited({"id": "1", "service": "A"}).status_code == 201
    full = limited({"id": "2", "service": "A"})
    assert full.status_code == 409 and full.get_json()["error"]["code"] == "daily_limit"
    closed = limited({"id": "3", "service": "C"})
    assert closed.status_code == 409 and closed.get_json()["error"]["code"] == "service_closed"


# --- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("body, field", [
    ({"service": "A"}, "id"),
    ({"id": 7, "service": "A"}, "id"),
    ({"id": "x" * 65, "service": "A"}, "id"),
    ({"id": "b1"}, "service"),
    ({"id": "b1", "service": "a"}, "service"),
    ({"id": "b1", "service": ["A"]}, "service"),
    ({"id": "b1", "service": "A", "priority": "yes"}, "priority"),
    ({"id": "b1", "service": "A", "priority": 1}, "priority"),
])
def test_a_bad_field_is_400_naming_it(api, engine, body, field):
    response = api("post", "/api/v1/tickets", json=body)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "bad_request" and error["field"] == field and field in error["message"]
    assert rows(engine, "SELECT count(*) FROM tickets") == [(0,)]


@pytest.mark.parametrize("data", ["", "{", "[1, 2]", '"A"', "null", '{"id": "a", "id": "b", "service": "A"}',
                                  '{"id": "a", "service": "A", "x": NaN}', b"\xff\xfe{}"])
def test_malformed_json_is_400(api, data):
    response = api("post", "/api/v1/tickets", data=data, content_type="application/json")
    assert response.status_code == 400 and response.is_json
    assert response.get_json()["ok"] is False and response.get_json()["error"]["code"] == "bad_request"
    assert "field" not in response.get_json()["error"]


def test_the_reply_echoes_a_readable_id_even_when_the_rest_is_wrong(api):
    assert api("post", "/api/v1/tickets", json={"id": "keep-me", "service": 1}).get_json()["id"] == "keep-me"


@pytest.mark.parametrize("path", ["/api/v1/tickets", "/api/v1/counters/1/commands"])
def test_oversized_bodies_are_413_json(api, engine, path):
    huge = api("post", path, data=json.dumps({"id": "h", "service": "A", "action": "next", "pad": "x" * 70_000}),
               content_type="application/json")
    assert huge.status_code == 413 and huge.get_json()["error"]["code"] == "too_large"
    over_protocol = api("post", path, data=json.dumps({"id": "h", "service": "A", "action": "next", "pad": "x" * 5000}),
                        content_type="application/json")
    assert over_protocol.status_code == 413
    assert over_protocol.get_json()["error"] == {"code": "too_large", "message": over_protocol.get_json()["error"]
                                                 ["message"]}
    assert "4096 bytes" in over_protocol.get_json()["error"]["message"]
    assert rows(engine, "SELECT count(*) FROM events") == [(0,)]


def test_an_unknown_route_or_method_is_json_too(api):
    assert api("get", "/api/v1/nothing").get_json()["error"]["code"] == "not_found"
    wrong = api("delete", "/api/v1/board")
    assert wrong.status_code == 405 and wrong.get_json()["error"]["code"] == "method_not_allowed"


def test_replies_are_utf8_without_escapes_and_never_cached(api):
    response = take(api, "B", "utf")
    assert "Hộ tịch - Chứng thực".encode() in response.data and b"\\u" not in response.data
    assert response.headers["Content-Type"].startswith("application/json")
    for path in ["/api/v1/board", "/api/v1/queue"]:
        assert api("get", path).headers["Cache-Control"] == "no-store"


# --- counters ------------------------------------------------------------------------------------

def test_counter_commands_drive_the_engine(api, engine):
    take(api, "A", "t1"), take(api, "B", "t2")
    called = command(api, "2", "next", "c1")
    assert called.status_code == 200
    assert called.get_json()["ticket"]["label"] == "A001" and called.get_json()["ticket"]["status"] == "called"
    assert command(api, "2", "start", "c2").get_json()["ticket"]["status"] == "serving"
    moved = command(api, "2", "transfer", "c3", to="B")
    assert moved.get_json()["ticket"]["queue"] == "B" and moved.get_json()["ticket"]["transferred_from"] == "A"
    assert command(api, "3", "call", "c4", ticket="A001").get_json()["ticket"]["counter"] == "3"
    assert command(api, "3", "done", "c5").get_json()["ticket"]["status"] == "done"
    assert command(api, "3", "pause", "c6", reason="họp giao ban").get_json() == {"id": "c6", "ok": True,
                                                                                   "ticket": None}
    assert rows(engine, "SELECT DISTINCT actor FROM events WHERE type = 'called'") == [("api/portal/2",),
                                                                                       ("api/portal/3",)]


def test_next_on_an_empty_queue_is_ok_with_no_ticket(api):
    response = command(api, "1", "next", "e1")
    assert response.status_code == 200 and response.get_json() == {"id": "e1", "ok": True, "ticket": None}


def test_the_same_command_id_twice_calls_once(api, engine):
    take(api, "A", "t1"), take(api, "A", "t2")
    first = command(api, "1", "next", "dup")
    again = command(api, "1", "next", "dup")
    assert again.get_json() == first.get_json() and first.get_json()["ticket"]["label"] == "A001"
    assert rows(engine, "SELECT count(*) FROM events WHERE type = 'called'") == [(1,)]
    # the same id at another counter is another command
    assert command(api, "2", "next", "dup").get_json()["ticket"]["label"] == "A002"


@pytest.mark.parametrize("counter, action, extra, status, code", [
    ("9", "next", {}, 404, "unknown_counter"),
    ("1", "start", {}, 409, "not_allowed"),
    ("1", "call", {"ticket": "A999"}, 422, "unknown_ticket"),
    ("1", "no_show", {}, 409, "not_allowed"),
])
def test_counter_refusals(api, counter, action, extra, status, code):
    response = command(api, counter, action, "r1", **extra)
    assert response.status_code == status
    assert response.get_json()["ok"] is False and response.get_json()["error"]["code"] == code


def test_a_transfer_to_an_unknown_service_is_422(api):
    take(api, "A", "t1")
    command(api, "1", "next", "n1")
    response = command(api, "1", "transfer", "x1", to="Z")
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "unknown_service"


def test_a_no_show_after_enough_calls(api):
    take(api, "A", "t1")
    command(api, "1", "next", "n1"), command(api, "1", "recall", "n2")
    assert command(api, "1", "no_show", "n3").get_json()["ticket"]["status"] == "no_show"


COMMAND_BODIES = [
    {"id": "a", "action": "next"}, {"id": "a", "action": "NEXT"}, {"id": "a", "action": "transfer"},
    {"id": "a", "action": "transfer", "to": "b"}, {"id": "a", "action": "transfer", "to": "C"},
    {"id": "a", "action": "call", "ticket": "  "}, {"id": "a", "action": "call", "ticket": "A001"},
    {"id": "a", "action": "pause", "reason": "x" * 201}, {"id": "a", "action": "pause", "reason": None},
    {"id": "", "action": "next"}, {"action": "next"}, {"id": "a", "action": "next", "extra": [1]},
    {"id": "a", "action": 3}, {"id": "a", "action": "resume", "to": None},
]


@pytest.mark.parametrize("body", COMMAND_BODIES)
def test_the_api_accepts_exactly_the_commands_mqtt_accepts(api, body):
    try:
        protocol.parse_counter_command(json.dumps(body).encode())
        mqtt_accepts = True
    except protocol.ProtocolError:
        mqtt_accepts = False
    response = api("post", "/api/v1/counters/2/commands", json=body)
    assert (response.status_code != 400) == mqtt_accepts, response.get_json()


# --- reading -------------------------------------------------------------------------------------

def test_board_is_the_retained_board_payload(api, engine):
    take(api, "A", "t1")
    command(api, "1", "next", "n1")
    board = api("get", "/api/v1/board").get_json()
    assert board == engine.snapshots()[0]
    assert board["calls"][0]["ticket"] == "A001" and board["calls"][0]["counter_name"] == "Quầy 1"
    protocol_messages.parse_board(json.dumps(board).encode())


def test_queue_lists_waiting_tickets_in_order_and_counters(api, engine, clock):
    take(api, "A", "t1"), take(api, "C", "t4")
    clock.advance(minutes=5)
    take(api, "A", "t2"), take(api, "A", "t3")
    command(api, "1", "next", "n1")
    clock.advance(minutes=7)
    queue = api("get", "/api/v1/queue").get_json()
    services = {s["code"]: s for s in queue["services"]}
    assert services["A"]["waiting_labels"] == ["A002", "A003"] and services["A"]["waiting"] == 2
    assert services["A"]["longest_wait_min"] == 7 and services["B"]["longest_wait_min"] is None
    assert services["C"]["waiting_labels"] == ["C001"] and services["C"]["longest_wait_min"] == 12
    assert services["B"]["name_en"] == "Civil status" and services["A"]["open"] is True
    counters = {c["id"]: c for c in queue["counters"]}
    assert counters["1"] == {"id": "1", "name": "Quầy 1", "services": ["A"], "state": "calling", "ticket": "A001"}
    assert counters["3"]["state"] == "idle" and counters["3"]["ticket"] is None
    assert queue["day"] == "2026-11-23"


def test_queue_of_a_new_day_before_any_command_is_empty(api, clock):
    take(api, "A", "t1")
    command(api, "1", "next", "n1")
    command(api, "3", "pause", "p1")
    clock.advance(days=1)
    queue = api("get", "/api/v1/queue").get_json()
    assert queue["day"] == "2026-11-24"
    assert all(s["waiting"] == 0 for s in queue["services"])
    counters = {c["id"]: (c["state"], c["ticket"]) for c in queue["counters"]}
    assert counters == {"1": ("idle", None), "2": ("idle", None), "3": ("paused", None)}


def test_ticket_status_is_the_status_page_json(api, client):
    token = take(api, "A", "t1").get_json()["ticket"]["status_url"].rsplit("/", 1)[1]
    command(api, "1", "next", "n1")
    body = api("get", f"/api/v1/tickets/{token}").get_json()
    assert body == client.get(f"/t/{token}.json").get_json()
    assert body["headline"] == "Mời số A001 đến Quầy 1"
    assert api("get", f"/api/v1/tickets/{token}?lang=en").get_json()["headline"] == "Number A001, please go to Quầy 1"
    missing = api("get", "/api/v1/tickets/nope")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "unknown_ticket"


# --- the OpenAPI document --------------------------------------------------------------------------

def openapi(client):
    return client.get("/api/v1/openapi.json").get_json()


def test_openapi_documents_exactly_the_routes_of_the_app(app, client):
    documented = {(path, method) for path, item in openapi(client)["paths"].items() for method in item}
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1"):
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
            served |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == served


def test_openapi_operations_answer_401_and_name_their_parameters(client):
    doc = openapi(client)
    assert doc["openapi"] == "3.1.0" and doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert op["responses"] and op["operationId"] and op["summary"], (path, method)
            if op.get("security", doc["security"]):
                assert "401" in op["responses"], (path, method)
            names = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert names == set(re.findall(r"{(\w+)}", path)), (path, method)
            if method == "post":
                assert {"400", "413"} <= set(op["responses"]) and op["requestBody"]["required"]


def test_openapi_references_all_resolve(client):
    doc = openapi(client)
    refs = re.findall(r'"\$ref": "#/([^"]+)"', json.dumps(doc))
    assert refs
    for ref in refs:
        node = doc
        for part in ref.split("/"):
            assert part in node, ref
            node = node[part]


def check(doc, schema, value, where="$"):
    """A small JSON Schema check (the subset the document uses): types, required, properties,
    items, enum, const, oneOf, $ref. Enough to keep the document true to the replies."""
    if "$ref" in schema:
        node = doc
        for part in schema["$ref"][2:].split("/"):
            node = node[part]
        return check(doc, node, value, where)
    if "oneOf" in schema:
        errors = []
        for option in schema["oneOf"]:
            try:
                check(doc, option, value, where)
                return None
            except AssertionError as exc:
                errors.append(str(exc))
        raise AssertionError(f"{where}: matches no option: {errors}")
    if "const" in schema:
        assert value == schema["const"], where
    if "enum" in schema:
        assert value in schema["enum"], (where, value)
    kinds = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None), "integer": int}
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        assert any(isinstance(value, kinds[t]) and not (t == "integer" and isinstance(value, bool)) for t in types), \
            (where, value, types)
    if isinstance(value, dict):
        assert set(schema.get("required", [])) <= set(value), (where, set(schema.get("required", [])) - set(value))
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                check(doc, sub, value[key], f"{where}.{key}")
        if isinstance(schema.get("additionalProperties"), dict):
            for key, item in value.items():
                check(doc, schema["additionalProperties"], item, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            check(doc, schema["items"], item, f"{where}[{i}]")
    return None


def test_replies_match_their_documented_schemas(api, client):
    doc = openapi(client)

    def documented(path, method, status, response):
        spec = doc["paths"][path][method]["responses"][str(status)]
        if "$ref" in spec:
            spec = doc["components"]["responses"][spec["$ref"].rsplit("/", 1)[1]]
        assert response.status_code == status, response.get_json()
        check(doc, spec["content"]["application/json"]["schema"], response.get_json())

    issued = take(api, "A", "t1")
    documented("/api/v1/tickets", "post", 201, issued)
    documented("/api/v1/tickets", "post", 422, take(api, "Z", "t2"))
    documented("/api/v1/tickets", "post", 400, take(api, "a", "t3"))
    documented("/api/v1/tickets", "post", 401, client.post("/api/v1/tickets", json={}))
    cmd = "/api/v1/counters/{counter_id}/commands"
    documented(cmd, "post", 200, command(api, "1", "next", "n1"))
    documented(cmd, "post", 200, command(api, "1", "next", "n2"))  # finishes A001, none left: ticket null
    documented(cmd, "post", 409, command(api, "1", "start", "n3"))
    documented(cmd, "post", 404, command(api, "7", "next", "n4"))
    documented(cmd, "post", 413, api("post", "/api/v1/counters/1/commands", data="[" * 5000))
    documented("/api/v1/board", "get", 200, api("get", "/api/v1/board"))
    take(api, "B", "t4")
    documented("/api/v1/queue", "get", 200, api("get", "/api/v1/queue"))
    token = issued.get_json()["ticket"]["status_url"].rsplit("/", 1)[1]
    documented("/api/v1/tickets/{token}", "get", 200, api("get", f"/api/v1/tickets/{token}"))
    documented("/api/v1/tickets/{token}", "get", 404, api("get", "/api/v1/tickets/unknown"))


def test_the_schema_check_itself_catches_a_wrong_reply(client):
    doc = openapi(client)
    with pytest.raises(AssertionError):
        check(doc, {"$ref": "#/components/schemas/TakeReply"}, {"id": "x", "ok": True, "ticket": {"label": 3}})


# --- ratings and their reasons -----------------------------------------------------------------

def rating(api, counter, command_id, **body):
    return api("post", f"/api/v1/counters/{counter}/rating", json={"id": command_id, **body})


def served(api, counter="1"):
    take(api)
    assert command(api, counter, "next", "n1").status_code == 200
    assert command(api, counter, "done", "d1").status_code == 200


def test_the_api_rates_with_a_reason_and_records_both(api, engine):
    served(api)
    response = rating(api, "1", "r1", score=4, reason="Chờ lâu")
    assert response.status_code == 200
    assert response.get_json() == {"id": "r1", "ok": True, "ticket": "A001", "score": 4, "reason": "Chờ lâu"}
    assert rows(engine, "SELECT score, reason FROM ratings") == [(4, "Chờ lâu")]
    assert rows(engine, "SELECT actor FROM events WHERE type = 'rating_reason'") == [("api/portal/1",)]


def test_the_api_attaches_a_later_reason_to_the_same_score(api, engine):
    served(api)
    assert rating(api, "1", "r1", score=3).get_json() == {"id": "r1", "ok": True, "ticket": "A001", "score": 3}
    assert rating(api, "1", "r2", score=3, reason="Khác").get_json()["reason"] == "Khác"
    again = rating(api, "1", "r3", score=3, reason="Chờ lâu")
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_rated"
    assert rows(engine, "SELECT score, reason FROM ratings") == [(3, "Khác")]


def test_the_api_refuses_an_unknown_reason_and_keeps_the_score(api, engine):
    served(api)
    response = rating(api, "1", "r1", score=4, reason="Ồn ào")
    body = response.get_json()
    assert response.status_code == 422 and body["error"]["code"] == "unknown_reason"
    assert (body["ok"], body["ticket"], body["score"]) == (False, "A001", 4)
    assert rows(engine, "SELECT score, reason FROM ratings") == [(4, None)]


@pytest.mark.parametrize("body, status, code", [
    ({"score": 5}, 400, "bad_request"),
    ({"score": 4, "reason": "x" * 61}, 400, "bad_request"),
    ({"score": 4, "reason": 3}, 400, "bad_request"),
    ({"score": 1, "reason": "Chờ lâu"}, 409, "not_allowed"),
])
def test_the_api_refuses_bad_ratings_with_the_protocols_codes(api, engine, body, status, code):
    served(api)
    response = rating(api, "1", "r1", **body)
    assert response.status_code == status and response.get_json()["error"]["code"] == code
    if code == "bad_request":
        assert response.get_json()["error"]["field"] in ("score", "reason")
        assert rows(engine, "SELECT count(*) FROM ratings") == [(0,)]


def test_the_api_rating_of_an_unknown_counter_is_404(api):
    assert rating(api, "9", "r1", score=1).status_code == 404
