"""The virtual kiosk page of the demo (`/dev/kiosk`): absent without dev mode, a press is
published to the simulated kiosk's topic, the saved ticket pictures are listed newest first
and served only from their folder, and nothing answers a request from another machine."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from server import store, users
from server.engine import Engine
from server.web import create_app
from server.web.devkiosk import SHOWN
from tests.factories import FakeClock, make_config
from tests.web.conftest import csrf_token

TOPIC = "qb/test/kiosk/hall-1/simulate"
KIOSK = {"id": "hall-1", "buttons": {"A": 5, "B": 6, "C": 13}, "priority_button": 21,
         "group_buttons": {"CT": 20, "KT": 16}}  # of the five groups of the law, two have a button
SERVICES = [{"code": "A", "name_vi": "Đất đai", "name_en": "Land"},
            {"code": "B", "name_vi": "Hộ tịch - Chứng thực", "name_en": "Civil status"},
            {"code": "C", "name_vi": "Đăng ký kinh doanh", "override": "closed"},
            {"code": "D", "name_vi": "Trả kết quả"}]  # no button on this kiosk
PAGES = ["/dev/kiosk/", "/dev/kiosk/tickets.json", "/dev/kiosk/tickets/20261123-090000-A001.png"]


@pytest.fixture
def engine(tmp_path: Path, clock: FakeClock) -> Any:
    config = make_config(SERVICES, counters=[{"id": "1", "name": "Quầy 1", "services": {"A": 1, "B": 1}}],
                         kiosk=KIOSK, mqtt={"root": "qb"})
    eng = Engine(config, tmp_path / "web.db", clock=clock)
    db = store.open_database(eng.db_path)
    users.add(db, "clerk1", "correct horse 42", "clerk", ["1"], clock())
    db.close()
    yield eng
    eng.close()


@pytest.fixture
def published() -> list[tuple[str, str]]:
    return []


@pytest.fixture
def tickets(tmp_path: Path) -> Path:
    return tmp_path / "tickets"


def dev_app(engine: Engine, publish: Callable[[str, str], None] | None, tickets: Path) -> Flask:
    app = create_app(engine, secret_key="test secret", dev=True, dev_publish=publish, dev_tickets=tickets)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def dev(engine: Engine, published: list[tuple[str, str]], tickets: Path) -> FlaskClient:
    return dev_app(engine, lambda topic, text: published.append((topic, text)), tickets).test_client()


def press(client: FlaskClient, body: Any, **kwargs: Any) -> Any:
    token = csrf_token(client, "/dev/kiosk/")
    return client.post("/dev/kiosk/press", json=body, headers={"X-CSRFToken": token}, **kwargs)


def status(client: FlaskClient, path: str, **kwargs: Any) -> int:
    """The HTTP status of GET `path` (the response is closed: a picture holds its file open)."""
    with client.get(path, **kwargs) as response:
        return response.status_code


def save_ticket(folder: Path, name: str, mtime: float, data: bytes = b"\x89PNG\r\n\x1a\nfake") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path


# --- only in dev mode, only from this machine ----------------------------------------------

@pytest.mark.parametrize("path", PAGES)
def test_without_dev_mode_the_pages_do_not_exist(client, path):
    assert status(client, path) == 404


def test_without_dev_mode_a_press_does_not_exist(client):
    token = csrf_token(client)
    assert client.post("/dev/kiosk/press", json={"service": "A"}, headers={"X-CSRFToken": token}).status_code == 404


@pytest.mark.parametrize("path", PAGES)
def test_from_another_machine_the_pages_do_not_exist(dev, tickets, path):
    save_ticket(tickets, "20261123-090000-A001.png", 1_800_000_000)
    assert status(dev, path) == 200  # from this machine
    assert status(dev, path, environ_base={"REMOTE_ADDR": "192.168.1.20"}) == 404


def test_from_another_machine_a_press_is_not_sent(dev, published):
    token = csrf_token(dev, "/login")
    response = dev.post("/dev/kiosk/press", json={"service": "A"}, headers={"X-CSRFToken": token},
                        environ_base={"REMOTE_ADDR": "10.0.0.7"})
    assert response.status_code == 404
    assert published == []


# --- the page ---------------------------------------------------------------------------------

def test_the_page_shows_the_kiosk_face_without_a_login(dev):
    response = dev.get("/dev/kiosk/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Máy lấy số ảo" in page and "Xin mời chọn lĩnh vực" in page
    assert '<span class="dk-name">Đất đai</span>' in page and "Hộ tịch - Chứng thực" in page
    assert 'data-service="A" >' in page and 'data-service="B" >' in page
    assert 'data-service="C" disabled' in page and "Ngừng cấp số" in page  # closed now
    assert 'data-service="D"' not in page and "Trả kết quả" not in page  # not a button of this kiosk
    assert 'id="dk-priority"' in page and "Ưu tiên" in page
    assert "devkiosk.js" in page and "<script>" not in page  # CSP: no inline script


def test_the_page_offers_the_priority_groups_that_have_a_button(dev):
    page = dev.get("/dev/kiosk/").get_data(as_text=True)
    assert "Hoặc nút của đối tượng ưu tiên, rồi chọn lĩnh vực:" in page
    assert 'data-group="CT"' in page and "Người cao tuổi" in page and "Elderly" in page
    assert 'data-group="KT"' in page and "Người khuyết tật" in page
    assert 'data-group="MT"' not in page and "Phụ nữ mang thai" not in page  # no button for it on this kiosk


def test_the_page_speaks_english_on_request(dev):
    page = dev.get("/dev/kiosk/?lang=en").get_data(as_text=True)
    assert "Virtual kiosk" in page and "Please choose a service" in page and "Not taking tickets" in page


def test_the_page_has_no_priority_toggle_without_a_priority_button(tmp_path, clock):
    config = make_config(SERVICES, kiosk={**KIOSK, "priority_button": 0})
    eng = Engine(config, tmp_path / "np.db", clock=clock)
    try:
        page = dev_app(eng, None, tmp_path).test_client().get("/dev/kiosk/").get_data(as_text=True)
    finally:
        eng.close()
    assert 'id="dk-priority"' not in page and 'data-service="A"' in page


# --- pressing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("body, text", [
    ({"service": "A"}, "a"),
    ({"service": "b", "priority": False}, "b"),
    ({"service": "B", "priority": True}, "priority b"),
    ({"service": "B", "group": "CT"}, "g ct b"),
    ({"service": "a", "priority": True, "group": "KT"}, "g kt a"),  # the group's button arms priority itself
    ({"service": "A", "group": None}, "a"),
])
def test_a_press_is_published_to_the_simulated_kiosk(dev, published, body, text):
    response = press(dev, body)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["pressed"] == text
    assert published == [(TOPIC, text)]


@pytest.mark.parametrize("body, status, code", [
    ({"service": "D"}, 400, "unknown_service"),  # a service, but no button on this kiosk
    ({"service": "Z"}, 400, "unknown_service"),
    ({"service": 5}, 400, "bad_request"),
    ({"service": "A", "priority": "yes"}, 400, "bad_request"),
    ({"service": "A", "group": "MT"}, 400, "unknown_group"),  # a group, but no button on this kiosk
    ({"service": "A", "group": "ct"}, 400, "unknown_group"),
    ({"service": "A", "group": ["CT"]}, 400, "bad_request"),
    (["A"], 400, "bad_request"),
])
def test_a_wrong_press_is_refused_and_not_sent(dev, published, body, status, code):
    response = press(dev, body)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    assert published == []


def test_a_press_without_the_page_token_is_refused(dev, published):
    response = dev.post("/dev/kiosk/press", json={"service": "A"})
    assert response.status_code == 400
    assert published == []


def test_a_press_says_so_when_it_cannot_be_sent(engine, tickets):
    assert press(dev_app(engine, None, tickets).test_client(), {"service": "A"}).status_code == 503

    def broken(topic: str, text: str) -> None:
        raise ValueError("Invalid topic.")
    response = press(dev_app(engine, broken, tickets).test_client(), {"service": "A"})
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "unavailable"


# --- the printed tickets ----------------------------------------------------------------------

def test_tickets_are_listed_newest_first(dev, tickets):
    save_ticket(tickets, "20261123-090001-A001.png", 1_800_000_001)
    save_ticket(tickets, "20261123-090005-B001.png", 1_800_000_005)
    save_ticket(tickets, "20261123-090005-A002.png", 1_800_000_004)  # same second, printed before B001
    for junk in ("20261123-090009-A003.bin", "notes.png", ".20261123-090009-A003.png", "20261123-0900-A9.png"):
        save_ticket(tickets, junk, 1_800_000_009)
    (tickets / "20261123-090010-X001.png").mkdir()  # not a file
    listed = dev.get("/dev/kiosk/tickets.json").get_json()["tickets"]
    assert [(t["label"], t["time"]) for t in listed] == [("B001", "09:00:05"), ("A002", "09:00:05"),
                                                           ("A001", "09:00:01")]
    assert listed[0]["url"] == "/dev/kiosk/tickets/20261123-090005-B001.png"


def test_only_the_newest_tickets_are_listed(dev, tickets):
    for n in range(1, SHOWN + 3):
        save_ticket(tickets, f"20261123-0901{n:02d}-A{n:03d}.png", 1_800_000_000 + n)
    listed = dev.get("/dev/kiosk/tickets.json").get_json()["tickets"]
    assert [t["label"] for t in listed] == [f"A{n:03d}" for n in range(SHOWN + 2, 2, -1)]


def test_no_folder_yet_is_no_ticket_yet(dev):
    response = dev.get("/dev/kiosk/tickets.json")
    assert response.status_code == 200 and response.get_json()["tickets"] == []
    assert "Chưa in phiếu nào." in dev.get("/dev/kiosk/").get_data(as_text=True)


def test_a_ticket_picture_is_served(dev, tickets):
    save_ticket(tickets, "20261123-090000-A001.png", 1_800_000_000, b"\x89PNG the picture")
    with dev.get("/dev/kiosk/tickets/20261123-090000-A001.png") as response:
        assert response.status_code == 200
        assert response.mimetype == "image/png" and response.data == b"\x89PNG the picture"


@pytest.mark.parametrize("path", [
    "/dev/kiosk/tickets/..%2F20261123-090000-A001.png",
    "/dev/kiosk/tickets/%2E%2E%2F20261123-090000-A001.png",
    "/dev/kiosk/tickets/..%2Fweb.db",
    "/dev/kiosk/tickets/../20261123-090000-A001.png",
    "/dev/kiosk/tickets/%2Fetc%2Fpasswd",
    "/dev/kiosk/tickets/20261123-090000-A001.bin",
    "/dev/kiosk/tickets/20261123-090000-A009.png",  # a good name, but no such ticket
])
def test_nothing_outside_the_ticket_pictures_is_served(dev, tickets, tmp_path, path):
    save_ticket(tickets, "20261123-090000-A001.bin", 1_800_000_000, b"printer bytes")
    save_ticket(tmp_path, "20261123-090000-A001.png", 1_800_000_000, b"\x89PNG outside the folder")
    with dev.get(path) as response:
        body = response.data
    assert response.status_code == 404
    assert b"outside the folder" not in body and b"printer bytes" not in body


def test_a_press_on_a_closed_service_says_why_and_is_not_sent(dev, published):
    """C is closed by a manager: the kiosk would refuse it; the page says so at once instead of waiting."""
    response = press(dev, {"service": "C"})
    assert response.status_code == 409 and response.json["error"]["code"] == "service_closed"
    assert "Đăng ký kinh doanh hiện không cấp số" in response.json["error"]["message"]
    assert published == []


def test_the_page_follows_a_service_closed_on_the_web_while_it_is_open(engine, published, tickets, page):
    """In Chromium: A's button greys out within a poll of the page after a manager closes A."""
    from playwright.sync_api import expect

    from server.settings import raw_config
    from tests.web.browser import LiveServer
    with LiveServer(dev_app(engine, lambda topic, text: published.append((topic, text)), tickets)) as server:
        page.goto(f"{server.url}/dev/kiosk/")
        button = page.locator("button[data-service=A]")
        expect(button).to_be_enabled()
        expect(page.locator("button[data-service=C]")).to_be_disabled()
        services = raw_config(engine.config)["services"]
        engine.reconfigure({"services": [{**s, "override": "closed"} if s["code"] == "A" else s for s in services]},
                           "manager")
        expect(button).to_be_disabled(timeout=5000)
        expect(button.locator(".dk-closed")).to_be_visible()
        services = raw_config(engine.config)["services"]
        engine.reconfigure({"services": [{**s, "override": "open"} if s["code"] in "AC" else s for s in services]},
                           "manager")
        expect(page.locator("button[data-service=C]")).to_be_enabled(timeout=5000)


def test_a_priority_group_is_pressed_from_the_page_in_chromium(engine, published, tickets, page):
    """In Chromium: a group, then a service, sends the group's button then the service's; one
    press uses the choice up, and the priority toggle and a group exclude each other."""
    from playwright.sync_api import expect

    from tests.web.browser import LiveServer, screenshot
    with LiveServer(dev_app(engine, lambda topic, text: published.append((topic, text)), tickets)) as server:
        page.goto(f"{server.url}/dev/kiosk/")
        ct, kt, priority = page.locator("button[data-group=CT]"), page.locator("button[data-group=KT]"), \
            page.locator("#dk-priority")
        priority.click()
        ct.click()
        expect(ct).to_have_attribute("aria-pressed", "true")
        expect(priority).to_have_attribute("aria-pressed", "false")
        kt.click()
        expect(kt).to_have_attribute("aria-pressed", "true")
        expect(ct).to_have_attribute("aria-pressed", "false")
        assert screenshot(page, "devkiosk-groups").stat().st_size > 20_000
        page.click("button[data-service=B]")
        expect(kt).to_have_attribute("aria-pressed", "false")  # used up by the press, as on the kiosk
        page.click("button[data-service=A]")
        deadline = time.monotonic() + 5
        while len(published) < 2 and time.monotonic() < deadline:  # the page's fetch is on its way
            page.wait_for_timeout(50)
        assert published == [(TOPIC, "g kt b"), (TOPIC, "a")]
