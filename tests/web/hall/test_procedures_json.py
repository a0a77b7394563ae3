"""`GET /procedures/<id>.json` through a real waitress: a procedure's details for the touch
kiosk's checklist, on the public listener too; hidden or unknown is 404; no cookie."""

from __future__ import annotations

import json

import pytest

from server import catalogue_writes

VALUES = {"service": "B", "code": "1.001193", "name_vi": "Đăng ký khai sinh", "name_en": "Birth registration",
          "documents": "Tờ khai đăng ký khai sinh\nGiấy chứng sinh bản chính", "processing_time": "Trong ngày",
          "fee": "Miễn phí", "result_place": "Bộ phận Một cửa", "portal_url": "https://dichvucong.gov.vn/p/1.001193"}


def add(hall, **changes):
    return catalogue_writes.save(hall.engine, "manager", {**VALUES, **changes}, on_the_spot=True)


@pytest.mark.parametrize("hall", [{"public_listen": "127.0.0.1"}], indirect=True)
def test_a_procedure_is_served_as_json_on_the_public_listener_without_a_cookie(hall):
    procedure_id = add(hall)
    status, headers, body = hall.session(public=True).request("GET", f"/procedures/{procedure_id}.json")
    assert status == 200
    assert json.loads(body) == {
        "id": procedure_id, "code": "1.001193", "service": "B", "name_vi": "Đăng ký khai sinh",
        "name_en": "Birth registration", "documents": ["Tờ khai đăng ký khai sinh", "Giấy chứng sinh bản chính"],
        "processing_time": "Trong ngày", "fee": "Miễn phí", "result_place": "Bộ phận Một cửa",
        "portal_url": "https://dichvucong.gov.vn/p/1.001193", "on_the_spot": True}
    assert not [h for h in dict(headers) if h.lower() == "set-cookie"]


@pytest.mark.parametrize("hall", [{"public_listen": "127.0.0.1"}], indirect=True)
def test_a_hidden_or_unknown_procedure_is_404_on_both_listeners(hall):
    hidden = add(hall)
    catalogue_writes.set_hidden(hall.engine, "manager", hidden, True)
    for session in (hall.session(public=True), hall.session()):
        assert session.get(f"/procedures/{hidden}.json")[0] == 404
        assert session.get(f"/procedures/{hidden + 1}.json")[0] == 404
        assert session.get("/procedures/x.json")[0] == 404
