"""Fixtures for the web app: a real engine on a SQLite file in tmp_path, the Flask app,
accounts of every role, and helpers to log in and post forms with their CSRF token."""

from __future__ import annotations

import re
from typing import Any, Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from server import store, users
from server.engine import Engine
from server.web import create_app
from tests.factories import FakeClock, insert_procedures, make_config

PASSWORD = "correct horse 42"
# login -> (role, counters)
ACCOUNTS = {"admin": ("admin", []), "manager": ("manager", []), "clerk1": ("clerk", ["1"]), "clerk3": ("clerk", ["3"])}


@pytest.fixture(autouse=True)
def quick_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests hash with few rounds: the production cost (~0.2 s a hash) would only slow them down."""
    monkeypatch.setattr(users, "HASH_METHOD", "pbkdf2:sha256:1000")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def engine_with_accounts(config: Any, db_path: Any, clock: FakeClock) -> Engine:
    """An engine on a new database file with the ACCOUNTS (password PASSWORD)."""
    eng = Engine(config, db_path, clock=clock)
    db = store.open_database(eng.db_path)
    for login, (role, counters) in ACCOUNTS.items():
        users.add(db, login, PASSWORD, role, counters, clock())
    db.close()
    return eng


@pytest.fixture
def engine(tmp_path: Any, clock: FakeClock) -> Engine:
    eng = engine_with_accounts(make_config(), tmp_path / "web.db", clock)
    yield eng
    eng.close()


@pytest.fixture
def procedures(engine: Engine) -> list[int]:
    """The engine's catalogue holds tests.factories.SAMPLE_PROCEDURES; their ids in that order."""
    return insert_procedures(engine.db_path)


@pytest.fixture
def app(engine: Engine) -> Flask:
    app = create_app(engine, secret_key="test secret")
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    """The CSRF token of the client's session, read from a page's <meta name="csrf-token">."""
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert match, f"no csrf token on {path}"
    return match.group(1)


def post_form(client: FlaskClient, path: str, data: dict[str, Any], **kwargs: Any) -> Any:
    """POST a form the way a browser does, with the session's CSRF token."""
    return client.post(path, data={"csrf_token": csrf_token(client), **data}, **kwargs)


def log_in(client: FlaskClient, login: str, password: str = PASSWORD) -> Any:
    return post_form(client, "/login", {"login": login, "password": password})


@pytest.fixture
def login(client: FlaskClient) -> Callable[[str], FlaskClient]:
    """`login("clerk1")` logs the test client in as that account and returns it."""
    def do(account: str) -> FlaskClient:
        response = log_in(client, account)
        assert response.status_code == 302, response.get_data(as_text=True)
        return client
    return do
