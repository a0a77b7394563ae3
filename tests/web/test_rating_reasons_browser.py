"""The rating tablet's reason screen in real Chromium, served by waitress: after a score of 3
or 4 it asks why; a chosen reason is recorded with the score, a skip or a time-out keeps the
score alone, a score of 1 asks nothing. Screenshots at tablet sizes, both ways up."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from server import store
from server.web import rating
from tests.web.browser import screenshot
from tests.web.test_rating_page import pair, serve_one


def ratings(engine: Any) -> list[tuple[int, str | None]]:
    db = store.open_database(engine.db_path)
    try:
        return [tuple(r) for r in db.execute("SELECT score, reason FROM ratings")]
    finally:
        db.close()


@pytest.fixture
def tablet(app: Any, live_server: Any, page: Any) -> Any:
    """A paired tablet showing counter 1's rating page."""
    token = pair(app)
    page.context.add_cookies([{"name": "qb_tablet_1", "value": token, "url": f"{live_server.url}/counter/1/rate"}])
    page.goto(f"{live_server.url}/counter/1/rate")
    expect(page.locator("#screen-idle")).to_be_visible()
    return page


def test_a_score_of_4_asks_the_reason_and_records_it(tablet, engine):
    serve_one(engine)
    tablet.click("button[data-score='4']")
    expect(tablet.locator("#screen-reason")).to_be_visible()
    expect(tablet.locator("#screen-reason h1")).to_have_text("Quý khách chưa hài lòng về điều gì?")
    expect(tablet.locator("button.reason")).to_have_text(
        ["Chờ lâu", "Hướng dẫn chưa rõ", "Thái độ phục vụ", "Phải bổ sung hồ sơ nhiều lần", "Khác"])
    expect(tablet.locator("#reason-skip")).to_have_text("Bỏ qua")
    assert ratings(engine) == [(4, None)]  # the score is in before any reason
    tablet.click("button[data-reason='Thái độ phục vụ']")
    expect(tablet.locator("#screen-thanks")).to_be_visible()
    expect(tablet.locator("#thanks-text")).to_have_text("Cảm ơn quý khách đã đánh giá!")
    assert ratings(engine) == [(4, "Thái độ phục vụ")]


def test_skip_keeps_the_score_without_a_reason(tablet, engine):
    serve_one(engine)
    tablet.click("button[data-score='3']")
    expect(tablet.locator("#screen-reason")).to_be_visible()
    tablet.click("#reason-skip")
    expect(tablet.locator("#screen-thanks")).to_be_visible()
    assert ratings(engine) == [(3, None)]


def test_the_reasons_time_out_back_to_rest_and_the_score_stays(app, live_server, page, engine, clock, monkeypatch):
    monkeypatch.setattr(rating, "REASON_S", 2)
    token = pair(app)
    page.context.add_cookies([{"name": "qb_tablet_1", "value": token, "url": f"{live_server.url}/counter/1/rate"}])
    page.goto(f"{live_server.url}/counter/1/rate")
    serve_one(engine)
    page.click("button[data-score='4']")
    expect(page.locator("#screen-reason")).to_be_visible()
    expect(page.locator("#screen-idle")).to_be_visible(timeout=6_000)
    expect(page.locator("#screen-reason")).to_be_hidden()
    assert ratings(engine) == [(4, None)]
    clock.advance(seconds=30)
    engine.take("next-citizen", "kiosk1", "A")  # the next citizen gets the faces again
    assert engine.counter("n2", "1", "next").ok and engine.counter("d2", "1", "done").ok
    expect(page.locator("#screen-ask")).to_be_visible()
    expect(page.locator("#rate-ticket")).to_have_text("A002")


def test_a_score_of_1_asks_no_reason(tablet, engine):
    serve_one(engine)
    tablet.click("button[data-score='1']")
    expect(tablet.locator("#screen-thanks")).to_be_visible()
    expect(tablet.locator("#screen-reason")).to_be_hidden()
    assert ratings(engine) == [(1, None)]


def test_the_english_tablet_shows_the_english_reasons_and_records_the_vietnamese(app, live_server, page, engine):
    token = pair(app)
    page.context.add_cookies([{"name": "qb_tablet_1", "value": token, "url": f"{live_server.url}/counter/1/rate"}])
    page.goto(f"{live_server.url}/counter/1/rate?lang=en")
    serve_one(engine)
    page.click("button[data-score='4']")
    expect(page.locator("button.reason").first).to_have_text("Long wait")
    expect(page.locator("#reason-skip")).to_have_text("Skip")
    page.click("text=Long wait")
    expect(page.locator("#screen-thanks")).to_be_visible()
    assert ratings(engine) == [(4, "Chờ lâu")]


@pytest.mark.parametrize("width, height", [(800, 1280), (1280, 800)])
def test_the_reason_screen_at_tablet_sizes(tablet, engine, width, height):
    tablet.set_viewport_size({"width": width, "height": height})
    serve_one(engine)
    tablet.click("button[data-score='4']")
    expect(tablet.locator("#screen-reason")).to_be_visible()
    buttons = tablet.locator("button.reason")
    for i in range(buttons.count()):  # every reason and the skip are big, whole and on the screen
        box = buttons.nth(i).bounding_box()
        assert box["height"] >= 100 and box["x"] >= 0 and box["x"] + box["width"] <= width
        assert box["y"] + box["height"] <= height
    skip = tablet.locator("#reason-skip").bounding_box()
    assert skip["height"] >= 80 and skip["y"] + skip["height"] <= height
    screenshot(tablet, f"rating-reasons-{width}x{height}")
