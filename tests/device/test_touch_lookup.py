"""The touch kiosk's procedure lookup through a real Mosquitto, the server's engine and MQTT
bridge, and its web on a real waitress: the `procedures/<service>` summary browsed, the
procedure's documents fetched from `GET /procedures/<id>.json` and printed as a checklist; a
server whose web does not answer leaves the screen saying so."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from device.checklist import compose_checklist
from device.ticket import SiteText, TicketRenderer, missing_glyphs, texts
from server import catalogue_writes, httpd
from server.web import create_app
from tests.device.touch_rig import TouchRig
from tests.factories import FakeClock, make_config
from tests.integration.test_server_mqtt import Server
from tests.mqtt_broker import free_port

DOCUMENTS = "Tờ khai đăng ký khai sinh\nGiấy chứng sinh (bản chính)\nVăn bản ủy quyền có chứng thực, nếu có"
VALUES = {"service": "B", "code": "1.001193", "name_vi": "Đăng ký khai sinh", "name_en": "Birth registration",
          "documents": DOCUMENTS, "processing_time": "Trong ngày", "fee": "Miễn phí",
          "result_place": "Bộ phận Một cửa", "portal_url": "https://dichvucong.gov.vn/p/1.001193"}
# every letter with every tone: what a checklist may have to print
TONES = "aăâeêioôơuưy AĂÂEÊIOÔƠUƯY đĐ " + " ".join(
    "".join(c + m for c in "aăâeêioôơuưyAĂÂEÊIOÔƠUƯY") for m in ("\u0300", "\u0301", "\u0303", "\u0309", "\u0323"))


@pytest.fixture
def web_port():
    return free_port()


@pytest.fixture
def config(broker, mqtt_root, web_port):
    return make_config(mqtt={"host": broker.host, "port": broker.port, "root": mqtt_root},
                       server={"public_url": f"http://127.0.0.1:{web_port}"},
                       kiosk={"id": "kiosk1", "screen": "touch", "retry_every_s": 0.3},
                       printer={"kind": "dummy", "paper_width_mm": 80})


@pytest.fixture
def server(config, tmp_path, web_port):
    s = Server(config, tmp_path / "q.db", FakeClock())
    listener = httpd.staff_listener(create_app(s.engine, secret_key="test"), config.server, "127.0.0.1", web_port)
    thread = threading.Thread(target=listener.run, daemon=True)
    thread.start()
    s.procedure_id = catalogue_writes.save(s.engine, "manager", VALUES, on_the_spot=True)
    yield s
    listener.close()
    thread.join(10)
    s.stop()


def open_procedure(rig: TouchRig, procedure_id: int) -> None:
    rig.run_until(lambda: "B" in rig.screen.model.state.procedures, what="the procedures/B summary")
    for name in ("lookup", "field:B", f"procedure:{procedure_id}"):
        rig.tap(name)


def test_a_procedure_opened_on_the_screen_prints_its_checklist_of_documents(config, server, mock_factory, dejavu):
    rig = TouchRig(config, mock_factory, dejavu)
    try:
        rig.ready()
        open_procedure(rig, server.procedure_id)
        rig.run_until(lambda: rig.screen.model.state.detail_status == "ok", what="the documents fetched")
        rig.settle(0.1)
        shown = " ".join(line.text for line in rig.widget("documents").lines)
        assert "Giấy chứng sinh (bản chính)" in shown and rig.screen.problems == []
        rig.tap("checklist")
        rig.run_until(lambda: rig.screen.model.state.checklist == "printed", what="the checklist printed")
        (job,) = rig.jobs()
        assert job.qr_data == [VALUES["portal_url"]] and job.cuts == 1 and job.rasters
    finally:
        rig.stop()


def test_when_the_servers_web_does_not_answer_the_screen_says_the_checklist_cannot_be_printed(
        config, server, mock_factory, dejavu):
    unreachable = dataclasses.replace(config, server=dataclasses.replace(config.server,
                                                                         public_url=f"http://127.0.0.1:{free_port()}"))
    rig = TouchRig(unreachable, mock_factory, dejavu)
    try:
        rig.ready()
        open_procedure(rig, server.procedure_id)
        rig.run_until(lambda: rig.screen.model.state.detail_status == "failed", what="the fetch failing")
        rig.settle(0.1)
        assert "Hiện chưa in được danh sách giấy tờ" in rig.widget("documents").lines[0].text
        assert not rig.widget("checklist").enabled
        assert any("Miễn phí" in line.text for w in rig.screen.widgets for line in w.lines)  # the summary still shows
    finally:
        rig.stop()


def test_every_vietnamese_tone_of_a_checklist_has_a_glyph_in_the_ticket_fonts(font_family):
    detail = {"id": 1, "name_vi": TONES, "documents": [TONES, "Giấy tờ"], "fee": TONES, "code": "1.0"}
    renderer = TicketRenderer(font_family, 576)
    blocks = compose_checklist(detail, SiteText("Bộ phận Một cửa"))
    lost = {(style, ch) for style, text in texts(blocks)
            for ch in missing_glyphs(renderer.font(style, 26), text)}
    assert lost == set()
    assert renderer.draw(blocks).mode == "1"
