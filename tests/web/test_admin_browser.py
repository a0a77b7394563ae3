"""A manager in real Chromium: the live overview, a service changed and seen applied, a bad
value shown next to its field, the open/closed switch."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from server.settings import raw_config
from tests.web.browser import screenshot
from tests.web.conftest import PASSWORD


def log_in(page: Any, url: str, account: str = "manager") -> None:
    page.goto(f"{url}/login")
    page.fill("#login", account)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/admin/")


def busy_morning(engine: Any, clock: Any) -> None:
    """Counter 1 serving, counter 2 calling, counter 3 paused, six citizens waiting."""
    for i, service in enumerate(["A", "A", "B", "A", "B", "A", "C", "B", "A"]):
        engine.take(f"t{i}", "kiosk1", service, priority=(i == 7))
        clock.advance(minutes=2)
    engine.counter("c1", "1", "next")
    engine.counter("c2", "1", "start")
    clock.advance(minutes=3)
    engine.counter("c3", "2", "next")
    engine.counter("c4", "3", "pause", reason="Họp giao ban")
    clock.advance(minutes=1)


def test_a_manager_watches_the_overview_live(page, live_server, engine, clock):
    busy_morning(engine, clock)
    log_in(page, live_server.url)
    waiting = page.locator('[data-field="total-waiting"]')
    expect(waiting).to_have_text("7")
    expect(page.locator("#live-status")).to_have_text("Trực tiếp")
    card = page.locator('[data-counter="1"]')
    expect(card.locator('[data-field="state"]')).to_have_text("Đang phục vụ")
    expect(card.locator('[data-field="ticket"]')).to_have_text("A001")
    expect(page.locator('[data-counter="3"] [data-field="reason"]')).to_have_text("Họp giao ban")
    # A001 was issued at 09:00 and A002 at 09:02; it is 09:22: A has waited 20 minutes, past its 15.
    expect(page.locator('tr[data-service="A"]')).to_have_class("over")
    expect(page.locator('tr[data-service="A"] [data-field="oldest"]')).to_have_text(re.compile(r"^20:[0-5]\d$"))
    screenshot(page, "admin-overview")

    engine.take("late", "kiosk1", "C")  # another citizen: the page follows without a reload
    expect(waiting).to_have_text("8")
    expect(page.locator('tr[data-service="C"] [data-field="waiting"]')).to_have_text("2")
    engine.counter("c5", "1", "next")
    expect(card.locator('[data-field="ticket"]')).to_have_text("A002")
    expect(card.locator('[data-field="state"]')).to_have_text("Đang gọi số")


def test_a_manager_changes_a_service_and_sees_it_applied(page, live_server, engine, clock):
    busy_morning(engine, clock)
    log_in(page, live_server.url)
    page.click("nav.admin-nav >> text=Lĩnh vực")
    page.click('tr[data-service="A"] >> text=Sửa')
    page.fill("#f-name_vi", "Đất đai - Nhà ở")
    page.fill("#f-target_wait_min", "30")
    page.click("button.primary >> text=Lưu")
    page.wait_for_url(f"{live_server.url}/admin/services")
    expect(page.locator(".flash")).to_have_text("Đã lưu.")
    expect(page.locator('tr[data-service="A"]')).to_contain_text("Đất đai - Nhà ở")
    expect(page.locator('tr[data-service="A"]')).to_contain_text("30 phút")
    assert engine.config.service("A").target_wait_min == 30

    page.click("nav.admin-nav >> text=Tổng quan")
    row = page.locator('tr[data-service="A"]')
    expect(row.locator('[data-field="name"]')).to_have_text("Đất đai - Nhà ở")
    expect(row).not_to_have_class("over")  # 20 minutes is within the new 30

    page.goto(f"{live_server.url}/admin/services/A/edit")
    page.fill("#f-hours", "7h30-11h30")
    page.fill("#f-number_end", "0")
    page.click("button.primary >> text=Lưu")
    hours_error = page.locator("#e-hours")
    expect(hours_error).to_contain_text("Giờ mở cửa phải có dạng HH:MM-HH:MM")
    expect(page.locator("#e-number_end")).to_have_text("Phải là số nguyên dương")
    expect(page.locator("#f-hours")).to_have_value("7h30-11h30")
    expect(page.locator("#f-hours")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "admin-service-error")
    assert engine.config.service("A").hours == ()


def test_the_switch_closes_a_service_in_one_click(page, live_server, engine):
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/admin/services")
    row = page.locator('tr[data-service="B"]')
    row.locator("button >> text=Đóng ngay").click()
    expect(page.locator('tr[data-service="B"] .pill')).to_have_text("Ngừng cấp số")
    expect(page.locator('tr[data-service="B"] button[aria-pressed="true"]')).to_have_text("Đóng ngay")
    assert engine.take("t1", "kiosk1", "B").reply["error"]["code"] == "service_closed"
    screenshot(page, "admin-services")


def test_changes_in_the_browser_apply_without_a_restart(page, live_server, engine):
    services = raw_config(engine.config)["services"]
    services[2]["override"] = "closed"
    engine.reconfigure({"services": services}, "test")
    assert engine.take("t1", "kiosk1", "C").reply["error"]["code"] == "service_closed"
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/admin/services")
    page.locator('tr[data-service="C"]').locator("button >> text=Mở ngay").click()
    expect(page.locator('tr[data-service="C"] .pill')).to_have_text("Đang cấp số")
    page.click("nav.admin-nav >> text=Thông báo trên bảng")
    page.fill("#f-message", "Chiều nay làm việc đến 16 giờ 30")
    page.click("button.primary >> text=Lưu")
    expect(page.locator(".flash")).to_have_text("Đã lưu.")
    taken = engine.take("t2", "kiosk1", "C")
    assert taken.ok and taken.reply["ticket"]["label"] == "C001"
    assert engine.snapshots()[0]["message"] == "Chiều nay làm việc đến 16 giờ 30"
