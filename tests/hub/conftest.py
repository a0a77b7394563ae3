"""Fixtures of the province dashboard's tests: three centres stored at the hub once per module
(tests/hub/province.py), a fresh copy of that database per test, and the dashboard app."""

from __future__ import annotations

from typing import Any, Iterator

import psycopg
import pytest

from server import users
from tests.factories import make_config
from tests.hub.province import CENTRES, add_accounts, build_centre, send_to_hub


@pytest.fixture
def quick_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Few rounds of the password hash: the production cost only slows tests down."""
    monkeypatch.setattr(users, "HASH_METHOD", "pbkdf2:sha256:1000")


@pytest.fixture(scope="session")
def province_centres(tmp_path_factory: Any) -> list[Any]:
    """The three centres' SQLite files (made once)."""
    folder = tmp_path_factory.mktemp("province")
    return [build_centre(folder, c, seed) for seed, c in enumerate(CENTRES, 1)]


@pytest.fixture(scope="session")
def province_template(postgres: Any, hub_template: str, province_centres: list[Any]) -> str:
    """A hub database holding the three centres and two accounts, made once: tests clone it."""
    name = postgres.create_database(template=hub_template)
    with psycopg.connect(postgres.dsn(name), autocommit=True) as conn:
        for centre in province_centres:
            send_to_hub(conn, centre)
        users_hash = users.HASH_METHOD
        users.HASH_METHOD = "pbkdf2:sha256:1000"
        try:
            add_accounts(conn)
        finally:
            users.HASH_METHOD = users_hash
    return name


@pytest.fixture
def province_dsn(postgres: Any, province_template: str) -> Iterator[str]:
    name = postgres.create_database(template=province_template)
    yield postgres.dsn(name)
    postgres.drop_database(name)


@pytest.fixture
def dashboard(province_dsn: str, quick_hashes: None) -> Any:
    from hub.web import create_app

    app = create_app(province_dsn, make_config(), secret_key="test secret")
    app.config["TESTING"] = True
    return app
