"""The browser fixture itself: Chromium opens the real login page served by waitress."""

from tests.web.browser import screenshot


def test_chromium_logs_a_clerk_in(page, live_server):
    page.goto(f"{live_server.url}/login")
    assert page.locator("h1").inner_text() == "Đăng nhập"
    page.fill("#login", "clerk1")
    page.fill("#password", "correct horse 42")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/counter/1")
    assert screenshot(page, "login-smoke").stat().st_size > 1000
