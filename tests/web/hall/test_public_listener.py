"""The public listener (`server.public_listen`): citizens' phones get the ticket status pages
and the procedure lookup, and nothing else; the staff listener keeps everything. Through a real waitress, and through
`queuebox server` as its own process."""

from __future__ import annotations

import pytest

from tests.factories import insert_procedures, make_config
from tests.helpers.hall import WebSession
from tests.helpers.server_process import ServerProcess
from tests.mqtt_broker import free_port
from tests.web.hall.site import site_db




@pytest.mark.parametrize("hall", [{"public_listen": "127.0.0.1"}], indirect=True)
@pytest.mark.parametrize("path", ["/login", "/", "/healthz", "/admin/", "/counter/1", "/counter/1/events",
                                  "/counter/1/rate", "/reports/", "/api/v1/board", "/api/v1/openapi.json",
                                  "/static/counter.js", "/t/../login", "/procedures/../login",
                                  "/static/admin.js", "/voice/pack.json", "/voice/lead.wav", "/admin/voice"])
def test_the_public_listener_answers_404_for_staff_pages(hall, path):
    status, _body = hall.session(public=True).get(path)
    assert status == 404


@pytest.mark.parametrize("hall", [{"public_listen": "127.0.0.1"}], indirect=True)
def test_the_public_listener_serves_the_status_page_and_its_assets(hall):
    public = hall.session(public=True)
    status, page = public.get(hall.status_path)
    assert status == 200 and b"A001" in page
    assert public.get(hall.status_path + ".json")[0] == 200
    for asset in ("app.css", "status.css", "status.js"):
        assert public.get(f"/static/{asset}")[0] == 200, asset
    assert public.get("/t/no-such-token")[0] == 404


@pytest.mark.parametrize("hall", [{"public_listen": "127.0.0.1"}], indirect=True)
def test_the_public_listener_serves_the_procedure_lookup_and_its_stylesheet(hall):
    birth, *_ = insert_procedures(hall.engine.db_path)
    public = hall.session(public=True)
    for path in ("/procedures", "/procedures?q=khai+sinh&lang=en", "/procedures/field/B", f"/procedures/{birth}",
                 "/static/lookup.css", "/static/favicon.svg"):
        status, _body = public.get(path)
        assert status == 200, path
    status, page = public.get(f"/procedures/{birth}")
    assert "Đăng ký khai sinh".encode() in page
    status, page = public.get("/procedures/no/such/page")
    assert status == 404 and "không có trong danh mục".encode() in page  # the lookup's own 404
    assert public.cookies == {}  # no page of it sets a cookie


@pytest.mark.parametrize("hall", [{"public_listen": "127.0.0.1"}], indirect=True)
def test_the_staff_listener_keeps_every_page(hall):
    staff = hall.session()
    assert staff.get("/login")[0] == 200
    assert staff.get(hall.status_path)[0] == 200
    assert staff.get("/static/counter.js")[0] == 200


def test_the_server_process_opens_the_public_listener(broker, mqtt_root, tmp_path):
    public_port = free_port()
    config = make_config(mqtt={"host": broker.host, "port": broker.port, "root": mqtt_root},
                         database={"path": str(tmp_path / "q.db")},
                         server={"public_listen": "127.0.0.1", "public_port": public_port})
    status_path = site_db(tmp_path / "q.db", config)
    server = ServerProcess(config, tmp_path / "server").start()
    try:
        public = WebSession(public_port)
        assert public.get(status_path)[0] == 200
        assert public.get("/login")[0] == 404
        assert WebSession(server.port).get("/login")[0] == 200
    finally:
        server.stop()
