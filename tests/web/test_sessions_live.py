"""Sessions end when they should, through a real waitress server: a cookie saved before
logout, a new password, a new role or disabling the account opens nothing any more, and a
login lasts `server.session_hours`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from tests.web.browser import LiveServer
from tests.web.http_client import Device

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "queuebox.example.toml"


@pytest.fixture
def server(app) -> Iterator[LiveServer]:
    with LiveServer(app) as live:
        yield live


def logged_in(server: LiveServer, login: str) -> Device:
    device = Device(server.url)
    assert device.log_in(login).status == 302
    return device


def replay(server: LiveServer, saved: dict[str, str], path: str = "/counter/1") -> str:
    """Open `path` from a new device holding only the `saved` cookies: where it ends up."""
    reply = Device(server.url, cookies=saved).get(path)
    return "login" if reply.status == 302 and reply.location.startswith("/login") else str(reply.status)


def test_a_cookie_saved_before_logout_opens_nothing_after_it(server):
    clerk = logged_in(server, "clerk1")
    saved = dict(clerk.cookies)
    assert clerk.post_form("/logout", {}).status == 302
    assert replay(server, saved) == "login"


def test_logout_ends_the_sessions_of_that_account_on_every_device(server):
    desk, phone = logged_in(server, "clerk1"), logged_in(server, "clerk1")
    other = logged_in(server, "manager")
    desk.post_form("/logout", {})
    assert replay(server, phone.cookies) == "login"
    assert replay(server, other.cookies) == "200"  # another account's sessions go on


def test_a_new_password_from_the_web_ends_the_accounts_sessions(server):
    saved = dict(logged_in(server, "clerk1").cookies)
    secret = "a brand new password"
    admin = logged_in(server, "admin")
    assert admin.post_form("/admin/users/clerk1/password", {"password": secret, "password2": secret}).status == 302
    assert replay(server, saved) == "login"


def test_a_new_password_from_the_command_line_ends_the_accounts_sessions(server, engine):
    saved = dict(logged_in(server, "clerk1").cookies)
    done = subprocess.run([sys.executable, "-m", "queuebox.cli", "user", "--config", str(EXAMPLE), "--database",
                           str(engine.db_path), "passwd", "clerk1", "--password-stdin"], input="a brand new password\n",
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert replay(server, saved) == "login"


def test_a_new_role_ends_the_accounts_sessions(server):
    saved = dict(logged_in(server, "clerk1").cookies)
    admin = logged_in(server, "admin")
    assert admin.post_form("/admin/users/clerk1/edit", {"role": "manager", "active": "on"}).status == 302
    assert replay(server, saved, "/admin/") == "login"


def test_disabling_an_account_ends_its_sessions(server):
    saved = dict(logged_in(server, "clerk1").cookies)
    admin = logged_in(server, "admin")
    assert admin.post_form("/admin/users/clerk1/edit", {"role": "clerk", "counters": ["1"]}).status == 302
    assert replay(server, saved) == "login"


def test_changing_a_clerks_counters_keeps_the_session(server, engine):
    saved = dict(logged_in(server, "clerk1").cookies)
    admin = logged_in(server, "admin")
    admin.post_form("/admin/users/clerk1/edit", {"role": "clerk", "counters": ["1", "2"], "active": "on"})
    assert replay(server, saved, "/counter/2") == "200"


def test_a_login_lasts_session_hours(server, engine, clock):
    saved = dict(logged_in(server, "clerk1").cookies)
    clock.advance(hours=engine.config.server.session_hours - 1)
    assert replay(server, saved) == "200"
    clock.advance(hours=1)
    assert replay(server, saved) == "login"


@pytest.mark.parametrize("path", ["/counter/1/events", "/admin/events"])
def test_an_open_live_page_ends_when_its_session_is_ended_elsewhere(server, path):
    """A console or overview left streaming does not outlive a logout on another device."""
    import http.client
    import time
    account = "manager"
    watcher, desk = logged_in(server, account), logged_in(server, account)
    host, port = server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=20)
    conn.request("GET", path, headers={"Cookie": "; ".join(f"{k}={v}" for k, v in watcher.cookies.items())})
    response = conn.getresponse()
    assert response.status == 200
    first = b""
    while b"event: update" not in first:  # "retry: …", then the page's view
        first += response.read1(65536)
    desk.post_form("/logout", {})
    ended = time.monotonic()
    while response.read1(65536):  # the stream goes on until the server ends it
        assert time.monotonic() - ended < 10, "the live page outlived its session"
    assert time.monotonic() - ended < 8
    conn.close()
