"""The citizen's ticket status page /t/<token> and its JSON, in every state of a ticket,
driven through the real engine; and in Chromium on a phone, following a call without reload."""

from __future__ import annotations

import re

import pytest

from tests.web.browser import screenshot


def take(engine, service="A", kiosk="k1", **kwargs):
    """Issue a ticket through the engine; its status-page token."""
    reply = engine.take(f"take-{next(_ids)}", kiosk, service, **kwargs).reply
    assert reply["ok"], reply
    return reply["ticket"]["status_url"].rsplit("/t/", 1)[1]


def act(engine, counter, action, **kwargs):
    reply = engine.counter(f"cmd-{next(_ids)}", counter, action, **kwargs).reply
    assert reply["ok"], reply
    return reply


_ids = iter(range(10**9))


def status(client, token, lang="vi"):
    response = client.get(f"/t/{token}.json?lang={lang}")
    assert response.status_code == 200
    return response.get_json()


def page(client, token, lang="vi"):
    response = client.get(f"/t/{token}?lang={lang}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def headline(html):
    match = re.search(r'<h1 id="status-headline">([^<]*)</h1>', html)
    assert match, html
    return match.group(1)


def data_status(html):
    return re.search(r'<main id="status" data-status="([a-z_]+)"', html).group(1)


# --- states --------------------------------------------------------------------------------

def test_waiting_shows_people_ahead_and_an_estimate(client, engine):
    take(engine), take(engine)
    token = take(engine)
    view = status(client, token)
    assert (view["label"], view["status"], view["waiting_ahead"]) == ("A003", "waiting", 2)
    assert view["estimated_wait_min"] >= 1
    assert view["headline"] == "Đang chờ: còn 2 người trước bạn"
    assert view["detail"] == f"Thời gian chờ ước tính: khoảng {view['estimated_wait_min']} phút"
    html = page(client, token)
    assert headline(html) == view["headline"] and data_status(html) == "waiting"
    assert "A003" in html and "Đất đai" in html and "Số thứ tự của bạn" in html


def test_the_first_in_line_is_told_it_is_next(client, engine):
    view = status(client, take(engine))
    assert view["waiting_ahead"] == 0
    assert view["headline"] == "Đang chờ: bạn là người tiếp theo"
    assert "sắp được gọi" in view["detail"]


def test_no_estimate_when_no_open_counter_serves_the_queue(client, engine):
    token = take(engine, "C")  # only counter 3 serves C
    act(engine, "3", "pause", reason="họp")
    view = status(client, token)
    assert view["estimated_wait_min"] is None
    assert view["detail"].startswith("Hiện chưa có quầy nào phục vụ lĩnh vực này")


def test_called_names_the_counter_in_both_languages(client, engine):
    token = take(engine)
    act(engine, "1", "next")
    view = status(client, token)
    assert (view["status"], view["counter"], view["counter_name"]) == ("called", "1", "Quầy 1")
    assert view["headline"] == "Mời số A001 đến Quầy 1"
    assert headline(page(client, token)) == "Mời số A001 đến Quầy 1"
    assert status(client, token, "en")["headline"] == "Number A001, please go to Quầy 1"
    assert data_status(page(client, token, "en")) == "called"


def test_serving_and_done(client, engine):
    token = take(engine)
    act(engine, "2", "next")
    act(engine, "2", "start")
    assert status(client, token)["headline"] == "Đang được phục vụ tại Quầy 2"
    assert status(client, token, "en")["headline"] == "Being served at Quầy 2"
    act(engine, "2", "done")
    view = status(client, token)
    assert (view["status"], view["final"], view["headline"]) == ("done", True, "Đã hoàn thành — cảm ơn bạn")
    assert status(client, token, "en")["headline"] == "Finished — thank you"


def test_no_show_gives_the_minutes_left_to_come_back(client, engine, clock):
    token = take(engine)
    act(engine, "1", "next")
    act(engine, "1", "recall")
    act(engine, "1", "no_show")
    rejoin = engine.config.queue.no_show_rejoin_min
    view = status(client, token)
    assert (view["status"], view["final"]) == ("no_show", False)
    assert view["headline"] == "Đã gọi nhưng vắng mặt"
    assert view["detail"] == f"Vui lòng liên hệ quầy trong vòng {rejoin} phút để được gọi lại."
    clock.advance(minutes=rejoin - 10)
    assert "trong vòng 10 phút" in status(client, token)["detail"]
    clock.advance(minutes=11)
    assert status(client, token)["detail"] == "Đã quá thời gian quay lại. Vui lòng lấy số mới."
    assert status(client, token, "en")["detail"] == "The time to come back has passed. Please take a new number."


def test_a_no_show_called_back_is_called_again(client, engine):
    token = take(engine)
    act(engine, "1", "next"), act(engine, "1", "recall"), act(engine, "1", "no_show")
    act(engine, "2", "call", ticket="A001")
    assert status(client, token)["headline"] == "Mời số A001 đến Quầy 2"


def test_transferred_shows_the_new_service_and_its_queue(client, engine):
    take(engine, "B")
    token = take(engine)
    act(engine, "1", "next")
    act(engine, "1", "transfer", to="B")
    view = status(client, token)
    assert (view["status"], view["service"], view["service_name"]) == ("waiting", "B", "Hộ tịch - Chứng thực")
    assert (view["transferred_from"], view["transferred_from_name"]) == ("A", "Đất đai")
    assert view["label"] == "A001" and view["waiting_ahead"] == 1  # B001 was issued first: it stays ahead
    assert view["note"] == "Số của bạn đã được chuyển sang lĩnh vực: Hộ tịch - Chứng thực"
    assert status(client, token, "en")["note"] == "Your number was moved to the field: Civil status"
    assert "Hộ tịch - Chứng thực" in page(client, token)


def test_the_page_links_to_the_procedures_of_its_field(client, engine, procedures):
    token = take(engine, "B")
    assert status(client, token)["procedures_url"] == "/procedures/field/B"
    assert status(client, token, "en")["procedures_url"] == "/procedures/field/B?lang=en"
    html = page(client, token)
    assert re.search(r'<a id="status-procedures" href="/procedures/field/B"\s*>Thủ tục của lĩnh vực này</a>', html)
    assert "Procedures of this field</a>" in page(client, token, "en")


def test_no_procedures_link_for_a_field_without_any_and_one_after_a_transfer_to_a_field_with_some(
        client, engine, procedures):
    token = take(engine, "C")  # the sample catalogue has nothing for C
    assert status(client, token)["procedures_url"] is None
    assert re.search(r'<a id="status-procedures" href=""\s*hidden>', page(client, token))
    act(engine, "3", "next")
    act(engine, "3", "transfer", to="B")
    assert status(client, token)["procedures_url"] == "/procedures/field/B"


def test_an_earlier_day_ticket_is_expired_even_before_any_command_today(client, engine, clock):
    token = take(engine)
    take(engine, "B")
    clock.advance(days=1)
    view = status(client, token)  # nobody has pressed anything today: the engine has not closed the day yet
    assert (view["status"], view["final"]) == ("cancelled", True)
    assert view["headline"] == "Số đã hết hiệu lực — ngày làm việc đã kết thúc"
    assert view["waiting_ahead"] is None and view["estimated_wait_min"] is None
    take(engine)  # today's first ticket: A001 again, a new token
    act(engine, "1", "next")
    view = status(client, token)
    assert view["status"] == "cancelled" and view["label"] == "A001" and view["day"] == "2026-11-23"
    assert status(client, token, "en")["headline"] == "This number has expired — the working day has ended"
    assert "Lấy số lúc 09:00 23/11/2026" in page(client, token)  # not today: the date too


def test_an_earlier_day_ticket_that_was_served_stays_done(client, engine, clock):
    token = take(engine)
    act(engine, "1", "next"), act(engine, "1", "done")
    clock.advance(days=1)
    take(engine)
    assert status(client, token)["status"] == "done"


def test_an_earlier_day_no_show_is_expired(client, engine, clock):
    token = take(engine)
    act(engine, "1", "next"), act(engine, "1", "recall"), act(engine, "1", "no_show")
    clock.advance(days=1)
    assert status(client, token)["status"] == "cancelled"
    act(engine, "2", "next")
    assert status(client, token)["status"] == "cancelled"


# --- the page itself -------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/t/doesnotexist", "/t/doesnotexist.json", "/t/a.b", "/t/%00", "/t/" + "x" * 65,
                                  "/t/<script>", "/t/"])
def test_unknown_or_malformed_tokens_are_a_plain_404(client, engine, path):
    take(engine)
    response = client.get(path)
    assert response.status_code == 404
    assert "Trang này không tồn tại" in response.get_data(as_text=True)


def test_the_json_route_is_not_mistaken_for_a_token(client, engine):
    token = take(engine)
    assert client.get(f"/t/{token}.json").is_json
    assert client.get(f"/t/{token}.json").get_json()["label"] == "A001"


def test_status_is_never_cached(client, engine):
    token = take(engine)
    for path in [f"/t/{token}", f"/t/{token}.json", "/t/nothere"]:
        assert client.get(path).headers["Cache-Control"] == "no-store", path


def test_the_page_shows_nothing_personal_or_about_other_tickets(client, engine):
    other = take(engine, kiosk="kiosk-lobby")
    token = take(engine, kiosk="kiosk-lobby", priority=True)
    act(engine, "1", "next")  # calls A002 (priority) before A001
    take(engine, kiosk="kiosk-lobby")
    for lang in ("vi", "en"):
        html = page(client, token, lang)
        body = client.get(f"/t/{token}.json?lang={lang}").get_data(as_text=True)
        for text in (html, body):
            assert "kiosk-lobby" not in text and "A001" not in text and "A003" not in text
            assert "priority" not in text and other not in text and "clerk" not in text
    assert "csrf" not in html and "queuebox_session" not in client.get(f"/t/{token}").headers.get("Set-Cookie", "")


def test_vietnamese_first_and_an_english_switch_that_sticks(client, engine):
    token = take(engine)
    html = client.get(f"/t/{token}").get_data(as_text=True)
    assert '<html lang="vi">' in html and "Số thứ tự của bạn" in html and 'href="?lang=en"' in html
    english = client.get(f"/t/{token}?lang=en")
    assert "Your number" in english.get_data(as_text=True) and "Land" in english.get_data(as_text=True)
    html = client.get(f"/t/{token}").get_data(as_text=True)  # remembered in a cookie
    assert "Your number" in html and f'data-json-url="/t/{token}.json?lang=en"' in html


def test_refresh_without_javascript_only_while_something_can_change(client, engine):
    token = take(engine)
    assert '<noscript><meta http-equiv="refresh" content="30"></noscript>' in page(client, token)
    assert 'src="/static/status.js"' in page(client, token)
    act(engine, "1", "next"), act(engine, "1", "done")
    html = page(client, token)
    assert 'http-equiv="refresh"' not in html and 'data-final="true"' in html


def test_json_has_the_same_texts_as_the_page(client, engine):
    token = take(engine)
    act(engine, "1", "next")
    html, view = page(client, token), status(client, token)
    for key in ("label", "service_name", "headline", "detail", "updated_text"):
        assert view[key] in html, key
    assert view["refresh_s"] == 10


def test_the_page_needs_no_inline_script_or_style(client, engine):
    html = page(client, take(engine))
    assert "<script>" not in html and "style=" not in html and "<style" not in html


# --- Chromium on a phone ------------------------------------------------------------------------

def test_a_phone_sees_its_number_called_without_reloading(chromium, app, engine, live_server):
    app.config["STATUS_POLL_S"] = 1  # poll every second instead of 10 so the test is quick
    take(engine)
    token = take(engine)
    context = chromium.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN", is_mobile=True)
    try:
        phone = context.new_page()
        phone.set_default_timeout(10_000)
        phone.goto(f"{live_server.url}/t/{token}")
        assert phone.locator("#status-headline").inner_text() == "Đang chờ: còn 1 người trước bạn"
        assert phone.locator("#status-label").inner_text() == "A002"
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, "the page scrolls sideways on a phone"
        screenshot(phone, "status-waiting")

        act(engine, "1", "next")  # A001 goes to counter 1: one ahead becomes none
        phone.locator("#status-headline", has_text="Đang chờ: bạn là người tiếp theo").wait_for()
        act(engine, "2", "next")  # now A002 is called
        phone.locator("main[data-status=called]").wait_for()
        assert phone.locator("#status-headline").inner_text() == "Mời số A002 đến Quầy 2"
        assert phone.title() == "Mời số A002 đến Quầy 2"
        assert phone.locator("#status-offline").is_hidden()
        screenshot(phone, "status-called")

        phone.click("text=English")
        phone.locator("#status-headline", has_text="Number A002, please go to Quầy 2").wait_for()
        act(engine, "2", "start")
        phone.locator("main[data-status=serving]").wait_for()
        assert phone.locator("#status-headline").inner_text() == "Being served at Quầy 2"
    finally:
        context.close()
