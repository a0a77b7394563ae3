"""The counter console: who may use it, every button through the engine, idempotent presses,
refusals in Vietnamese, CSRF, the no-script form, the JSON view and the live event stream."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import pytest

from server import store
from server.web.common import get_hub
from tests.web.conftest import csrf_token, post_form


def take(engine: Any, n: int, service: str = "A", priority: bool = False, prefix: str = "t") -> list[str]:
    """Issue `n` tickets of `service` from a kiosk; their labels."""
    return [engine.take(f"{prefix}{service}{i}", "k1", service, priority).reply["ticket"]["label"] for i in range(n)]


PRESSES = itertools.count()


def send(client: Any, action: str, counter: str = "1", command_id: str | None = None, **fields: Any) -> Any:
    """What counter.js sends for one press: JSON with a new id and the session's CSRF token in X-CSRFToken."""
    token = csrf_token(client, "/login")
    body = {"id": command_id or f"press-{next(PRESSES)}", "action": action, **fields}
    return client.post(f"/counter/{counter}/command", json=body, headers={"X-CSRFToken": token})


def events(engine: Any, kind: str | None = None) -> list[dict[str, Any]]:
    db = store.open_database(engine.db_path)
    try:
        sql = "SELECT * FROM events" + (" WHERE type = ?" if kind else "") + " ORDER BY seq"
        return list(db.query(sql, [kind] if kind else []))
    finally:
        db.close()


def updates(response: Any, count: int, limit: int = 10) -> list[dict[str, Any]]:
    """The first `count` update events of a streaming response (reads at most `limit` chunks)."""
    found: list[dict[str, Any]] = []
    chunks = iter(response.response)
    for _ in range(limit):
        if len(found) == count:
            break
        chunk = next(chunks)
        text = chunk.decode() if isinstance(chunk, bytes) else chunk
        if text.startswith("event: update"):
            found.append(json.loads(text.split("data: ", 1)[1]))
    return found


# --- who may use which console -------------------------------------------------------------

@pytest.mark.parametrize("path", ["/counter/1", "/counter/1/state.json", "/counter/1/events"])
def test_console_routes_need_a_login(client, path):
    response = client.get(path)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_a_command_without_login_goes_to_the_login_page_and_changes_nothing(client, engine):
    take(engine, 1)
    response = client.post("/counter/1/command", json={"id": "x", "action": "next"},
                           headers={"X-CSRFToken": csrf_token(client)})
    assert response.status_code == 302
    assert events(engine, "called") == []


@pytest.mark.parametrize("account, counter, status", [
    ("clerk1", "1", 200), ("clerk1", "3", 403), ("clerk3", "3", 200), ("clerk3", "1", 403),
    ("manager", "2", 200), ("admin", "3", 200), ("clerk1", "9", 404), ("manager", "nope", 404),
])
@pytest.mark.parametrize("suffix", ["", "/state.json"])
def test_who_may_open_which_console(login, account, counter, status, suffix):
    assert login(account).get(f"/counter/{counter}{suffix}").status_code == status


def test_a_clerk_cannot_press_buttons_of_another_counter(login, engine):
    take(engine, 1, "B")
    client = login("clerk1")
    response = client.post("/counter/3/command", json={"id": "other", "action": "next"},
                           headers={"X-CSRFToken": csrf_token(client, "/counter/1")})
    assert response.status_code == 403
    assert events(engine, "called") == []


def test_a_clerk_cannot_open_the_event_stream_of_another_counter(login):
    assert login("clerk1").get("/counter/3/events").status_code == 403


# --- the page ----------------------------------------------------------------------------

def test_the_console_shows_the_ticket_held_and_the_queue_in_vietnamese(login, engine):
    take(engine, 5)
    engine.counter("c1", "1", "next")
    page = login("clerk1").get("/counter/1").get_data(as_text=True)
    assert 'id="ticket-label"' in page and ">A001</div>" in page
    assert "Đất đai" in page and "Đang gọi số" in page
    assert 'id="waiting-total" class="total">4<' in page
    for label in ("A002", "A003", "A004", "A005"):
        assert f'data-label="{label}"' in page
    for words in ("Gọi số tiếp", "Gọi lại", "Bắt đầu phục vụ", "Hoàn thành", "Vắng mặt", "Chuyển", "Tạm dừng"):
        assert words in page, words
    assert "<kbd>N</kbd>" in page and "<kbd>V</kbd>" in page


def test_buttons_that_cannot_apply_are_greyed_out(login, engine):
    page = login("clerk1").get("/counter/1").get_data(as_text=True)  # idle: next, call and pause only
    def disabled(action: str) -> bool:
        start = page.index(f'value="{action}"')
        return "disabled" in page[start:page.index(">", start)]
    assert not disabled("next") and not disabled("call") and not disabled("pause")
    assert disabled("recall") and disabled("done") and disabled("no_show") and disabled("transfer")


def test_the_console_speaks_english_on_request(login, engine):
    page = login("clerk1").get("/counter/1?lang=en").get_data(as_text=True)
    assert "Call next" in page and "No ticket" in page and "Gọi số tiếp" not in page


def test_the_page_loads_only_its_own_script_and_style(login):
    page = login("clerk1").get("/counter/1").get_data(as_text=True)
    assert '<script src="/static/counter.js">' in page and "/static/counter.css" in page
    assert "<script>" not in page and " style=" not in page  # the CSP allows no inline script or style


def test_state_json_carries_the_ticket_times_and_the_queue(login, engine, clock):
    take(engine, 2)
    take(engine, 1, "B")
    engine.counter("c1", "1", "next")
    clock.advance(seconds=30)
    engine.counter("c2", "1", "start")
    view = login("clerk1").get("/counter/1/state.json").get_json()
    assert view["counter"] == {"id": "1", "name": "Quầy 1", "state": "serving", "pause_reason": None}
    t = view["ticket"]
    assert t["label"] == "A001" and t["status"] == "serving" and t["call_count"] == 1
    assert t["issued_at"].startswith("2026-11-23T09:00:00") and t["started_at"].startswith("2026-11-23T09:00:30")
    assert view["waiting"] == [{"code": "A", "name": "Đất đai", "count": 1, "oldest": view["waiting"][0]["oldest"]}]
    assert view["waiting_total"] == 1 and [n["label"] for n in view["next"]] == ["A002"]  # B is not served at 1
    assert view["now"].startswith("2026-11-23T09:00:30") and view["rating_until"] is None


def test_the_page_renders_the_timers_before_its_script_runs(login, engine, clock):
    take(engine, 1)
    clock.advance(seconds=30)
    engine.counter("c1", "1", "next")
    engine.counter("c2", "1", "start")
    clock.advance(minutes=61, seconds=5)
    page = login("clerk1").get("/counter/1").get_data(as_text=True)
    assert '<dd id="t-wait">00:30</dd>' in page and '<dd id="t-service">1:01:05</dd>' in page


def test_the_view_lists_heavier_services_first_and_says_when_a_rating_is_open(login, engine):
    take(engine, 1, "C")
    take(engine, 1, "B")
    client = login("clerk3")
    view = client.get("/counter/3/state.json").get_json()
    assert [w["code"] for w in view["waiting"]] == ["B", "C"]  # counter 3 weighs B 2, C 1
    assert [n["label"] for n in view["next"]] == ["B001", "C001"]
    engine.counter("c1", "3", "next")
    engine.counter("c2", "3", "done")
    assert client.get("/counter/3/state.json").get_json()["rating_until"].startswith("2026-11-23T09:01:00")


# --- commands ------------------------------------------------------------------------------

def test_next_calls_the_first_waiting_ticket_and_answers_with_the_new_view(login, engine):
    take(engine, 3)
    response = send(login("clerk1"), "next")
    body = response.get_json()
    assert response.status_code == 200 and body["ok"] is True
    assert body["reply"]["ticket"]["label"] == "A001"
    assert body["message"] == "Đang mời số A001."
    assert body["view"]["ticket"]["label"] == "A001" and body["view"]["waiting_total"] == 2
    called = events(engine, "called")
    assert len(called) == 1 and called[0]["actor"] == "web/clerk1"


def test_the_same_press_sent_twice_does_one_thing_and_gets_the_same_reply(login, engine):
    take(engine, 3)
    client = login("clerk1")
    first = send(client, "next", command_id="double-click-1")
    again = send(client, "next", command_id="double-click-1")
    assert first.get_json()["reply"] == again.get_json()["reply"]
    assert len(events(engine, "called")) == 1
    assert engine.snapshots()[1]["1"]["ticket"] == "A001"


def test_every_action_reaches_the_engine(login, engine):
    take(engine, 3)
    client = login("clerk1")
    assert send(client, "next").get_json()["message"] == "Đang mời số A001."
    assert send(client, "recall").get_json()["message"] == "Đã gọi lại số A001 (lần 2)."
    assert send(client, "no_show").get_json()["message"] == "Đã ghi nhận số A001 vắng mặt."
    assert send(client, "call", ticket="a001").get_json()["message"] == "Đang mời số A001."  # back within the window
    assert send(client, "start").get_json()["message"] == "Đang phục vụ số A001."
    assert send(client, "transfer", to="B").get_json()["message"] == "Đã chuyển số A001 sang Hộ tịch - Chứng thực."
    assert send(client, "call", ticket="A003").get_json()["message"] == "Đang mời số A003."
    assert send(client, "done").get_json()["message"] == "Đã hoàn thành số A003."
    assert send(client, "pause", reason="Họp giao ban").get_json()["message"] == "Quầy đã tạm dừng."
    assert engine.snapshot().counters["1"].pause_reason == "Họp giao ban"
    assert send(client, "resume").get_json()["message"] == "Quầy đã làm việc trở lại."
    kinds = [e["type"] for e in events(engine) if e["counter"] == "1"]
    assert kinds == ["called", "recalled", "no_show", "called", "started", "transferred", "called", "done",
                     "paused", "resumed"]


def test_next_with_nobody_waiting_says_so(login):
    response = send(login("clerk1"), "next")
    assert response.status_code == 200
    assert response.get_json()["reply"]["ticket"] is None
    assert response.get_json()["message"] == "Không có ai đang chờ."


@pytest.mark.parametrize("setup, action, fields, status, message", [
    ([], "recall", {}, 409, "Quầy chưa có số nào đang được gọi."),
    ([], "done", {}, 409, "Quầy chưa có số nào đang được gọi."),
    ([], "resume", {}, 409, "Quầy không ở trạng thái tạm dừng."),
    ([], "call", {"ticket": "A099"}, 409, "Hôm nay không có số A099 đang chờ."),
    ([], "call", {}, 400, "Nhập số cần gọi, ví dụ A023."),
    (["next"], "transfer", {}, 400, "Chọn lĩnh vực cần chuyển số đến."),
    (["next"], "transfer", {"to": "Z"}, 409, "Không có lĩnh vực này."),
    (["next"], "transfer", {"to": "A"}, 409, "Số A001 đã ở lĩnh vực này."),
    (["next"], "no_show", {}, 409, "Cần gọi số A001 ít nhất 2 lần rồi mới ghi nhận vắng mặt."),
    (["next"], "pause", {}, 409, "Hãy hoàn thành hoặc chuyển số A001 trước khi tạm dừng."),
    (["next", "start"], "recall", {}, 409, "Số A001 đang được phục vụ."),
    (["next"], "call", {"ticket": "A001"}, 409, "Số A001 đã được gọi."),
    (["pause"], "next", {}, 409, "Quầy đang tạm dừng: bấm “Làm việc tiếp” trước."),
    (["pause"], "pause", {}, 409, "Quầy đang tạm dừng rồi."),
    ([], "dance", {}, 400, "Không đọc được yêu cầu."),
])
def test_refusals_are_explained_in_vietnamese(login, engine, setup, action, fields, status, message):
    take(engine, 2)
    for i, step in enumerate(setup):
        assert engine.counter(f"setup{i}", "1", step).ok
    before = len(events(engine))
    response = send(login("clerk1"), action, **fields)
    assert response.status_code == status
    assert response.get_json()["ok"] is False and response.get_json()["message"] == message
    assert len(events(engine)) == before


def test_a_ticket_called_at_another_counter_cannot_be_called_here(login, engine):
    take(engine, 1)
    engine.counter("c2", "2", "next")
    response = send(login("clerk1"), "call", ticket="A001")
    assert response.status_code == 409
    assert response.get_json()["message"] == "Số A001 đã được gọi ở quầy khác."


@pytest.mark.parametrize("body", [{"action": "next"}, {"id": "x" * 65, "action": "next"}, {"id": 5, "action": "next"},
                                  ["next"], {"id": "ok", "action": "call", "ticket": "A" * 17}])
def test_malformed_commands_are_refused_as_the_mqtt_protocol_refuses_them(login, engine, body):
    take(engine, 1)
    client = login("clerk1")
    response = client.post("/counter/1/command", json=body, headers={"X-CSRFToken": csrf_token(client, "/counter/1")})
    assert response.status_code == 400 and response.get_json()["reply"]["error"]["code"] == "bad_request"
    assert events(engine, "called") == []


@pytest.mark.parametrize("headers", [{}, {"X-CSRFToken": "forged"}])
def test_a_command_without_the_csrf_token_is_refused(login, engine, headers):
    take(engine, 1)
    response = login("clerk1").post("/counter/1/command", json={"id": "nocsrf", "action": "next"}, headers=headers)
    assert response.status_code == 400
    assert "Tải lại trang" in response.get_data(as_text=True)
    assert events(engine, "called") == []


# --- without JavaScript --------------------------------------------------------------------

def test_the_plain_form_works_without_javascript_and_shows_the_result(login, engine):
    take(engine, 2)
    client = login("clerk1")
    response = post_form(client, "/counter/1/command", {"action": "next", "id": "form-1"})
    assert response.status_code == 303 and response.headers["Location"] == "/counter/1"
    page = client.get("/counter/1").get_data(as_text=True)
    assert "Đang mời số A001." in page and "message-info" in page
    refused = post_form(client, "/counter/1/command", {"action": "no_show", "id": "form-2"})
    assert refused.status_code == 303
    assert "ít nhất 2 lần" in client.get("/counter/1").get_data(as_text=True)


def test_the_form_pause_takes_the_typed_reason_over_the_chosen_one(login, engine):
    client = login("clerk1")
    post_form(client, "/counter/1/command", {"action": "pause", "id": "f1", "reason": "Họp",
                                            "reason_other": "Đi lấy hồ sơ"})
    assert engine.snapshot().counters["1"].pause_reason == "Đi lấy hồ sơ"
    page = client.get("/counter/1").get_data(as_text=True)
    assert "Tạm dừng: Đi lấy hồ sơ" in page
    assert re.search(r'id="resume-form"\s*>', page) and re.search(r'id="pause-form"\s*hidden', page)


def test_the_form_repeated_with_the_same_hidden_id_applies_once(login, engine):
    take(engine, 3)
    client = login("clerk1")
    for _ in range(2):
        post_form(client, "/counter/1/command", {"action": "next", "id": "reloaded-form"})
    assert len(events(engine, "called")) == 1


# --- live updates --------------------------------------------------------------------------

def test_the_event_stream_sends_the_view_and_again_after_each_change(login, engine, app):
    take(engine, 2)
    response = login("clerk1").get("/counter/1/events", buffered=False)
    try:
        assert response.status_code == 200
        assert response.mimetype == "text/event-stream"
        assert response.headers["Cache-Control"] == "no-cache" and response.headers["X-Accel-Buffering"] == "no"
        [first] = updates(response, 1)
        assert first["waiting_total"] == 2 and first["ticket"] is None
        take(engine, 1, prefix="later")  # a kiosk issues a ticket meanwhile
        [second] = updates(response, 1)
        assert second["waiting_total"] == 3 and second["seq"] > first["seq"]
        engine.counter("c1", "1", "next")
        [third] = updates(response, 1)
        assert third["ticket"]["label"] == "A001" and third["counter"]["state"] == "calling"
    finally:
        response.close()


def test_the_event_stream_ends_when_the_server_shuts_down(login, app):
    response = login("clerk1").get("/counter/1/events", buffered=False)
    chunks = iter(response.response)
    assert next(chunks).startswith(b"retry:")
    assert next(chunks).startswith(b"event: update")
    with app.app_context():
        get_hub().close()
    assert list(chunks) == []
    response.close()
