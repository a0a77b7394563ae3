"""The rating tablet page: pairing (who may, the cookie, one counter only, unpairing), the
faces only while the counter's rating window is open, ratings through the engine."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from server import store
from tests.web.conftest import csrf_token, log_in, post_form

FACES = 'data-score="1"'


def rows(engine: Any, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    db = store.open_database(engine.db_path)
    try:
        return list(db.query(sql, params or []))
    finally:
        db.close()


def pair(app: Any, counter: str = "1", account: str = "manager") -> str:
    """Pair a fresh browser with `counter` as `account`; the tablet token it got."""
    browser = app.test_client()
    assert log_in(browser, account).status_code == 302
    response = post_form(browser, f"/counter/{counter}/rate/pair", {})
    assert response.status_code == 303
    cookie = browser.get_cookie(f"qb_tablet_{counter}", path=f"/counter/{counter}/rate")
    assert cookie is not None
    return cookie.value


def tablet(app: Any, token: str, counter: str = "1", cookie_counter: str | None = None) -> Any:
    """A browser that has nothing but the pairing cookie."""
    browser = app.test_client()
    name = cookie_counter or counter
    browser.set_cookie(f"qb_tablet_{name}", token, path=f"/counter/{counter}/rate")
    return browser


def rate(browser: Any, score: Any, counter: str = "1", command_id: str = "tap-1") -> Any:
    token = csrf_token(browser, f"/counter/{counter}/rate")
    return browser.post(f"/counter/{counter}/rate", json={"id": command_id, "score": score},
                        headers={"X-CSRFToken": token})


def serve_one(engine: Any, counter: str = "1", service: str = "A") -> None:
    engine.take(f"take-{counter}", "k1", service)
    assert engine.counter(f"next-{counter}", counter, "next").ok
    assert engine.counter(f"done-{counter}", counter, "done").ok


# --- pairing ---------------------------------------------------------------------------------

def test_a_browser_that_is_not_paired_gets_the_pairing_screen_not_the_faces(client):
    response = client.get("/counter/1/rate")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Ghép máy tính bảng này" in page and FACES not in page
    assert 'name="next" value="/counter/1/rate"' in page  # log in, then come back here


def test_a_clerk_of_another_counter_may_not_pair(login):
    response = login("clerk3").get("/counter/1/rate")
    assert response.status_code == 403
    assert "không được ghép" in response.get_data(as_text=True)
    assert post_form(login("clerk3"), "/counter/1/rate/pair", {}).status_code == 403


def test_pairing_needs_a_login_and_a_csrf_token(client, login):
    assert client.post("/counter/1/rate/pair").status_code == 400  # no CSRF token
    assert post_form(client, "/counter/1/rate/pair", {}).status_code == 302  # to the login page
    assert login("clerk1").post("/counter/1/rate/pair").status_code == 400


def test_unknown_counters_have_no_rating_page(client, login):
    assert client.get("/counter/9/rate").status_code == 404
    assert post_form(login("manager"), "/counter/9/rate/pair", {}).status_code == 404


@pytest.mark.parametrize("account", ["manager", "admin"])
def test_pairing_sets_a_long_lived_strict_cookie_stores_its_hash_and_closes_the_login(app, engine, account):
    browser = app.test_client()
    log_in(browser, account)
    response = post_form(browser, "/counter/1/rate/pair", {})
    assert response.status_code == 303 and response.headers["Location"] == "/counter/1/rate"
    header = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("qb_tablet_1="))
    assert "HttpOnly" in header and "SameSite=Strict" in header and "Path=/counter/1/rate" in header
    assert "Max-Age=157680000" in header
    token = browser.get_cookie("qb_tablet_1", path="/counter/1/rate").value
    assert len(token) >= 40
    [row] = rows(engine, "SELECT * FROM tablets")
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest() and token not in json.dumps(row)
    assert row["counter"] == "1" and row["paired_by"] == account
    assert browser.get("/counter/1").status_code == 302  # the staff login on the tablet is closed
    assert rows(engine, "SELECT actor FROM events WHERE type = 'tablet_paired'") == [{"actor": f"web/{account}"}]


def test_a_fresh_browser_with_only_the_cookie_sees_the_rating_page(app):
    page = tablet(app, pair(app)).get("/counter/1/rate")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and FACES in text
    for label in ("Rất hài lòng", "Hài lòng", "Bình thường", "Không hài lòng"):
        assert label in text
    assert "Cảm ơn quý khách" in text and 'class="topbar"' not in text  # kiosk-style: no staff menu
    assert "/static/rate.js" in text and "<script>" not in text and " style=" not in text


def test_the_cookie_of_counter_1_does_not_open_counter_2(app, engine):
    token = pair(app, "1")
    serve_one(engine, "2")
    other = tablet(app, token, counter="2")  # the same token presented as counter 2's
    assert FACES not in other.get("/counter/2/rate").get_data(as_text=True)
    assert rate(other, 1, counter="2").status_code == 403
    assert other.get("/counter/2/rate/events").status_code == 403
    assert rows(engine, "SELECT * FROM ratings") == []


def test_a_forged_or_unknown_cookie_is_not_a_pairing(app):
    browser = tablet(app, "made-up-token")
    assert FACES not in browser.get("/counter/1/rate").get_data(as_text=True)
    assert browser.get("/counter/1/rate/state.json").status_code == 403


# --- rating ----------------------------------------------------------------------------------

def test_a_paired_tablet_rates_the_ticket_just_finished(app, engine):
    browser = tablet(app, pair(app))
    serve_one(engine)
    view = browser.get("/counter/1/rate/state.json").get_json()
    assert view["ticket"] == "A001" and view["rating_until"].startswith("2026-11-23T09:01:00")
    response = rate(browser, 1)
    assert response.status_code == 200
    assert response.get_json()["reply"] == {"id": "tap-1", "ok": True, "ticket": "A001", "score": 1}
    assert response.get_json()["message"] == "Cảm ơn quý khách đã đánh giá!"
    [rating] = rows(engine, "SELECT r.score, r.counter, t.label FROM ratings r JOIN tickets t ON t.id = r.ticket")
    assert rating == {"score": 1, "counter": "1", "label": "A001"}
    assert rows(engine, "SELECT actor FROM events WHERE type = 'rated'") == [{"actor": "tablet/1"}]
    assert browser.get("/counter/1/rate/state.json").get_json()["rating_until"] is None  # faces go away


def test_a_double_tap_counts_once(app, engine):
    browser = tablet(app, pair(app))
    serve_one(engine)
    first, again = rate(browser, 2, command_id="same"), rate(browser, 2, command_id="same")
    assert first.get_json()["reply"] == again.get_json()["reply"]
    assert len(rows(engine, "SELECT * FROM ratings")) == 1


@pytest.mark.parametrize("serve, score, status, message", [
    (False, 1, 409, "Đã hết thời gian đánh giá. Xin cảm ơn quý khách!"),
    (True, 5, 400, "Xin quý khách chạm vào một biểu tượng."),
    (True, "1", 400, "Xin quý khách chạm vào một biểu tượng."),
])
def test_refused_ratings_are_explained(app, engine, serve, score, status, message):
    browser = tablet(app, pair(app))
    if serve:
        serve_one(engine)
    response = rate(browser, score)
    assert response.status_code == status and response.get_json()["message"] == message
    assert rows(engine, "SELECT * FROM ratings") == []


def test_the_second_rating_of_a_ticket_is_refused_politely(app, engine):
    browser = tablet(app, pair(app))
    serve_one(engine)
    assert rate(browser, 1, command_id="a").status_code == 200
    second = rate(browser, 4, command_id="b")
    assert second.status_code == 409 and second.get_json()["reply"]["error"]["code"] == "already_rated"
    assert "đã được ghi nhận" in second.get_json()["message"]
    assert [r["score"] for r in rows(engine, "SELECT score FROM ratings")] == [1]


def test_the_window_closes_after_the_configured_time(app, engine, clock):
    browser = tablet(app, pair(app))
    serve_one(engine)
    assert browser.get("/counter/1/rate/state.json").get_json()["rating_until"] is not None
    clock.advance(seconds=engine.config.queue.rating_window_s + 1)
    assert browser.get("/counter/1/rate/state.json").get_json()["rating_until"] is None
    assert rate(browser, 1).status_code == 409


def test_rating_without_the_cookie_or_the_csrf_token_is_refused(app, engine, client):
    serve_one(engine)
    token = csrf_token(client, "/counter/1/rate")
    unpaired = client.post("/counter/1/rate", json={"id": "x", "score": 1}, headers={"X-CSRFToken": token})
    assert unpaired.status_code == 403 and unpaired.get_json()["reply"]["error"]["code"] == "not_paired"
    paired = tablet(app, pair(app))
    paired.get("/counter/1/rate")
    assert paired.post("/counter/1/rate", json={"id": "y", "score": 1}).status_code == 400
    assert rows(engine, "SELECT * FROM ratings") == []


def test_the_tablet_event_stream_needs_the_cookie_and_follows_the_counter(app, engine, client):
    assert client.get("/counter/1/rate/events").status_code == 403
    browser = tablet(app, pair(app))
    response = browser.get("/counter/1/rate/events", buffered=False)
    try:
        assert response.mimetype == "text/event-stream"
        chunks = iter(response.response)
        assert next(chunks).startswith(b"retry:")
        idle = json.loads(next(chunks).decode().split("data: ", 1)[1])
        assert idle["rating_until"] is None and idle["ticket"] is None
        serve_one(engine)
        asking = json.loads(next(chunks).decode().split("data: ", 1)[1])
        assert asking["ticket"] == "A001" and asking["rating_until"] is not None
    finally:
        response.close()


# --- unpairing ------------------------------------------------------------------------------

def test_a_manager_lists_and_unpairs_a_tablet(app, engine, login):
    token = pair(app, account="admin")
    pair(app, account="manager")
    manager = login("manager")
    page = manager.get("/counter/1/tablets").get_data(as_text=True)
    first = hashlib.sha256(token.encode()).hexdigest()
    assert first[:8] in page and "admin" in page and "Huỷ ghép" in page
    response = post_form(manager, "/counter/1/tablets/unpair", {"tablet": first})
    assert response.status_code == 303
    assert "Đã huỷ ghép 1 máy tính bảng." in manager.get("/counter/1/tablets").get_data(as_text=True)
    assert FACES not in tablet(app, token).get("/counter/1/rate").get_data(as_text=True)
    assert len(rows(engine, "SELECT * FROM tablets")) == 1
    post_form(manager, "/counter/1/tablets/unpair", {"all": "1"})
    assert rows(engine, "SELECT * FROM tablets") == []
    assert len(rows(engine, "SELECT * FROM events WHERE type = 'tablet_unpaired'")) == 2


def test_unpairing_a_tablet_that_is_gone_says_so(login):
    manager = login("manager")
    post_form(manager, "/counter/1/tablets/unpair", {"tablet": "0" * 64})
    assert "không còn được ghép" in manager.get("/counter/1/tablets").get_data(as_text=True)


@pytest.mark.parametrize("account, status", [("clerk1", 403), ("clerk3", 403), ("manager", 200), ("admin", 200)])
def test_only_managers_manage_tablets(login, account, status):
    client = login(account)
    assert client.get("/counter/1/tablets").status_code == status
    expected = 303 if status == 200 else 403
    assert post_form(client, "/counter/1/tablets/unpair", {"all": "1"}).status_code == expected
