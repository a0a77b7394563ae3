"""Accounts in the administration: only admins manage them, every change is an event
without the password, and the last administrator cannot lock everyone out."""

from __future__ import annotations

import json
from typing import Any

import pytest

from server import store, users
from tests.web.conftest import PASSWORD, csrf_token, log_in, post_form
from tests.web.test_admin import field_error

NEW = {"login": "clerk2", "role": "clerk", "counters": ["2"], "password": "a long secret", "password2": "a long secret"}


def user_events(engine: Any) -> list[tuple[str, dict[str, Any]]]:
    db = store.open_database(engine.db_path)
    try:
        return [(r["actor"], json.loads(r["data"]))
                for r in db.query("SELECT actor, data FROM events WHERE type = 'user_changed' ORDER BY seq")]
    finally:
        db.close()


def account(engine: Any, login: str) -> users.User | None:
    db = store.open_database(engine.db_path)
    try:
        return users.get(db, login)
    finally:
        db.close()


@pytest.mark.parametrize("path", ["/admin/users", "/admin/users/new", "/admin/users/clerk1/edit"])
def test_only_admins_manage_users(login, path):
    assert login("admin").get(path).status_code == 200
    assert login("manager").get(path).status_code == 403
    assert login("clerk1").get(path).status_code == 403


@pytest.mark.parametrize("path", ["/admin/users/new", "/admin/users/clerk1/edit", "/admin/users/clerk1/password"])
def test_a_manager_cannot_change_accounts(login, engine, path):
    response = post_form(login("manager"), path, {**NEW, "role": "admin", "counters": []})
    assert response.status_code == 403
    assert account(engine, "clerk1").role == "clerk"
    assert user_events(engine) == []


@pytest.mark.parametrize("path", ["/admin/users/new", "/admin/users/clerk1/edit", "/admin/users/clerk1/password"])
def test_user_forms_need_the_csrf_token(login, engine, path):
    assert login("admin").post(path, data=NEW).status_code == 400
    assert user_events(engine) == []


def test_the_list_shows_every_account_with_its_role(login):
    page = login("admin").get("/admin/users").get_data(as_text=True)
    for login_name, role in [("admin", "Quản trị viên"), ("manager", "Quản lý"), ("clerk1", "Cán bộ quầy")]:
        row = page[page.index(f'data-login="{login_name}"'):]
        assert role in row[:400]


def test_an_admin_adds_a_clerk_who_can_then_log_in(login, engine, client):
    response = post_form(login("admin"), "/admin/users/new", NEW)
    assert response.status_code == 302
    assert account(engine, "clerk2") == users.User("clerk2", "clerk", ("2",), True)
    assert user_events(engine) == [("web/admin", {"login": "clerk2", "change": "added"})]
    client.post("/logout", data={"csrf_token": csrf_token(client)})
    assert log_in(client, "clerk2", "a long secret").headers["Location"] == "/counter/2"


@pytest.mark.parametrize("changes, field, message", [
    ({"login": "Nguyễn Văn A"}, "login", "Từ 2 đến 32 ký tự"),
    ({"login": "clerk1"}, "login", "Tên đăng nhập này đã có người dùng"),
    ({"counters": []}, "counters", "Cán bộ quầy cần được giao ít nhất một quầy"),
    ({"role": "boss"}, "role", "Hãy chọn một trong các mục có sẵn"),
    ({"password": "short", "password2": "short"}, "password", "Ít nhất 8 ký tự"),
    ({"password2": "another secret"}, "password2", "Hai mật khẩu không khớp nhau"),
])
def test_a_bad_new_account_shows_the_error_next_to_the_field(login, engine, changes, field, message):
    response = post_form(login("admin"), "/admin/users/new", {**NEW, **changes})
    assert response.status_code == 422
    assert message in field_error(response.get_data(as_text=True), field)
    assert user_events(engine) == []
    assert account(engine, "clerk2") is None


def test_an_admin_changes_a_clerks_counters(login, engine):
    response = post_form(login("admin"), "/admin/users/clerk1/edit", {"role": "clerk", "counters": ["2", "1"],
                                                                       "active": "on"})
    assert response.status_code == 302
    assert account(engine, "clerk1").counters == ("1", "2")
    assert user_events(engine) == [("web/admin", {"login": "clerk1", "change": "updated"})]


def test_a_disabled_account_can_no_longer_log_in(login, engine, client):
    post_form(login("admin"), "/admin/users/clerk1/edit", {"role": "clerk", "counters": ["1"]})  # 'active' unticked
    assert account(engine, "clerk1").active is False
    client.post("/logout", data={"csrf_token": csrf_token(client)})
    assert log_in(client, "clerk1").status_code == 401


def test_an_unknown_counter_is_refused(login, engine):
    response = post_form(login("admin"), "/admin/users/clerk1/edit", {"role": "clerk", "counters": ["9"],
                                                                       "active": "on"})
    assert response.status_code == 422
    assert "Không có quầy này" in field_error(response.get_data(as_text=True), "counters")


@pytest.mark.parametrize("form, field", [({"role": "manager", "active": "on"}, "role"), ({"role": "admin"}, "active")])
def test_the_last_active_admin_cannot_demote_or_disable_themselves(login, engine, form, field):
    response = post_form(login("admin"), "/admin/users/admin/edit", form)
    assert response.status_code == 422
    assert "quản trị viên cuối cùng" in field_error(response.get_data(as_text=True), field)
    assert account(engine, "admin") == users.User("admin", "admin", (), True)


def test_with_a_second_admin_the_first_may_step_down(login, engine):
    client = login("admin")
    post_form(client, "/admin/users/manager/edit", {"role": "admin", "active": "on"})
    response = post_form(client, "/admin/users/admin/edit", {"role": "manager", "active": "on"})
    assert response.status_code == 302
    assert account(engine, "admin").role == "manager"
    # no longer an admin, at once: the new role ended the session, and a new login is a manager's
    assert client.get("/admin/users").headers["Location"].startswith("/login")
    log_in(client, "admin")
    assert client.get("/admin/users").status_code == 403


def test_an_admin_sets_a_new_password_and_the_event_does_not_hold_it(login, engine, client):
    secret = "new password 2026"
    response = post_form(login("admin"), "/admin/users/clerk1/password", {"password": secret, "password2": secret})
    assert response.status_code == 302
    assert user_events(engine) == [("web/admin", {"login": "clerk1", "change": "password"})]
    db = store.open_database(engine.db_path)
    assert not any(secret in row[0] for row in db.execute("SELECT data FROM events"))
    client.post("/logout", data={"csrf_token": csrf_token(client)})
    assert log_in(client, "clerk1", PASSWORD).status_code == 401
    assert log_in(client, "clerk1", secret).status_code == 302


@pytest.mark.parametrize("form, field, message", [
    ({"password": "short", "password2": "short"}, "password", "Ít nhất 8 ký tự"),
    ({"password": "long enough 1", "password2": "long enough 2"}, "password2", "Hai mật khẩu không khớp nhau"),
])
def test_a_bad_new_password_is_refused_next_to_the_field(login, engine, form, field, message):
    response = post_form(login("admin"), "/admin/users/clerk1/password", form)
    assert response.status_code == 422
    assert message in field_error(response.get_data(as_text=True), field)
    assert user_events(engine) == []


@pytest.mark.parametrize("path", ["/admin/users/nobody/edit", "/admin/users/nobody/password"])
def test_an_unknown_account_is_404(login, path):
    assert post_form(login("admin"), path, {"role": "clerk"}).status_code == 404

