"""The province dashboard as it runs: `queuebox hub-user` making accounts in the hub's
PostgreSQL, and the dashboard served by the centre's hardened waitress listener."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest

from hub import accounts
from hub.web_main import dashboard_listener
from tests.factories import make_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "hub.example.toml"  # a hub's own config: [hub], no centre's [site]


@pytest.fixture
def hub_config(tmp_path, hub_dsn):
    """The hub example configuration with the test database as the hub's."""
    text = EXAMPLE.read_text(encoding="utf-8").replace('database = "dbname=queuebox_hub"', f'database = "{hub_dsn}"')
    path = tmp_path / "hub.toml"
    path.write_text(text, encoding="utf-8")
    return path


def hub_user(config: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "queuebox.cli", "hub-user", "--config", str(config), *args],
                          cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=60)


def test_hub_user_adds_lists_and_changes_the_password_of_province_accounts(hub_config, hub_dsn):
    added = hub_user(hub_config, "add", "so-noi-vu", "--role", "viewer", "--password-stdin", stdin="mật khẩu dài 1\n")
    assert added.returncode == 0, added.stderr
    listed = hub_user(hub_config, "list")
    assert "so-noi-vu" in listed.stdout and "province_viewer" in listed.stdout
    assert hub_user(hub_config, "passwd", "so-noi-vu", "--password-stdin", stdin="mật khẩu mới 2\n").returncode == 0
    with psycopg.connect(hub_dsn, autocommit=True) as conn:
        hashed = conn.execute("SELECT password_hash FROM accounts WHERE login = 'so-noi-vu'").fetchone()[0]
    assert hashed.startswith("pbkdf2:sha256:600000$")  # the centre's hash, at its production cost


@pytest.mark.parametrize("args, stdin, problem", [
    (("add", "x", "--role", "viewer", "--password-stdin"), "long enough 1\n", "login:"),
    (("add", "ana", "--role", "viewer", "--password-stdin"), "short\n", "password:"),
    (("passwd", "nobody", "--password-stdin"), "long enough 1\n", "login:"),
])
def test_hub_user_refuses_bad_input_clearly(hub_config, args, stdin, problem):
    result = hub_user(hub_config, *args, stdin=stdin)
    assert result.returncode == 2 and result.stderr.startswith(problem)


def test_hub_user_refuses_a_role_the_dashboard_does_not_have(hub_config):
    result = hub_user(hub_config, "add", "ana", "--role", "manager", "--password-stdin", stdin="long enough 1\n")
    assert result.returncode == 2 and "invalid choice" in result.stderr


@pytest.fixture
def served(hub_dsn, monkeypatch):
    from server import users
    monkeypatch.setattr(users, "HASH_METHOD", "pbkdf2:sha256:1000")
    with psycopg.connect(hub_dsn, autocommit=True) as conn:
        accounts.add(conn, "tinh", "correct horse 42", "province_admin")
    config = make_config(hub={"database": hub_dsn}, server={"request_timeout_s": 1.0})
    listener = dashboard_listener(config, "127.0.0.1", 0, secret_key="test secret")
    thread = threading.Thread(target=listener.run, daemon=True)
    thread.start()
    yield listener
    listener.close()
    thread.join(timeout=5)


def test_the_dashboard_is_served_by_waitress_with_the_centres_headers(served):
    with urllib.request.urlopen(f"http://127.0.0.1:{served.port}/login", timeout=5) as response:
        assert response.status == 200
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert "Đăng nhập" in response.read().decode("utf-8")
    with urllib.request.urlopen(f"http://127.0.0.1:{served.port}/healthz", timeout=5) as response:
        assert response.read() == b'{"centres":0,"ok":true}\n'


def test_the_listener_refuses_a_body_over_its_limit_before_reading_it(served):
    request = urllib.request.Request(f"http://127.0.0.1:{served.port}/login", data=b"x" * 100_000, method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    refused.value.close()
    assert refused.value.code == 413


def test_a_client_that_trickles_its_request_is_cut_off_at_the_deadline(served):
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock:
        sock.sendall(b"GET /login HTTP/1.1\r\nHost: x\r\n")  # never finishes its headers
        sock.settimeout(5)
        assert sock.recv(100) == b""  # closed by the server after request_timeout_s, not after minutes
