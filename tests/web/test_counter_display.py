"""The counter display page (`/counter/<id>/display`): its view, no login, 404s, the staff
listener only, and the live stream's caps (server/web/live.py)."""

from __future__ import annotations

from werkzeug.test import Client

from server.web.counter_display import display_view
from server.web.surfaces import public_only


def test_the_view_follows_the_counter(engine, clock):
    assert display_view(engine, "1")["phase"] == "idle"
    engine.take("t1", "kiosk1", "A")
    engine.counter("c1", "1", "next")
    view = display_view(engine, "1")
    assert (view["phase"], view["ticket"], view["name"], view["detail"]) == ("calling", "A001", "Quầy 1", "")
    first = view["call"]
    assert first["recall"] == 0 and first["key"].startswith("A001|")
    clock.advance(seconds=20)
    engine.counter("c2", "1", "recall")
    again = display_view(engine, "1")["call"]
    assert again["recall"] == 1 and again["key"] != first["key"]
    engine.counter("c3", "1", "done")
    engine.counter("c4", "1", "pause", reason="Họp giao ban")
    view = display_view(engine, "1")
    assert (view["phase"], view["ticket"], view["reason"], view["call"]) == ("paused", "", "Họp giao ban", None)


def test_another_counters_call_is_not_this_ones(engine):
    engine.take("t1", "kiosk1", "A")
    engine.counter("c1", "2", "next")
    view = display_view(engine, "1")
    assert (view["phase"], view["call"]) == ("idle", None)


def test_the_page_needs_no_login_and_carries_no_form(client):
    response = client.get("/counter/1/display")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Quầy 1" in html and "Mời số tiếp theo" in html and "<form" not in html


def test_an_unknown_counter_is_404(client):
    assert client.get("/counter/9/display").status_code == 404
    assert client.get("/counter/9/display/events").status_code == 404


def test_the_public_listener_does_not_serve_it(app):
    public = Client(public_only(app))
    assert public.get("/counter/1/display").status_code == 404
    assert public.get("/counter/1/display/events").status_code == 404
    assert public.get("/static/counter_display.js").status_code == 404


def test_a_counter_removed_while_shown_says_so(engine, client):
    from server.settings import raw_config

    counters = [c for c in raw_config(engine.config)["counters"] if c["id"] != "3"]
    engine.reconfigure({"counters": counters}, "manager")
    assert display_view(engine, "3")["phase"] == "removed"
    assert client.get("/counter/3/display").status_code == 404  # a new page for it is not found


def test_streams_past_the_cap_are_refused(app):
    app.extensions["queuebox.streams"].per_user = 1
    client = app.test_client()
    first = client.get("/counter/1/display/events", buffered=False, environ_base={"REMOTE_ADDR": "10.0.0.5"})
    try:
        assert first.status_code == 200 and first.mimetype == "text/event-stream"
        second = client.get("/counter/1/display/events", environ_base={"REMOTE_ADDR": "10.0.0.6"})
        assert second.status_code == 429 and second.headers["Retry-After"]
        other = client.get("/counter/2/display/events", buffered=False, environ_base={"REMOTE_ADDR": "10.0.0.6"})
        assert other.status_code == 200  # each counter's displays are counted on their own
        other.close()
    finally:
        first.close()
