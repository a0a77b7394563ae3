"""The procedure lookup in real Chromium on a phone (390×844): readable without zoom (text of
16 px and more, links a thumb can hit), long names and every Vietnamese tone wrapped, never a
sideways scroll; a citizen goes from the ticket's status page to the field's procedures, searches
and opens one. Screenshots in tests/artifacts/lookup-*.png; docs/lookup.png is lookup-procedure-phone.png."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from tests.factories import EVERY_TONE, LONG_NAME
from tests.web.browser import ARTIFACTS, screenshot

PHONE = {"width": 390, "height": 844}
BIRTH, COPY, MARRIAGE, DEATH_HIDDEN, TONES, LAND, LONG = range(7)  # SAMPLE_PROCEDURES' order

# What a phone must show, measured in the page: elements clipping their text, text under 16 px,
# links and buttons under 44 px tall, and the widest the document gets.
MEASURE = """() => {
  const clipped = [], small = [], tiny_targets = [];
  for (const el of document.querySelectorAll("body *")) {
    const style = getComputedStyle(el);
    if (style.display === "none" || el.closest("svg")) continue;
    const hasText = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (hasText && parseFloat(style.fontSize) < 16) small.push(el.tagName + " " + el.textContent.trim().slice(0, 40));
    if (hasText && el.scrollWidth > el.clientWidth + 1 && style.overflow !== "visible")
      clipped.push(el.tagName + " " + el.textContent.trim().slice(0, 40));
    if ((el.tagName === "A" || el.tagName === "BUTTON" || el.tagName === "INPUT") && el.getBoundingClientRect().height < 44)
      tiny_targets.push(el.tagName + " " + (el.textContent || el.name).trim().slice(0, 40));
  }
  return {clipped, small, tiny_targets, scroll: document.scrollingElement.scrollWidth, inner: window.innerWidth};
}"""


@pytest.fixture
def phone(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(viewport=PHONE, locale="vi-VN", is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def assert_readable_on_a_phone(page: Any) -> None:
    found = page.evaluate(MEASURE)
    assert found["scroll"] <= found["inner"] == PHONE["width"], "the page scrolls sideways"
    assert found["clipped"] == [], "text cut off"
    assert found["small"] == [], "text under 16 px"
    assert found["tiny_targets"] == [], "links under 44 px tall"


def assert_shown_whole(page: Any, text: str) -> None:
    """`text` is on screen (scrolled to) and wraps inside the page's width."""
    element = page.get_by_text(text, exact=True).first
    element.scroll_into_view_if_needed()
    assert element.is_visible()
    box = element.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] and box["height"] > 30  # wrapped, not cut


def test_a_phone_looks_through_fields_searches_and_opens_a_procedure(phone, live_server, procedures):
    phone.goto(f"{live_server.url}/procedures")
    assert phone.locator("h1").inner_text() == "Thủ tục hành chính"
    assert phone.locator(".lk-field .lk-name").all_inner_texts() == ["Đất đai", "Hộ tịch - Chứng thực"]
    assert_readable_on_a_phone(phone)
    screenshot(phone, "lookup-index")

    phone.fill("input[name=q]", "dang ky khai sinh")
    phone.click("button[type=submit]")
    phone.wait_for_url("**/procedures?q=dang+ky+khai+sinh")
    assert phone.locator(".lk-found").inner_text() == "Tìm thấy 2 thủ tục cho “dang ky khai sinh”"
    assert_shown_whole(phone, LONG_NAME)
    assert_readable_on_a_phone(phone)
    screenshot(phone, "lookup-search")

    phone.get_by_text("Đăng ký khai sinh", exact=True).click()
    assert phone.locator("h1").inner_text() == "Đăng ký khai sinh"
    assert phone.locator(".lk-docs li").count() == 3
    assert phone.locator(".lk-badge").inner_text() == "Giải quyết ngay"
    assert phone.locator(".lk-qr svg").bounding_box()["width"] >= 200  # big enough for another phone to scan
    assert_readable_on_a_phone(phone)
    phone.screenshot(path=str(ARTIFACTS / "lookup-procedure-phone.png"))  # what the phone shows first
    screenshot(phone, "lookup-procedure")

    phone.locator(".lk-back a").click()
    assert phone.locator("h1").inner_text() == "Hộ tịch - Chứng thực"
    assert_shown_whole(phone, EVERY_TONE)
    assert_readable_on_a_phone(phone)
    screenshot(phone, "lookup-field")


@pytest.mark.parametrize("name, which, lang", [("300-characters", LONG, "vi"), ("every-tone", TONES, "vi"),
                                               ("land-en", LAND, "en"), ("long-fee", COPY, "vi")])
def test_long_names_every_tone_and_long_fees_fit_a_phone(phone, live_server, procedures, name, which, lang):
    phone.goto(f"{live_server.url}/procedures/{procedures[which]}?lang={lang}")
    assert_readable_on_a_phone(phone)
    title = phone.locator("h1")
    assert title.is_visible() and title.bounding_box()["width"] <= PHONE["width"]
    if which in (LONG, TONES):
        assert title.inner_text() == (LONG_NAME if which == LONG else EVERY_TONE)
    screenshot(phone, f"lookup-procedure-{name}")


def test_the_field_of_a_long_name_in_english_fits_a_phone(phone, live_server, procedures):
    phone.goto(f"{live_server.url}/procedures/field/A?lang=en")
    assert phone.locator("h1").inner_text() == "Land"
    assert_shown_whole(phone, LONG_NAME)  # no English name: the Vietnamese one
    assert_readable_on_a_phone(phone)
    phone.click("text=Tiếng Việt")
    assert phone.locator("h1").inner_text() == "Đất đai"
    screenshot(phone, "lookup-field-en")


def test_from_the_ticket_status_to_the_procedures_of_its_field(phone, live_server, engine, procedures):
    reply = engine.take("take-lookup", "k1", "B").reply
    token = reply["ticket"]["status_url"].rsplit("/t/", 1)[1]
    phone.goto(f"{live_server.url}/t/{token}")
    phone.get_by_text("Thủ tục của lĩnh vực này").click()
    assert phone.locator("h1").inner_text() == "Hộ tịch - Chứng thực"
    assert phone.locator(".lk-row .lk-name").count() == 4
    assert_readable_on_a_phone(phone)


def test_the_friendly_404_fits_a_phone(phone, live_server, procedures):
    response = phone.goto(f"{live_server.url}/procedures/{procedures[DEATH_HIDDEN]}")
    assert response.status == 404
    assert phone.locator("h1").inner_text() == "Thủ tục hoặc lĩnh vực này không có trong danh mục của trung tâm"
    assert_readable_on_a_phone(phone)
    assert phone.context.cookies() == []
    screenshot(phone, "lookup-missing")
