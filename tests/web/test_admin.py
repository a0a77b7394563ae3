"""The administration of services, counters, the priority policy and the board message:
who may use it, what a save changes in the running engine, and the errors next to the fields."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from server import store
from server.settings import raw_config
from server.web import admin_forms as forms
from tests.web.conftest import post_form

MANAGER_PAGES = ["/admin/", "/admin/overview.json", "/admin/services", "/admin/services/new", "/admin/services/A/edit",
                 "/admin/counters", "/admin/counters/new", "/admin/counters/1/edit", "/admin/queue", "/admin/message"]
POSTS = ["/admin/services/new", "/admin/services/A/edit", "/admin/services/A/override", "/admin/services/C/delete",
         "/admin/counters/new", "/admin/counters/1/edit", "/admin/counters/3/delete", "/admin/queue", "/admin/message"]


def service_form(engine: Any, service: str, **changes: Any) -> dict[str, Any]:
    """The edit form of `service` as a browser would send it unchanged, with `changes`."""
    s = next(s for s in raw_config(engine.config)["services"] if s["code"] == service)
    return {**s, "hours": ", ".join(s["hours"]), **changes}


def counter_form(engine: Any, counter_id: str, **changes: Any) -> dict[str, Any]:
    c = next(c for c in raw_config(engine.config)["counters"] if c["id"] == counter_id)
    return {"name": c["name"], **{f"weight_{code}": w for code, w in c["services"].items()}, **changes}


def field_error(page: str, field: str) -> str:
    """The error text shown next to `field` ('' if none)."""
    match = re.search(rf'<p class="field-error" id="e-{field}"[^>]*>([^<]*)</p>', page)
    return match.group(1) if match else ""


def config_events(engine: Any) -> list[dict[str, Any]]:
    db = store.open_database(engine.db_path)
    try:
        return [{"actor": r["actor"], **json.loads(r["data"])}
                for r in db.query("SELECT actor, data FROM events WHERE type = 'config_changed' ORDER BY seq")]
    finally:
        db.close()


# --- who may open what ------------------------------------------------------------------------

@pytest.mark.parametrize("path", MANAGER_PAGES)
def test_managers_and_admins_open_every_administration_page(login, path):
    assert login("manager").get(path).status_code == 200
    assert login("admin").get(path).status_code == 200


@pytest.mark.parametrize("path", MANAGER_PAGES + ["/admin/events", "/admin/users"])
def test_a_clerk_cannot_open_the_administration(login, path):
    assert login("clerk1").get(path).status_code == 403


@pytest.mark.parametrize("path", MANAGER_PAGES)
def test_the_administration_needs_a_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


@pytest.mark.parametrize("path", POSTS)
def test_a_clerk_cannot_change_anything(login, engine, path):
    before = raw_config(engine.config)
    response = post_form(login("clerk1"), path, {"override": "closed", "name": "x", "message": "x"})
    assert response.status_code == 403
    assert raw_config(engine.config) == before


@pytest.mark.parametrize("path", POSTS)
@pytest.mark.parametrize("token", [None, "forged"])
def test_a_post_without_a_valid_csrf_token_is_refused(login, engine, path, token):
    client = login("manager")
    data = {"override": "closed", "name": "x", "message": "x", **({"csrf_token": token} if token else {})}
    assert client.post(path, data=data).status_code == 400
    assert config_events(engine) == []


@pytest.mark.parametrize("path", ["/admin/services/Z/edit", "/admin/counters/9/edit"])
def test_unknown_services_and_counters_are_404(login, path):
    client = login("manager")
    assert client.get(path).status_code == 404
    assert post_form(client, path, {}).status_code == 404


# --- services ---------------------------------------------------------------------------------

def test_the_services_page_lists_each_service_with_its_switch(login):
    page = login("manager").get("/admin/services").get_data(as_text=True)
    for name in ["Đất đai", "Hộ tịch - Chứng thực", "Đăng ký kinh doanh"]:
        assert name in page
    assert page.count('aria-pressed="true">Theo giờ') == 3
    assert "được dùng thay cho tệp cấu hình" in page  # the note: saved settings win over the file


def test_a_manager_renames_a_service_and_changes_its_target_wait(login, engine):
    client = login("manager")
    response = post_form(client, "/admin/services/A/edit",
                         service_form(engine, "A", name_vi="Đất đai - Nhà ở", target_wait_min="25"))
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/services"
    service = engine.config.service("A")
    assert (service.name_vi, service.target_wait_min) == ("Đất đai - Nhà ở", 25)
    listing = client.get("/admin/services").get_data(as_text=True)
    assert "Đã lưu." in listing and "Đất đai - Nhà ở" in listing
    assert config_events(engine) == [{"actor": "web/manager", "sections": ["services"]}]
    assert engine.take("t1", "kiosk1", "A").reply["ticket"]["service_name"] == "Đất đai - Nhà ở"


def test_opening_hours_and_days_are_saved_normalised(login, engine):
    response = post_form(login("manager"), "/admin/services/B/edit",
                         service_form(engine, "B", hours="7:30-11:30;  13:30-17:00", open_days=["mon", "sat"]))
    assert response.status_code == 302
    service = engine.config.service("B")
    assert service.hours == ("07:30-11:30", "13:30-17:00")
    assert service.open_days == ("mon", "sat")


@pytest.mark.parametrize("changes, field, message", [
    ({"number_end": "abc"}, "number_end", "Phải là số nguyên dương"),
    ({"number_start": "-1"}, "number_start", "Phải là số nguyên từ 0 trở lên"),
    ({"number_start": "10", "number_end": "5"}, "number_end", "Phải lớn hơn số đầu tiên (10)"),
    ({"hours": "7h-11h"}, "hours", "Giờ mở cửa phải có dạng HH:MM-HH:MM"),
    ({"hours": "11:30-07:30"}, "hours", "Giờ mở cửa phải có dạng HH:MM-HH:MM"),
    ({"name_vi": "  "}, "name_vi", "Không được để trống"),
    ({"target_wait_min": "0"}, "target_wait_min", "Phải là số nguyên dương"),
    ({"daily_limit": "1,5"}, "daily_limit", "Phải là số nguyên từ 0 trở lên"),
    ({"open_days": []}, "open_days", "Hãy chọn ít nhất một ngày"),
    ({"override": "sometimes"}, "override", "Hãy chọn một trong các mục có sẵn"),
    ({"label_format": "{nope}"}, "label_format", "Mẫu số phiếu không hợp lệ"),  # found by the engine's checks
])
def test_a_bad_service_value_shows_the_form_again_with_the_error_next_to_the_field(login, engine, changes, field,
                                                                                   message):
    before = raw_config(engine.config)
    response = post_form(login("manager"), "/admin/services/A/edit", service_form(engine, "A", **changes))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in field_error(page, field)
    assert f'id="f-{field}"' not in page or 'aria-invalid="true"' in page
    assert raw_config(engine.config) == before
    assert config_events(engine) == []


def test_the_form_shown_again_keeps_what_was_typed(login, engine):
    response = post_form(login("manager"), "/admin/services/A/edit",
                         service_form(engine, "A", name_vi="Đất đai mới", hours="7h"))
    page = response.get_data(as_text=True)
    assert 'value="Đất đai mới"' in page and 'value="7h"' in page


def test_an_english_page_shows_english_errors(login, engine):
    client = login("manager")
    client.get("/admin/services?lang=en")
    response = post_form(client, "/admin/services/A/edit", service_form(engine, "A", number_end="x"))
    assert field_error(response.get_data(as_text=True), "number_end") == "Must be a positive whole number"


def test_a_manager_adds_a_service_that_takes_tickets_at_once(login, engine):
    form = {"code": "d", "name_vi": "Chính sách xã hội", "name_en": "Social welfare", "number_start": "1",
            "number_end": "500", "label_format": "{code}{number:03d}", "daily_limit": "0",
            "open_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "hours": "", "target_wait_min": "20",
            "service_min": "8", "override": "hours"}
    response = post_form(login("manager"), "/admin/services/new", form)
    assert response.status_code == 302
    assert engine.config.service("D").name_vi == "Chính sách xã hội"
    assert engine.take("t1", "kiosk1", "D").reply["ticket"]["label"] == "D001"


@pytest.mark.parametrize("code, message", [("A", "Mã này đã được dùng cho lĩnh vực khác"),
                                           ("A1", "Từ 1 đến 3 chữ cái in hoa"), ("", "Từ 1 đến 3 chữ cái in hoa")])
def test_a_new_service_needs_a_free_valid_code(login, engine, code, message):
    form = {**service_form(engine, "C", code=code, name_vi="Khác")}
    response = post_form(login("manager"), "/admin/services/new", form)
    assert response.status_code == 422
    assert message in field_error(response.get_data(as_text=True), "code")
    assert len(engine.config.services) == 3


def test_the_open_closed_switch_takes_effect_at_once(login, engine):
    client = login("manager")
    assert post_form(client, "/admin/services/B/override", {"override": "closed"}).status_code == 302
    assert engine.take("t1", "kiosk1", "B").reply["error"]["code"] == "service_closed"
    page = client.get("/admin/services").get_data(as_text=True)
    row = page[page.index('data-service="B"'):page.index('data-service="C"')]
    assert "Ngừng cấp số" in row and 'aria-pressed="true">Đóng ngay' in row
    post_form(client, "/admin/services/B/override", {"override": "open"})
    assert engine.take("t2", "kiosk1", "B").ok
    post_form(client, "/admin/services/B/override", {"override": "hours"})
    assert engine.config.service("B").override == "hours"
    assert len(config_events(engine)) == 3


def test_the_switch_refuses_an_unknown_position(login, engine):
    assert post_form(login("manager"), "/admin/services/B/override", {"override": "maybe"}).status_code == 400
    assert engine.config.service("B").override == "hours"


def test_deleting_a_service_takes_it_off_the_counters_serving_it(login, engine):
    response = post_form(login("manager"), "/admin/services/C/delete", {})
    assert response.status_code == 302
    assert engine.config.service("C") is None
    assert engine.config.counter("3").services == {"B": 2}


def test_a_service_someone_waits_in_cannot_be_deleted(login, engine):
    engine.take("t1", "kiosk1", "C")
    client = login("manager")
    response = post_form(client, "/admin/services/C/delete", {})
    assert response.headers["Location"] == "/admin/services/C/edit"
    assert engine.config.service("C") is not None
    page = client.get("/admin/services/C/edit").get_data(as_text=True)
    assert "Lĩnh vực C vẫn còn số C001 trong hàng chờ" in page


def test_a_service_that_is_a_counters_only_one_cannot_be_deleted(login, engine):
    client = login("manager")
    post_form(client, "/admin/services/A/delete", {})
    assert engine.config.service("A") is not None
    assert "Quầy 1 chỉ phục vụ lĩnh vực này" in client.get("/admin/services/A/edit").get_data(as_text=True)


# --- counters ---------------------------------------------------------------------------------

def test_a_manager_changes_a_counters_services_and_weights(login, engine):
    response = post_form(login("manager"), "/admin/counters/2/edit",
                         counter_form(engine, "2", name="Quầy 2 (ưu tiên)", weight_A="", weight_B="3", weight_C="1"))
    assert response.status_code == 302
    counter = engine.config.counter("2")
    assert (counter.name, counter.services) == ("Quầy 2 (ưu tiên)", {"B": 3, "C": 1})
    assert engine.snapshots()[1]["2"]["waiting"] == {"B": 0, "C": 0}


def test_a_new_counter_calls_at_once_and_shows_on_the_overview(login, engine):
    client = login("manager")
    response = post_form(client, "/admin/counters/new", {"id": "4", "name": "Quầy 4", "weight_C": "1"})
    assert response.status_code == 302
    engine.take("t1", "kiosk1", "C")
    assert engine.counter("c1", "4", "next").reply["ticket"]["label"] == "C001"
    counters = client.get("/admin/overview.json").get_json()["counters"]
    assert counters[-1] == {"id": "4", "name": "Quầy 4", "state": "calling", "ticket": "C001", "service": "C",
                            "since": "2026-11-23T09:00:00.000+07:00", "reason": "", "services": ["C"]}


@pytest.mark.parametrize("path, form, field, message", [
    ("/admin/counters/1/edit", {"name": "Quầy 1"}, "services", "Quầy phải phục vụ ít nhất một lĩnh vực"),
    ("/admin/counters/1/edit", {"name": "Quầy 1", "weight_A": "x"}, "weight_A", "Phải là số nguyên từ 0 trở lên"),
    ("/admin/counters/1/edit", {"name": "", "weight_A": "1"}, "name", "Không được để trống"),
    ("/admin/counters/new", {"id": "1", "name": "Quầy 1 bis", "weight_A": "1"}, "id",
     "Mã này đã được dùng cho quầy khác"),
    ("/admin/counters/new", {"id": "quầy 5", "name": "Quầy 5", "weight_A": "1"}, "id", "Từ 1 đến 16 ký tự"),
])
def test_a_bad_counter_value_shows_the_error_next_to_the_field(login, engine, path, form, field, message):
    before = raw_config(engine.config)
    response = post_form(login("manager"), path, form)
    assert response.status_code == 422
    assert message in field_error(response.get_data(as_text=True), field)
    assert raw_config(engine.config) == before


def test_a_counter_holding_a_ticket_cannot_be_deleted_an_idle_one_can(login, engine):
    engine.take("t1", "kiosk1", "A")
    engine.counter("c1", "1", "next")
    client = login("manager")
    post_form(client, "/admin/counters/1/delete", {})
    assert engine.config.counter("1") is not None
    assert "Quầy 1 đang giữ một số" in client.get("/admin/counters/1/edit").get_data(as_text=True)
    assert post_form(client, "/admin/counters/3/delete", {}).headers["Location"] == "/admin/counters"
    assert engine.config.counter("3") is None


# --- the priority policy and the board message -------------------------------------------------

def test_a_manager_sets_the_priority_policy(login, engine):
    form = queue_form(engine, priority="strict", interleave_every="5")
    response = post_form(login("manager"), "/admin/queue", form)
    assert response.status_code == 302
    assert (engine.config.queue.priority, engine.config.queue.interleave_every) == ("strict", 5)


@pytest.mark.parametrize("changes, field, message", [
    ({"interleave_every": "0"}, "interleave_every", "Phải là số nguyên dương"),
    ({"priority": "random"}, "priority", "Hãy chọn một trong các mục có sẵn"),
    ({"no_show_rejoin_min": ""}, "no_show_rejoin_min", "Phải là số nguyên từ 0 trở lên"),
])
def test_a_bad_policy_value_shows_the_error_next_to_the_field(login, engine, changes, field, message):
    form = queue_form(engine, **changes)
    response = post_form(login("manager"), "/admin/queue", form)
    assert response.status_code == 422
    assert message in field_error(response.get_data(as_text=True), field)
    assert engine.config.queue.priority == "interleave"


def queue_form(engine, **changes):
    """The queue policy form as the page fills it, with `changes`."""
    return {**forms.queue_fields(raw_config(engine.config)["queue"]), **changes}


def test_the_queue_page_lists_the_rating_reasons_and_saving_the_policy_keeps_them(login, engine):
    client = login("manager")
    page = client.get("/admin/queue").get_data(as_text=True)
    assert 'name="reason_vi_3" value="Phải bổ sung hồ sơ nhiều lần"' in page
    assert 'name="reason_en_0" value="Long wait"' in page and 'name="reason_vi_7" value=""' in page
    assert post_form(client, "/admin/queue", queue_form(engine, priority="strict")).status_code == 302
    assert engine.config.queue.priority == "strict"
    assert engine.config.queue.reason_texts()[0] == "Chờ lâu" and len(engine.config.queue.rating_reasons) == 5


def test_a_manager_sets_the_elderly_group_and_age_and_a_bad_one_is_shown_at_its_field(login, engine):
    client = login("manager")
    page = client.get("/admin/queue").get_data(as_text=True)
    assert '<option value="CT" selected>CT · Người cao tuổi</option>' in " ".join(page.split())
    assert post_form(client, "/admin/queue", queue_form(engine, elderly_group="", elderly_age="75")).status_code == 302
    assert (engine.config.queue.elderly_group, engine.config.queue.elderly_age) == ("", 75)
    response = post_form(client, "/admin/queue", queue_form(engine, elderly_group="KT", elderly_age="120"))
    assert response.status_code == 422 and engine.config.queue.elderly_age == 75
    assert "50 to 100" in field_error(response.get_data(as_text=True), "elderly_age")


def test_a_manager_edits_the_rating_reasons(login, engine):
    form = queue_form(engine, reason_vi_1="", reason_en_1="", reason_vi_5="Phòng chờ nóng", reason_en_5="Hot room")
    assert post_form(login("manager"), "/admin/queue", form).status_code == 302
    assert engine.config.queue.reason_texts() == ("Chờ lâu", "Thái độ phục vụ", "Phải bổ sung hồ sơ nhiều lần",
                                                  "Khác", "Phòng chờ nóng")
    assert engine.config.queue.rating_reasons[-1] == {"vi": "Phòng chờ nóng", "en": "Hot room"}


@pytest.mark.parametrize("changes, field, message", [
    ({"reason_vi_5": "", "reason_en_5": "Noise"}, "reason_vi_5", "Không được để trống"),
    ({"reason_vi_0": "x" * 61}, "reason_vi_0", "Tối đa 60 ký tự"),
])
def test_a_bad_reason_shows_the_error_next_to_its_field(login, engine, changes, field, message):
    response = post_form(login("manager"), "/admin/queue", queue_form(engine, **changes))
    assert response.status_code == 422
    assert message in field_error(response.get_data(as_text=True), field)
    assert len(engine.config.queue.rating_reasons) == 5


def test_a_reason_listed_twice_is_refused(login, engine):
    response = post_form(login("manager"), "/admin/queue", queue_form(engine, reason_vi_5="chờ lâu"))
    assert response.status_code == 422 and "listed twice" in response.get_data(as_text=True)
    assert len(engine.config.queue.rating_reasons) == 5


def test_the_board_message_is_published_at_once(login, engine):
    response = post_form(login("manager"), "/admin/message", {"message": "Hôm nay làm việc đến 16:00"})
    assert response.status_code == 302
    assert engine.snapshots()[0]["message"] == "Hôm nay làm việc đến 16:00"
    assert "Hôm nay làm việc đến 16:00" in login("manager").get("/admin/message").get_data(as_text=True)


def test_a_too_long_board_message_is_refused(login, engine):
    response = post_form(login("manager"), "/admin/message", {"message": "x" * 201})
    assert response.status_code == 422
    assert "Tối đa 200 ký tự" in field_error(response.get_data(as_text=True), "message")
    assert engine.message == ""


# --- applies without a restart ----------------------------------------------------------------

def test_changes_through_the_web_apply_to_the_running_engine_without_a_restart(login, engine):
    client = login("manager")
    post_form(client, "/admin/services/C/override", {"override": "closed"})
    assert not engine.take("t1", "kiosk1", "C").ok
    post_form(client, "/admin/services/C/override", {"override": "open"})
    post_form(client, "/admin/message", {"message": "Mời bà con giữ trật tự"})
    taken = engine.take("t2", "kiosk1", "C")
    assert taken.ok and taken.reply["ticket"]["label"] == "C001"
    board, _counters = engine.snapshots()
    assert board["message"] == "Mời bà con giữ trật tự"
    assert board["waiting"]["C"] == 1
    assert [e["sections"] for e in config_events(engine)] == [["services"], ["services"], ["message"]]


def test_a_problem_spanning_services_is_shown_above_the_form(login, engine):
    client = login("manager")
    assert post_form(client, "/admin/services/A/edit",
                     service_form(engine, "A", label_format="{number:03d}")).status_code == 302
    response = post_form(client, "/admin/services/B/edit", service_form(engine, "B", label_format="{number:03d}"))
    assert response.status_code == 422
    assert "Lĩnh vực A và B sẽ in trùng số phiếu" in response.get_data(as_text=True)
    assert engine.config.service("B").label_format == "{code}{number:03d}"
