"""Logging in and out, roles, lock-out, CSRF, security headers."""

from __future__ import annotations

import pytest

from server import store, users
from tests.web.conftest import PASSWORD, csrf_token, log_in, post_form


def test_pages_need_a_login(client):
    for path in ["/", "/counter/1", "/admin/", "/reports/"]:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/login")


def test_login_page_is_vietnamese_first_with_an_english_switch(client):
    assert "Đăng nhập" in client.get("/login").get_data(as_text=True)
    english = client.get("/login?lang=en")
    assert "Log in" in english.get_data(as_text=True)
    assert "lang=en" in english.headers["Set-Cookie"]
    assert "Log in" in client.get("/login").get_data(as_text=True)  # remembered


@pytest.mark.parametrize("account, home", [("clerk1", "/counter/1"), ("clerk3", "/counter/3"),
                                           ("manager", "/admin/"), ("admin", "/admin/")])
def test_login_goes_to_the_accounts_home(client, account, home):
    response = log_in(client, account)
    assert response.status_code == 302
    assert response.headers["Location"] == home


def test_login_returns_to_the_page_asked_for_but_never_off_site(client):
    token = csrf_token(client)
    data = {"csrf_token": token, "login": "manager", "password": PASSWORD}
    assert client.post("/login?next=/counter/2", data=data).headers["Location"] == "/counter/2"
    client.post("/logout", data={"csrf_token": csrf_token(client)})
    token = csrf_token(client)
    for target in ["http://evil.example/", "//evil.example/x", "javascript:alert(1)"]:
        response = client.post(f"/login?next={target}", data={**data, "csrf_token": token})
        assert response.headers["Location"] == "/admin/", target
        client.post("/logout", data={"csrf_token": csrf_token(client)})
        token = csrf_token(client)


def test_wrong_password_and_unknown_login_give_the_same_answer(client):
    wrong = log_in(client, "clerk1", "not the password")
    unknown = log_in(client, "nobody", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "Sai tên đăng nhập hoặc mật khẩu" in wrong.get_data(as_text=True)
    assert "Sai tên đăng nhập hoặc mật khẩu" in unknown.get_data(as_text=True)


def test_an_account_locks_after_repeated_failures_and_unlocks_later(client, engine, clock):
    attempts = engine.config.server.login_attempts
    for _ in range(attempts - 1):
        assert "Sai" in log_in(client, "clerk1", "bad password").get_data(as_text=True)
    locked = log_in(client, "clerk1", "bad password")
    assert "bị khoá" in locked.get_data(as_text=True)
    assert log_in(client, "clerk1").status_code == 401  # even the right password, while locked
    clock.advance(minutes=engine.config.server.lockout_min + 1)
    assert log_in(client, "clerk1").status_code == 302


def test_a_success_resets_the_failure_count(client, engine):
    for _ in range(engine.config.server.login_attempts - 1):
        log_in(client, "clerk1", "bad password")
    assert log_in(client, "clerk1").status_code == 302
    db = store.open_database(engine.db_path)
    assert db.execute("SELECT failed_logins FROM users WHERE login = 'clerk1'").fetchone()[0] == 0


def test_a_disabled_account_cannot_log_in(client, engine):
    db = store.open_database(engine.db_path)
    users.update(db, "clerk1", "clerk", ["1"], active=False)
    assert log_in(client, "clerk1").status_code == 401


def test_logout_needs_post_with_csrf(login):
    client = login("clerk1")
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400  # no CSRF token
    assert client.get("/counter/1").status_code == 200
    assert post_form(client, "/logout", {}).status_code == 302
    assert client.get("/counter/1").status_code == 302


def test_a_form_without_or_with_a_wrong_csrf_token_is_refused(client):
    no_token = client.post("/login", data={"login": "admin", "password": PASSWORD})
    assert no_token.status_code == 400
    assert "Tải lại trang" in no_token.get_data(as_text=True) or "tải lại trang" in no_token.get_data(as_text=True)
    csrf_token(client)
    wrong = client.post("/login", data={"login": "admin", "password": PASSWORD, "csrf_token": "forged"})
    assert wrong.status_code == 400


@pytest.mark.parametrize("account, path, status", [
    ("clerk1", "/counter/1", 200), ("clerk1", "/counter/3", 403), ("clerk1", "/admin/", 403),
    ("clerk1", "/counter/nope", 404), ("manager", "/counter/3", 200), ("manager", "/admin/", 200),
])
def test_who_may_open_what(login, account, path, status):
    assert login(account).get(path).status_code == status


def test_session_cookie_is_http_only_and_same_site(client):
    response = log_in(client, "clerk1")
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("queuebox_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_pages_forbid_framing_and_outside_scripts(client):
    headers = client.get("/login").headers
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"


def test_an_oversized_body_is_refused(client):
    response = client.post("/login", data={"login": "x" * 100_000, "password": "y"})
    assert response.status_code == 413


def test_unknown_page_is_a_plain_404(client):
    response = client.get("/nothing-here")
    assert response.status_code == 404
    assert "không tồn tại" in response.get_data(as_text=True)
