"""The counter console and the rating tablet in real Chromium, served by waitress: clicks and
shortcuts, live updates over server-sent events, running timers, and screenshots."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from server import store
from tests.web.browser import screenshot
from tests.web.conftest import PASSWORD


def count(engine: Any, sql: str) -> int:
    db = store.open_database(engine.db_path)
    try:
        return int(db.execute(sql).fetchone()[0])
    finally:
        db.close()


def log_in(page: Any, url: str, login: str = "clerk1") -> None:
    page.fill("#login", login)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")


def test_a_clerk_works_the_queue_from_the_console_without_reloading(live_server, page, engine, clock):
    for i in range(42):
        engine.take(f"morning-{i}", "kiosk1", "A")
        clock.advance(seconds=40)  # a busy morning: a citizen every 40 s
    for i in range(5):
        engine.take(f"morning-b{i}", "kiosk1", "B")  # not served at counter 1: not in its counts
    page.goto(f"{live_server.url}/login")
    log_in(page, live_server.url)
    page.wait_for_url(f"{live_server.url}/counter/1")
    label, total = page.locator("#ticket-label"), page.locator("#waiting-total")
    expect(page.locator("#live")).to_have_text("Trực tiếp")  # the event stream is open
    expect(total).to_have_text("42")

    page.click("button[data-action=next]")
    expect(label).to_have_text("A001")
    expect(page.locator("#message")).to_have_text("Đang mời số A001.")
    expect(page.locator("button[data-action=next]")).to_be_enabled()  # locked for a moment after each press
    page.keyboard.press("n")  # the shortcut: finishes A001, calls A002
    expect(label).to_have_text("A002")
    expect(total).to_have_text("40")
    expect(page.locator("#t-wait")).not_to_have_text("00:00", timeout=5000)  # the waiting time runs

    page.keyboard.press("s")
    expect(page.locator("#state-badge")).to_have_text("Đang phục vụ")
    expect(page.locator("#t-service")).not_to_have_text("—")
    expect(page.locator("#t-service")).not_to_have_text("00:00", timeout=5000)  # the service time runs
    expect(page.locator("button[data-action=no_show]")).to_be_disabled()  # absent makes no sense now

    page.click("button[data-action=done]")
    expect(label).to_have_text("—")
    expect(page.locator("#message")).to_have_text("Đã hoàn thành số A002.")

    engine.take("meanwhile", "kiosk1", "A")  # a citizen takes a ticket: the count follows live
    expect(total).to_have_text("41")

    page.fill("#ticket", "z999")
    page.keyboard.press("Enter")
    expect(page.locator("#message")).to_have_text("Hôm nay không có số Z999 đang chờ.")
    expect(page.locator("#message")).to_have_class("message message-error")

    page.locator("#ticket").blur()
    calls = count(engine, "SELECT count(*) FROM events WHERE type = 'called'")
    page.dblclick("button[data-action=next]")  # a double click is one press
    expect(label).to_have_text("A003")
    expect(page.locator("button[data-action=next]")).to_be_enabled()
    assert count(engine, "SELECT count(*) FROM events WHERE type = 'called'") == calls + 1
    expect(label).to_have_text("A003")

    page.keyboard.press("s")
    expect(page.locator("#t-service")).not_to_have_text("00:00", timeout=5000)
    expect(total).to_have_text("40")
    clock.advance(minutes=4, seconds=12)
    engine.take("later", "kiosk1", "B")  # any commit sends the page the server's time again
    expect(page.locator("#t-service")).to_contain_text("04:1")
    expect(page.locator("#t-wait")).to_have_text("26:40")  # A003 was issued at 80 s and served at 28 min
    screenshot(page, "counter-console")

    page.set_viewport_size({"width": 800, "height": 1280})
    for action in ("next", "done", "transfer", "call", "pause"):
        box = page.locator(f"button[data-action={action}]").bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 800 and box["height"] >= 48, (action, box)
    assert page.evaluate("document.documentElement.scrollWidth") <= 800  # nothing sticks out sideways
    screenshot(page, "counter-console-tablet")


def test_pause_and_resume_with_a_reason(live_server, page, engine):
    page.goto(f"{live_server.url}/login")
    log_in(page, live_server.url)
    page.wait_for_url(f"{live_server.url}/counter/1")
    expect(page.locator("#live")).to_have_text("Trực tiếp")
    page.keyboard.press("p")  # focuses the reason; Enter confirms
    expect(page.locator("#reason")).to_be_focused()
    page.select_option("#reason", "Họp")
    page.keyboard.press("Enter")
    expect(page.locator("#state-badge")).to_have_text("Tạm dừng")
    expect(page.locator("#paused-note")).to_have_text("Tạm dừng: Họp")
    expect(page.locator("button[data-action=next]")).to_be_disabled()
    page.locator("#reason").blur()
    page.keyboard.press("p")
    expect(page.locator("#state-badge")).to_have_text("Đang rảnh")
    assert engine.snapshot().counters["1"].state == "idle"


def test_a_paired_tablet_shows_the_faces_after_done_and_records_a_tap(live_server, page, engine):
    page.goto(f"{live_server.url}/counter/1/rate")
    expect(page.locator("h1")).to_have_text("Ghép máy tính bảng này")
    screenshot(page, "rating-pair")
    page.click("#pair button[type=submit]")  # log in first
    log_in(page, live_server.url, "manager")  # only managers pair tablets
    page.wait_for_url(f"{live_server.url}/counter/1/rate")
    page.click("#pair button[type=submit]")  # pair
    expect(page.locator("#screen-idle")).to_be_visible()
    expect(page.locator("#screen-ask")).to_be_hidden()
    screenshot(page, "rating-tablet-idle")
    assert count(engine, "SELECT count(*) FROM tablets WHERE counter = '1'") == 1

    engine.take("citizen", "kiosk1", "A")
    engine.counter("c1", "1", "next")
    engine.counter("c2", "1", "done")
    expect(page.locator("#screen-ask")).to_be_visible()
    expect(page.locator("#rate-ticket")).to_have_text("A001")
    expect(page.locator(".face-label")).to_have_text(["Rất hài lòng", "Hài lòng", "Bình thường", "Không hài lòng"])
    screenshot(page, "rating-tablet")

    page.click("button[data-score='1']")
    expect(page.locator("#screen-thanks")).to_be_visible()
    expect(page.locator("#thanks-text")).to_have_text("Cảm ơn quý khách đã đánh giá!")
    screenshot(page, "rating-tablet-thanks")
    assert count(engine, "SELECT count(*) FROM ratings WHERE score = 1 AND counter = '1'") == 1
    expect(page.locator("#screen-idle")).to_be_visible(timeout=10_000)  # back to rest after a few seconds


def test_the_console_shows_the_priority_group_of_the_ticket_and_of_the_next_numbers(live_server, page, engine):
    engine.take("g-1", "kiosk1", "A")
    engine.take("g-2", "kiosk1", "A", group="CT")
    engine.take("g-3", "kiosk1", "A", priority=True)  # an older kiosk: priority of no group
    page.goto(f"{live_server.url}/login")
    log_in(page, live_server.url)
    page.wait_for_url(f"{live_server.url}/counter/1")
    expect(page.locator("#live")).to_have_text("Trực tiếp")
    expect(page.locator("#next-list .next-group")).to_have_text(["CT"])
    page.click("button[data-action=next]")  # a counter's first priority ticket goes at once
    expect(page.locator("#ticket-label")).to_have_text("A002")
    expect(page.locator("#ticket-priority")).to_have_text("Ưu tiên · CT Người cao tuổi")
    engine.take("g-4", "kiosk1", "A", group="KT")  # arrives live in the list of next numbers
    expect(page.locator("#next-list button")).to_have_text(["A001", "A003", "A004KT"])
    expect(page.locator("#next-list .next-group")).to_have_text(["KT"])
    screenshot(page, "counter-console-groups")
    page.click("button[data-action=next]")
    expect(page.locator("#ticket-label")).to_have_text("A001")
    expect(page.locator("#ticket-priority")).to_be_hidden()
