"""The console's message line speaks of the state it was shown for: when another tab, the keypad
or a manager changes the counter, a stale "Calling E003" goes away (real Chromium, waitress)."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.web.test_counter_browser import log_in


def test_a_message_about_a_ticket_is_cleared_when_someone_else_moves_on(live_server, page, engine, clock):
    for i in range(3):
        engine.take(f"t{i}", "kiosk1", "A")
        clock.advance(seconds=30)
    page.goto(f"{live_server.url}/login")
    log_in(page, live_server.url)
    page.wait_for_url(f"{live_server.url}/counter/1")
    expect(page.locator("#live")).to_have_text("Trực tiếp")
    message = page.locator("#message")

    page.click("button[data-action=next]")
    expect(message).to_have_text("Đang mời số A001.")
    engine.take("t-more", "kiosk1", "A")  # only the counts change: the message still holds
    expect(page.locator("#waiting-total")).to_have_text("3")
    expect(message).to_have_text("Đang mời số A001.")

    engine.counter("keypad-1", "1", "recall", origin="keypad")  # the keypad calls A001 again
    expect(page.locator("#ticket-label")).to_have_text("A001")
    expect(message).to_have_text("")
    page.click("button[data-action=next]")
    expect(message).to_have_text("Đang mời số A002.")
    engine.counter("keypad-2", "1", "done", origin="keypad")  # the keypad finishes A002
    expect(page.locator("#ticket-label")).to_have_text("—")
    expect(message).to_have_text("")
