"""Schemathesis fuzzes the JSON API from the OpenAPI document the app serves
(/api/v1/openapi.json), calling the WSGI app directly (no network), with a valid bearer
token and without one: no 5xx, every response conforms to the document (status, content
type, headers, body schema), bodies the document refuses are refused, and no route
answers without a token (schemathesis also replays each request without the token).

Each operation is one test; its cases come from schemathesis's hypothesis strategy
(`@schema.parametrize()` needs the schema at import, and its lazy form fails on pytest 9).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig

from server import api_tokens, store
from server.engine import Engine
from server.web import create_app
from server.web.openapi import PATHS
from tests.factories import FakeClock, make_config

EXAMPLES = settings(max_examples=25, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.filter_too_much])
OPERATIONS = [(method.upper(), path) for path, methods in PATHS.items() for method in methods]
CONFIG = SchemathesisConfig.from_dict({"checks": {
    # A well-formed request may name a service or ticket that does not exist: 422, as documented.
    "positive_data_acceptance": {"expected-statuses": ["2xx", 401, 404, 409, 422]},
}, "operations": [{
    # JSON Schema cannot tell 4.0 from 4 (both are "integer"); the protocol takes only whole JSON
    # numbers for a score, as the keypad sends, so a score like 4.0 is refused with 400.
    "include-path": "/api/v1/counters/{counter_id}/rating",
    "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", 400, 401, 404, 409, 422]}},
}]})


@pytest.fixture
def engine(tmp_path: Any) -> Any:
    eng = Engine(make_config(), tmp_path / "api.db", clock=FakeClock())
    eng.take("seed-1", "k1", "A")  # something to call, transfer and look up
    eng.take("seed-2", "k1", "B", priority=True)
    yield eng
    eng.close()


@pytest.fixture
def token(engine: Any) -> str:
    db = store.open_database(engine.db_path)
    try:
        return api_tokens.create(db, "fuzz", "test", engine.now(), scopes=api_tokens.ALL_SCOPES)
    finally:
        db.close()


@pytest.fixture
def app(engine: Any) -> Any:
    return create_app(engine, secret_key="test")


def cases(app: Any, engine: Any, method: str, path: str) -> Any:
    """Schemathesis's cases of one operation, half of them aimed at a counter and a ticket that
    exist (random path values are nearly always unknown, so the body would never be read)."""
    operation = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=CONFIG)[path][method]
    real = {"counter_id": "2", "token": next(iter(engine.snapshot().tickets.values())).token}

    def aimed(case: Any) -> Any:
        for key in case.path_parameters or {}:
            case.path_parameters[key] = real[key]
        return case
    return st.one_of(operation.as_strategy(), operation.as_strategy().map(aimed))


@pytest.mark.parametrize("method,path", OPERATIONS)
def test_the_api_conforms_to_its_document_with_a_token(app: Any, engine: Any, token: str, method: str,
                                                        path: str) -> None:
    statuses = set()

    @EXAMPLES
    @given(case=cases(app, engine, method, path))
    def check(case: Any) -> None:
        response = case.call_and_validate(headers={"Authorization": f"Bearer {token}"})
        statuses.add(response.status_code)

    check()
    # some cases got through to the route: answered, or refused by the engine (a paused counter: 409)
    assert max(statuses) < 500 and any(status < 300 or status in (409, 422) for status in statuses), statuses


@pytest.mark.parametrize("method,path", OPERATIONS)
def test_the_api_conforms_to_its_document_without_a_token(app: Any, engine: Any, method: str, path: str) -> None:
    @EXAMPLES
    @given(case=cases(app, engine, method, path))
    def check(case: Any) -> None:
        case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
        response = case.call_and_validate()
        assert response.status_code == (200 if path == "/api/v1/openapi.json" else 401)

    check()


def test_an_undeclared_method_says_what_is_allowed(app: Any, token: str) -> None:
    response = app.test_client().open("/api/v1/board", method="TRACE", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 405
    assert set(response.headers.get("Allow", "").split(", ")) == {"GET", "HEAD", "OPTIONS"}
