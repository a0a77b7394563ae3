"""The console's "next numbers" are the tickets Next calls, in that order, under both priority
policies: one rule (`rules.call_order`) for both, checked through the real web server."""

from __future__ import annotations

import json
from typing import Any

import pytest

from server import store, users
from server.engine import Engine
from server.web import create_app
from tests.factories import FakeClock, make_config
from tests.web.http_client import Device
from tests.web.browser import LiveServer
from tests.web.conftest import PASSWORD


@pytest.fixture(params=["interleave", "strict"])
def console(request: Any, tmp_path: Any) -> Any:
    clock = FakeClock()
    engine = Engine(make_config(queue={"priority": request.param, "interleave_every": 2}), tmp_path / "web.db",
                    clock=clock)
    db = store.open_database(engine.db_path)
    users.add(db, "clerk1", PASSWORD, "clerk", ["1"], clock())
    db.close()
    with LiveServer(create_app(engine, secret_key="test secret")) as server:
        browser = Device(server.url)
        assert browser.log_in("clerk1", PASSWORD).status == 302
        yield engine, clock, browser
    engine.close()


def test_the_next_numbers_listed_are_the_ones_next_calls(console):
    """The reported case: A001, then a priority A002; interleave calls ★A002 first."""
    engine, clock, browser = console
    for i, priority in enumerate([False, True, False, False, True, False, False]):
        engine.take(f"t{i}", "kiosk1", "A", priority=priority)
        clock.advance(seconds=30)
    reply = browser.get("/counter/1/state.json")
    assert reply.status == 200
    listed = [t["label"] for t in json.loads(reply.text)["next"]]
    called = []
    for i in range(len(listed)):
        status, answer = browser.post_json("/counter/1/command", {"id": f"n{i}", "action": "next"},
                                           page="/counter/1")
        assert status == 200, answer
        called.append(answer["reply"]["ticket"]["label"])
    assert called == listed
    assert listed[0] == "A002"  # the first call of the day takes the waiting priority ticket first


def test_the_english_console_counts_calls_without_a_wrong_plural(console):
    engine, clock, browser = console
    engine.take("t", "kiosk1", "A")
    browser.post_json("/counter/1/command", {"id": "n", "action": "next"}, page="/counter/1")
    reply = browser.get("/counter/1?lang=en")
    assert reply.status == 200 and "Calls: 1" in reply.text and "1 times" not in reply.text
    assert "Đã gọi 1 lần" in browser.get("/counter/1?lang=vi").text
