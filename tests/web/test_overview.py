"""The live overview: every counter's state, waiting per service with the longest wait now,
today's figures; as a page, as JSON and as a stream of server-sent events."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from server.web.admin import age_text


@pytest.fixture
def busy(engine: Any, clock: Any) -> Any:
    """A morning: A001 served and done, A002 at counter 1, B001 called at counter 2, counter 3 paused,
    A003 and B002 waiting; now 09:11."""
    for i, service in enumerate(["A", "A", "B", "A", "B"]):
        engine.take(f"t{i}", "kiosk1", service)
        clock.advance(minutes=1)
    engine.counter("c1", "1", "next")   # A001
    engine.counter("c2", "1", "start")
    clock.advance(minutes=4)
    engine.counter("c3", "1", "next")   # A001 done, A002 called
    engine.counter("c4", "1", "start")
    engine.counter("c5", "2", "next")   # counter 2 serves A and B alike: the oldest, B001
    engine.counter("c6", "3", "pause", reason="Nghỉ trưa")
    clock.advance(minutes=2)
    return engine


def counter_card(page: str, counter_id: str) -> str:
    start = page.index(f'data-counter="{counter_id}"')
    return page[page.rindex("<article", 0, start):page.index("</article>", start)]


def service_row(page: str, code: str) -> str:
    start = page.index(f'data-service="{code}"')
    return page[page.rindex("<tr", 0, start):page.index("</tr>", start)]


def test_the_overview_shows_every_counters_state_and_ticket(login, busy):
    page = login("manager").get("/admin/").get_data(as_text=True)
    one, two, three = (counter_card(page, c) for c in "123")
    assert "Đang phục vụ" in one and "A002" in one and "state-serving" in one
    assert "Đang gọi số" in two and "B001" in two
    assert "Tạm dừng" in three and "Nghỉ trưa" in three
    assert re.search(r'data-field="since"[^>]*>2:00<', one)  # serving A002 for two minutes


def test_the_overview_shows_waiting_per_service_and_the_longest_wait(login, busy, engine):
    page = login("manager").get("/admin/").get_data(as_text=True)
    a, b, c = (service_row(page, code) for code in "ABC")
    assert re.search(r'data-field="waiting">1<', a) and re.search(r'data-field="waiting">1<', b)
    assert re.search(r'data-field="waiting">0<', c)
    assert re.search(r'data-field="oldest"[^>]*>8:00<', a)  # A003 issued at 09:03, now 09:11
    assert re.search(r'data-field="oldest"[^>]*>7:00<', b)  # B002 issued at 09:04
    assert re.search(r'data-field="total-oldest"[^>]*>8:00<', page)
    assert re.search(r'data-field="total-issued">5<', page)
    assert re.search(r'data-field="total-served">1<', page)
    assert re.search(r'data-field="served">1<', a)


def test_a_service_over_its_target_wait_is_highlighted(login, busy, clock):
    client = login("manager")
    assert 'class="over"' not in client.get("/admin/").get_data(as_text=True)
    clock.advance(minutes=8)  # A003 has waited 16 minutes (target 15), B002 15
    page = client.get("/admin/").get_data(as_text=True)
    assert 'class="over"' in service_row(page, "A")
    assert 'class="over"' not in service_row(page, "B")


def test_the_json_carries_the_same_figures(login, busy):
    data = login("manager").get("/admin/overview.json").get_json()
    assert [(c["id"], c["state"], c["ticket"]) for c in data["counters"]] == [
        ("1", "serving", "A002"), ("2", "calling", "B001"), ("3", "paused", None)]
    assert data["counters"][2]["reason"] == "Nghỉ trưa"
    a = data["services"][0]
    assert (a["code"], a["waiting"], a["issued"], a["served"], a["over"]) == ("A", 1, 3, 1, False)
    assert a["oldest"] == "2026-11-23T09:03:00.000+07:00"
    assert data["services"][1]["priority"] == 0
    assert data["totals"] == {"waiting": 2, "issued": 5, "served": 1, "oldest": "2026-11-23T09:03:00.000+07:00"}
    assert data["now"] == "2026-11-23T09:11:00.000+07:00"


def test_priority_tickets_waiting_are_counted(login, busy, engine):
    engine.take("p1", "kiosk1", "C", priority=True)
    assert login("manager").get("/admin/overview.json").get_json()["services"][2]["priority"] == 1


def test_service_names_follow_the_language(login, busy):
    client = login("manager")
    assert client.get("/admin/overview.json").get_json()["services"][0]["name"] == "Đất đai"
    assert client.get("/admin/overview.json?lang=en").get_json()["services"][0]["name"] == "Land"
    assert "Waiting per service" in client.get("/admin/").get_data(as_text=True)


def test_an_empty_day_shows_idle_counters_and_no_wait(login):
    page = login("manager").get("/admin/").get_data(as_text=True)
    assert page.count("state-idle") == 3
    assert re.search(r'data-field="total-oldest"[^>]*>–<', page)


def test_the_event_stream_sends_the_overview_then_each_change(login, busy, engine, app):
    response = login("manager").get("/admin/events", buffered=False)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"
    chunks = iter(response.response)
    try:
        assert next(chunks).startswith(b"retry:")
        first = _event(next(chunks))
        assert first["totals"]["waiting"] == 2
        engine.take("late", "kiosk1", "C")
        second = _event(next(chunks))
        assert second["services"][2]["waiting"] == 1 and second["totals"]["waiting"] == 3
    finally:
        response.close()
    assert app.extensions["queuebox.hub"].subscribers == 0


def test_the_stream_follows_a_configuration_change(login, engine):
    client = login("manager")
    response = client.get("/admin/events", buffered=False)
    chunks = iter(response.response)
    try:
        next(chunks)
        assert _event(next(chunks))["services"][0]["name"] == "Đất đai"
        engine.reconfigure({"message": "Xin chào"}, "test")
        assert _event(next(chunks))["message"] == "Xin chào"
    finally:
        response.close()


@pytest.mark.parametrize("since, now, text", [
    (None, "2026-11-23T09:00:00+07:00", ""),
    ("2026-11-23T09:00:00+07:00", "2026-11-23T09:00:59+07:00", "0:59"),
    ("2026-11-23T09:00:00+07:00", "2026-11-23T09:12:05+07:00", "12:05"),
    ("2026-11-23T08:00:00+07:00", "2026-11-23T09:02:03+07:00", "1:02:03"),
    ("2026-11-23T09:00:05+07:00", "2026-11-23T09:00:00+07:00", "0:00"),  # a clock behind never shows negative
])
def test_ages_read_as_a_clock(since, now, text):
    assert age_text(since, now) == text


def _event(chunk: bytes) -> dict[str, Any]:
    text = chunk.decode()
    assert text.startswith("event: update\n"), text
    return json.loads(text.split("data: ", 1)[1])
