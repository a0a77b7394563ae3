"""API token scopes and expiry, through a real waitress server: a token does only what its
scopes allow (403 with a clear error otherwise) and stops at its expiry (401)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Iterator

import pytest

from server import api_tokens, store
from tests.web.browser import LiveServer
from tests.web.http_client import Device


@pytest.fixture
def server(app) -> Iterator[LiveServer]:
    with LiveServer(app) as live:
        yield live


def token(engine, scopes: list[str], name: str = "portal", expires_in: timedelta | None = None) -> str:
    db = store.open_database(engine.db_path)
    try:
        return api_tokens.create(db, name, "test", engine.now(), scopes=scopes,
                                 expires_at=engine.now() + expires_in if expires_in else None)
    finally:
        db.close()


def call(server: LiveServer, secret: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    reply = Device(server.url).request(method, f"/api/v1{path}", json.dumps(body).encode() if body else None,
                                       {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"})
    return reply.status, json.loads(reply.text)


def events(engine, kind: str) -> int:
    db = store.open_database(engine.db_path)
    try:
        return db.execute("SELECT count(*) FROM events WHERE type = ?", [kind]).fetchone()[0]
    finally:
        db.close()


def test_a_read_token_reads_and_may_not_issue_or_command(server, engine):
    secret = token(engine, ["read"])
    assert call(server, secret, "GET", "/board")[0] == 200
    assert call(server, secret, "GET", "/queue")[0] == 200
    status, body = call(server, secret, "POST", "/tickets", {"id": "t1", "service": "A"})
    assert status == 403 and body["error"]["code"] == "forbidden" and "'issue'" in body["error"]["message"]
    status, body = call(server, secret, "POST", "/counters/1/commands", {"id": "c1", "action": "next"})
    assert status == 403 and "'counter:1'" in body["error"]["message"]
    assert events(engine, "issued") == events(engine, "called") == 0


def test_an_issue_token_issues_and_may_not_read(server, engine):
    secret = token(engine, ["issue"])
    assert call(server, secret, "POST", "/tickets", {"id": "t1", "service": "A"})[0] == 201
    assert call(server, secret, "GET", "/queue")[0] == 403


def test_a_counter_token_drives_only_its_counters(server, engine):
    engine.take("k-1", "kiosk1", "A")
    engine.take("k-2", "kiosk1", "A")
    secret = token(engine, ["counter:1"])
    assert call(server, secret, "POST", "/counters/1/commands", {"id": "c1", "action": "next"})[0] == 200
    status, body = call(server, secret, "POST", "/counters/2/commands", {"id": "c2", "action": "next"})
    assert status == 403 and "'counter:2'" in body["error"]["message"] and "counter:1" in body["error"]["message"]
    assert events(engine, "called") == 1


def test_a_token_for_every_counter(server, engine):
    secret = token(engine, ["counter:*"])
    for counter in ("1", "2", "3"):
        assert call(server, secret, "POST", f"/counters/{counter}/commands", {"id": "p", "action": "pause"})[0] == 200


def test_a_token_stops_at_its_expiry(server, engine, clock):
    secret = token(engine, ["read"], expires_in=timedelta(days=1))
    clock.advance(hours=23, minutes=59)
    assert call(server, secret, "GET", "/board")[0] == 200
    clock.advance(minutes=1)
    status, body = call(server, secret, "GET", "/board")
    assert status == 401 and "expired" in body["error"]["message"]
