"""Only managers and admins pair (and unpair) a counter's rating tablet, through a real
waitress server: a clerk could otherwise pair their own browser and rate their own service."""

from __future__ import annotations

import json
from typing import Iterator

import pytest

from server import store
from tests.web.browser import LiveServer
from tests.web.http_client import Device


@pytest.fixture
def server(app) -> Iterator[LiveServer]:
    with LiveServer(app) as live:
        yield live


def rows(engine, sql: str) -> list[dict]:
    db = store.open_database(engine.db_path)
    try:
        return list(db.query(sql))
    finally:
        db.close()


def test_a_clerk_may_not_pair_a_tablet_even_with_their_own_counter(server, engine):
    clerk = Device(server.url)
    assert clerk.log_in("clerk1").status == 302
    page = clerk.get("/counter/1/rate")
    assert page.status == 403 and "Ghép với" not in page.text
    assert clerk.post_form("/counter/1/rate/pair", {}).status == 403
    assert "qb_tablet_1" not in clerk.cookies
    assert rows(engine, "SELECT * FROM tablets") == []
    assert rows(engine, "SELECT * FROM events WHERE type LIKE 'tablet_%'") == []


def test_a_manager_pairs_and_unpairs_and_both_are_recorded(server, engine):
    manager = Device(server.url)
    assert manager.log_in("manager").status == 302
    paired = manager.post_form("/counter/1/rate/pair", {})
    assert paired.status == 303 and "qb_tablet_1" in manager.cookies
    assert manager.log_in("manager").status == 302  # pairing closed the login on the tablet
    assert manager.post_form("/counter/1/tablets/unpair", {"all": "1"}).status == 303
    events = [(e["type"], e["actor"], json.loads(e["data"]))
              for e in rows(engine, "SELECT type, actor, data FROM events WHERE type LIKE 'tablet_%' ORDER BY seq")]
    assert events == [("tablet_paired", "web/manager", {"counter": "1"}),
                      ("tablet_unpaired", "web/manager", {"counter": "1", "tablets": 1})]
    assert rows(engine, "SELECT * FROM tablets") == []
