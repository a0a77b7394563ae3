"""The procedure catalogue reaches the screens: retained `procedures/<service>` summaries through a
real mosquitto, from a real SQLite file, after a change on the web."""

from __future__ import annotations

import json
import time

import pytest

from queuebox.protocol_messages import parse_procedures
from server import store, users
from server.catalogue_writes import save, set_hidden
from server.web import create_app
from tests.integration.test_server_mqtt import Client, Server, client, config, server, topics  # noqa: F401
from tests.web import conftest as web
from tests.web.conftest import post_form

BIRTH = {"service": "B", "code": "1.001193", "name_vi": "Đăng ký khai sinh", "fee": "Miễn phí",
         "processing_time": "Trong ngày", "documents": "Tờ khai"}


def summary(client, topics, service, match=lambda body: True, timeout=2.0):
    return client.wait_for(lambda t, b: t == topics.procedures(service) and b is not None and match(b), timeout)


def test_a_fee_edited_on_the_web_reaches_a_subscriber_within_2_s(server, client, topics):
    procedure_id = save(server.engine, "test", BIRTH, on_the_spot=True)
    first = summary(client, topics, "B")
    assert parse_procedures(json.dumps(first)) == first
    assert first["procedures"] == [{"id": procedure_id, "code": "1.001193", "name_vi": "Đăng ký khai sinh",
                                    "name_en": "", "processing_time": "Trong ngày", "fee": "Miễn phí",
                                    "on_the_spot": True}] and first["more"] == 0
    db = store.open_database(server.engine.db_path)
    users.add(db, "manager", web.PASSWORD, "manager", [], server.engine.now())
    db.close()
    app = create_app(server.engine, secret_key="test")
    browser = app.test_client()
    web.log_in(browser, "manager")
    started = time.monotonic()
    response = post_form(browser, f"/admin/procedures/{procedure_id}/edit",
                         {**BIRTH, "fee": "8.000 đồng/bản", "on_the_spot": "1"})
    assert response.status_code == 302
    summary(client, topics, "B", lambda b: b["procedures"][0]["fee"] == "8.000 đồng/bản")
    assert time.monotonic() - started < 2.0


def test_a_service_left_without_visible_procedures_is_cleared(server, broker, client, topics):
    procedure_id = save(server.engine, "test", BIRTH, on_the_spot=False)
    summary(client, topics, "B")
    client.seen.clear()  # the server cleared B once already, when it connected: wait for the clear after this
    set_hidden(server.engine, "test", procedure_id, True)
    client.wait_for(lambda t, b: t == topics.procedures("B") and b is None, 2.0)  # the empty retained payload
    late = Client(broker, [f"{topics.root}/{topics.site}/procedures/+"])
    try:
        with pytest.raises(AssertionError):  # a retained summary would come on subscribing: none does
            late.wait_for(lambda t, b: True, timeout=0.5)
    finally:
        late.close()


def test_a_long_catalogue_is_trimmed_to_the_payload_limit_with_more(server, client, topics):
    for i in range(70):
        save(server.engine, "test", {"service": "A", "name_vi": f"Thủ tục đất đai số {i} " + "dài " * 40},
             on_the_spot=False)
    body = summary(client, topics, "A", lambda b: len(b["procedures"]) + b["more"] == 70, timeout=5)
    assert len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()) <= 4096
    assert body["more"] > 6


def test_the_services_snapshot_carries_the_lookup_address(server, client, topics):
    services = client.wait_for(lambda t, b: t == topics.services())
    assert services["lookup_url"].endswith("/procedures")
