"""The province dashboard in real Chromium, served by waitress over a real PostgreSQL with
three centres: logging in, the overview refreshing itself from a new live summary, a centre's
page and the month report; screenshots in tests/artifacts/ (province.png is the README's)."""

from __future__ import annotations

import psycopg
import pytest

from hub.store import save_live
from tests.hub.province import PASSWORD, TODAY
from tests.web.browser import LiveServer, screenshot


@pytest.fixture
def served(dashboard):
    with LiveServer(dashboard) as server:
        yield server


def log_in(page, url: str) -> None:
    page.goto(f"{url}/overview")
    page.fill("#login", "tinh")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#centres")


def test_the_overview_in_chromium_refreshes_itself(page, served, province_dsn):
    log_in(page, served.url)
    assert page.inner_text("h1") == "Tất cả trung tâm"
    busy = page.locator('tr[data-centre="phuong-ben-thanh"]')
    assert "máy in hết giấy" in busy.inner_text()
    assert busy.locator("td.late").count() == 1
    page.set_viewport_size({"width": 1280, "height": 470})  # the README's picture: the table, little below it
    screenshot(page, "province")
    with psycopg.connect(province_dsn, autocommit=True) as conn:
        save_live(conn, "xa-an-phu", {"day": TODAY.isoformat(), "counters_open": 4, "waiting": 23,
                                      "longest_wait_s": 1500, "services": [], "served_today": 40,
                                      "rated_today": 20, "satisfied_pct": 85.0, "faults": {}})
    # the page's poll (every 5 s) brings the new figures, and the centre now most waited in moves to the top
    page.locator('#centres tbody tr:first-child[data-centre="xa-an-phu"]').wait_for(timeout=15_000)
    assert "23" in page.locator('tr[data-centre="xa-an-phu"]').inner_text()


def test_a_centre_and_the_month_in_chromium(page, served):
    log_in(page, served.url)
    page.click('a[href="/centre/phuong-ben-thanh"]')
    page.wait_for_selector("table.board")
    assert "Bảng gọi số trực tiếp" in page.content()
    screenshot(page, "province-centre")
    page.goto(f"{served.url}/reports?month=2026-11&by=centre")
    assert page.locator("section.charts svg.chart").count() == 2
    # the seeded month has ratings with reasons: their chart and table are drawn
    assert page.locator("section.reasons svg.chart").count() == 1
    assert page.locator("#reasons tbody tr").count() >= 1
    assert page.locator("#month tbody tr").count() == 3
    screenshot(page, "province-month")
