"""The counter display page in real Chromium, served by waitress: the number appears and blinks
on a call and a recall without a reload, paused with its reason, the offline mark when the server
goes away; screenshots at 1280×720 and 800×480 (tests/artifacts/counter-display-*.png)."""

from __future__ import annotations

from typing import Any, Iterator

import pytest
from playwright.sync_api import expect

from tests.factories import make_config
from tests.web.browser import LiveServer, screenshot
from tests.web.conftest import engine_with_accounts

LONG_NAME = "Quầy 12 - Hỗ trợ thủ tục đất đai hộ tịch"  # 40 characters, every tone


@pytest.fixture
def engine(tmp_path: Any, clock: Any) -> Iterator[Any]:
    config = make_config(counters=[{"id": "12", "name": LONG_NAME, "services": {"A": 1}},
                                   {"id": "2", "name": "Quầy 2", "services": {"A": 1}}])
    eng = engine_with_accounts(config, tmp_path / "web.db", clock)
    yield eng
    eng.close()


def open_display(chromium: Any, url: str, width: int, height: int) -> Any:
    context = chromium.new_context(viewport={"width": width, "height": height}, locale="vi-VN")
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{url}/counter/12/display")
    return page


def inside(page: Any, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    size = page.viewport_size
    return box is not None and box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= size["width"] \
        and box["y"] + box["height"] <= size["height"]


def test_calls_recalls_and_a_pause_show_live(live_server, chromium, engine, clock):
    page = open_display(chromium, live_server.url, 1280, 720)
    try:
        expect(page.locator("#cd-name")).to_have_text("Quầy 12")
        expect(page.locator("#cd-detail")).to_have_text("Hỗ trợ thủ tục đất đai hộ tịch")
        expect(page.locator("#cd-calm1")).to_have_text("Mời số tiếp theo")
        screenshot(page, "counter-display-idle-1280x720")

        engine.take("t1", "kiosk1", "A")
        engine.counter("c1", "12", "next")
        expect(page.locator("#cd-ticket")).to_have_text("A001")
        expect(page.locator("#cd-caption")).to_contain_text("MỜI SỐ")
        expect(page.locator("#cd-number")).to_have_class("cd-panel cd-number bright")  # blinking
        expect(page.locator("#cd-number")).to_have_class("cd-panel cd-number")  # …on and off
        assert inside(page, "#cd-ticket") and inside(page, "#cd-name")

        clock.advance(seconds=30)
        engine.counter("c2", "12", "recall")
        expect(page.locator("#cd-recall")).to_contain_text("Gọi lần 2")
        expect(page.locator("#cd-number")).to_have_class("cd-panel cd-number bright")
        screenshot(page, "counter-display-calling-1280x720")

        engine.take("t2", "kiosk1", "A")
        engine.counter("c3", "2", "next")  # another counter's call changes nothing here
        engine.counter("c4", "12", "start")
        expect(page.locator("#cd-caption")).to_contain_text("ĐANG PHỤC VỤ")
        expect(page.locator("#cd-ticket")).to_have_text("A001")

        engine.counter("c5", "12", "done")
        engine.counter("c6", "12", "pause", reason="Đi lấy hồ sơ ở kho lưu trữ")
        expect(page.locator("#cd-paused .cd-state")).to_have_text("Tạm dừng")
        expect(page.locator("#cd-reason")).to_have_text("Đi lấy hồ sơ ở kho lưu trữ")
        expect(page.locator("#cd-number")).to_be_hidden()
    finally:
        page.context.close()


BLINKS_SEEN = """() => new Promise((done) => {  // was the number bright at any of 12 looks over 1.2 s?
  let seen = false, looks = 0;
  const look = setInterval(() => {
    seen = seen || document.getElementById("cd-number").classList.contains("bright");
    if (++looks === 12) { clearInterval(look); done(seen); }
  }, 100);
})"""


def test_small_screen_an_old_call_and_the_offline_mark(app, chromium, engine, clock):
    engine.take("t1", "kiosk1", "A")
    engine.counter("c1", "12", "next")
    clock.advance(minutes=2)  # the page opens two minutes after the call
    with LiveServer(app) as server:
        page = open_display(chromium, server.url, 800, 480)
        expect(page.locator("#cd-ticket")).to_have_text("A001")
        assert inside(page, "#cd-ticket") and inside(page, "#cd-clock")
        assert page.evaluate(BLINKS_SEEN) is False  # an old call does not blink again on loading
        screenshot(page, "counter-display-calling-800x480")
    try:  # the server is gone: the stream is lost, the mark shows within a few seconds, the number stays
        expect(page.locator("#cd-offline")).to_be_visible(timeout=15_000)
        expect(page.locator("#cd-ticket")).to_have_text("A001")
        screenshot(page, "counter-display-offline-800x480")
    finally:
        page.context.close()


def test_the_page_for_an_unknown_counter_is_not_found(live_server, chromium):
    context = chromium.new_context()
    try:
        assert context.new_page().goto(f"{live_server.url}/counter/99/display").status == 404
    finally:
        context.close()
