"""Live pages (issue 14, finding 3): server-sent event streams on threads of their own,
capped per user, tablet, address and in total (429), freed within 2 s of their page closing,
rendered once per commit for pages that show the same view; through a real waitress."""

from __future__ import annotations

import time

import pytest

from tests.helpers.hall import WebSession, timed
from tests.web.hall.site import PASSWORD, wait_until


# --- finding 3: live pages --------------------------------------------------------------------------

@pytest.mark.parametrize("hall", [{"threads": 4, "streams_per_user": 40}], indirect=True)
def test_live_streams_leave_the_request_workers_free(hall):
    clerk = hall.session("clerk1")
    opened = [clerk.open_stream("/counter/1/events") for _ in range(20)]  # 5 times the request workers
    try:
        assert [status for _sock, status in opened] == [200] * 20
        for path in ("/healthz", "/login"):
            spent, (status, _body) = timed(lambda: WebSession(hall.staff.port, timeout=5).get(path))
            assert status == 200 and spent < 1.0, (path, spent)
        status, reply = clerk.command("1", "next")
        assert status == 200 and reply["ok"]
    finally:
        for sock, _status in opened:
            sock.close()


def test_a_closed_stream_frees_its_subscription_and_slot_within_two_seconds(hall):
    clerk = hall.session("clerk1")
    sock, status = clerk.open_stream("/counter/1/events")
    assert status == 200
    assert wait_until(lambda: hall.hub.subscribers == 1 and hall.streams.open_streams == 1, 5)
    sock.close()
    start = time.monotonic()
    assert wait_until(lambda: hall.hub.subscribers == 0 and hall.streams.open_streams == 0, 5)
    assert time.monotonic() - start < 2.0


@pytest.mark.parametrize("hall", [{"streams_per_user": 2}], indirect=True)
def test_streams_past_the_per_user_cap_are_refused_with_429(hall):
    clerk = hall.session("clerk1")
    opened = [clerk.open_stream("/counter/1/events") for _ in range(2)]
    try:
        assert [status for _sock, status in opened] == [200, 200]
        status, headers, body = clerk.request("GET", "/counter/1/events")
        assert status == 429 and headers["retry-after"] == "60"
        assert "quá nhiều trang" in body.decode()  # the default language, Vietnamese
        other, other_status = hall.session("clerk2").open_stream("/counter/2/events")  # another user is not capped
        other.close()
        assert other_status == 200
    finally:
        for sock, _status in opened:
            sock.close()


@pytest.mark.parametrize("hall", [{"streams_per_address": 2, "streams_per_user": 10}], indirect=True)
def test_streams_past_the_per_address_cap_are_refused_with_429(hall):
    far = [hall.session(login, source="127.0.0.2") for login in ("clerk1", "clerk2", "manager")]
    opened = [far[0].open_stream("/counter/1/events"), far[1].open_stream("/counter/2/events")]
    try:
        assert [status for _sock, status in opened] == [200, 200]
        assert far[2].request("GET", "/admin/events")[0] == 429  # a third user from the same address
        near, near_status = hall.session("manager").open_stream("/admin/events")  # loopback itself is not capped
        near.close()
        assert near_status == 200
    finally:
        for sock, _status in opened:
            sock.close()


@pytest.mark.parametrize("hall", [{"streams_per_user": 1}], indirect=True)
def test_a_paired_tablet_is_capped_like_a_user(hall):
    manager = hall.session("manager")
    manager.page_csrf("/counter/1/rate")
    status, _headers, _body = manager.post_form("/counter/1/rate/pair", {})
    assert status in (302, 303) and "qb_tablet_1" in manager.cookies
    tablet = WebSession(hall.staff.port)
    tablet.cookies = {"qb_tablet_1": manager.cookies["qb_tablet_1"]}
    sock, status = tablet.open_stream("/counter/1/rate/events")
    try:
        assert status == 200
        assert tablet.request("GET", "/counter/1/rate/events")[0] == 429
    finally:
        sock.close()


@pytest.mark.parametrize("hall", [{"live_streams": 3, "streams_per_user": 10}], indirect=True)
def test_streams_past_the_total_are_refused_at_once(hall):
    clerk = hall.session("clerk1")
    opened = [clerk.open_stream("/counter/1/events") for _ in range(3)]
    try:
        spent, (status, _headers, _body) = timed(lambda: hall.session("manager").request("GET", "/admin/events"))
        assert status == 429 and spent < 2.0
    finally:
        for sock, _status in opened:
            sock.close()


# --- one render per commit for pages that show the same thing ------------------------------------------

def test_pages_showing_the_same_view_render_it_once_per_commit():
    from server.store import EventRecord
    from server.web.live import Hub
    hub = Hub()
    renders: list[int] = []

    def view() -> int:
        renders.append(1)
        return len(renders)
    assert [hub.shared("overview", view) for _ in range(20)] == [1] * 20
    hub.publish((EventRecord(7, "", "called", None, None, {}),))
    assert [hub.shared("overview", view) for _ in range(20)] == [2] * 20
    assert hub.shared("console-1", view) == 3  # another view is its own


def test_a_shared_view_is_rendered_again_once_it_is_a_second_old():
    from server.web.live import Hub
    hub = Hub()
    values = iter(range(10))
    first = hub.shared("console", lambda: next(values), max_age_s=0.05)
    assert wait_until(lambda: hub.shared("console", lambda: next(values), max_age_s=0.05) != first, 2)


@pytest.mark.parametrize("hall", [{"streams_per_user": 1}], indirect=True)
def test_a_console_refused_its_live_updates_waits_longer_each_time(hall, chromium):
    """The second console tab of a clerk allowed one live page: it shows it is offline and asks
    again after 5 s, then 10 s (counter.js), instead of every few seconds without end."""
    context = chromium.new_context()
    try:
        first = context.new_page()
        first.goto(f"http://127.0.0.1:{hall.staff.port}/login")
        first.fill("#login", "clerk1")
        first.fill("#password", PASSWORD)
        first.click("button[type=submit]")
        first.wait_for_url("**/counter/1")
        assert wait_until(lambda: hall.streams.open_streams == 1, 10)
        second = context.new_page()
        asked: list[float] = []
        second.on("request", lambda r: asked.append(time.monotonic()) if r.url.endswith("/events") else None)
        second.goto(f"http://127.0.0.1:{hall.staff.port}/counter/1")
        second.locator("#live.live-off").wait_for(timeout=10_000)
        second.wait_for_timeout(13_000)  # the browser's own timers run: nothing to poll for
        gaps = [round(b - a, 1) for a, b in zip(asked, asked[1:])]
        assert len(asked) == 2 and 4.5 < gaps[0] < 8, gaps  # refused at once, again after 5 s, the next after 10 s
        assert hall.streams.open_streams == 1
    finally:
        context.close()
