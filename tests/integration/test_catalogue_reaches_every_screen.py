"""A manager imports the province's list on the web, corrects a fee, and sees it on the board's
slide and on a phone's lookup page within seconds: the web, the engine, a real Mosquitto and the
display app as `queuebox display` wires them (drawing off-screen)."""

from __future__ import annotations

import dataclasses
import io
import re
import time

from server import store, users
from server.catalogue_store import load_procedures
from server.web import create_app
from tests.display.test_app_mqtt import Display, fonts  # noqa: F401 (fixture)
from tests.integration.test_server_mqtt import config, server  # noqa: F401 (fixtures)
from tests.web import conftest as web

PROVINCE_LIST = (
    "Mã thủ tục;Lĩnh vực;Tên thủ tục;Thành phần hồ sơ;Thời hạn giải quyết;Phí, lệ phí;Giải quyết ngay\n"
    '1.001193;B;Đăng ký khai sinh;"Tờ khai\nGiấy chứng sinh";Trong ngày;Miễn phí;Có\n'
    "2.000815;B;Chứng thực bản sao từ bản chính;Bản chính;Trong ngày;2.000 đồng/trang;Có\n"
    "1.003554;A;Đăng ký biến động quyền sử dụng đất;Đơn đăng ký biến động;10 ngày làm việc;"
    "Theo biểu phí của tỉnh;Không\n").encode("utf-8")


def upload(browser, data: bytes) -> int:
    token = web.csrf_token(browser, "/admin/procedures")
    return browser.post("/admin/procedures/import", content_type="multipart/form-data",
                        data={"csrf_token": token, "file": (io.BytesIO(data), "danh-muc.csv")}).status_code


def test_an_imported_list_and_a_corrected_fee_reach_the_board_and_the_phone(config, server, fonts):  # noqa: F811
    db = store.open_database(server.engine.db_path)
    users.add(db, "manager", web.PASSWORD, "manager", [], server.engine.now())
    db.close()
    browser = create_app(server.engine, secret_key="test").test_client()
    phone = create_app(server.engine, secret_key="test").test_client()
    web.log_in(browser, "manager")
    board = Display(dataclasses.replace(config, display=dataclasses.replace(
        config.display, slides=("procedures",), slide_s=4)), fonts)
    try:
        assert upload(browser, PROVINCE_LIST) in (302, 303)
        board.run_until(lambda: board.shows("procedures.0.name", "Đăng ký khai sinh")
                        or board.shows("procedures.1.fee", "2.000 đồng/trang"),
                        "the imported procedures of field B", timeout=10)

        copy = next(p for p in server.engine.read(load_procedures) if p.code == "2.000815")
        started = time.monotonic()
        form = {"service": "B", "code": copy.code, "name_vi": copy.name_vi, "documents": "\n".join(copy.documents),
                "processing_time": copy.processing_time, "fee": "3.000 đồng/trang", "on_the_spot": "1"}
        assert web.post_form(browser, f"/admin/procedures/{copy.id}/edit", form).status_code == 302
        def board_knows() -> bool:
            field = board.app.sources.field("B")
            return field is not None and any(p.fee == "3.000 đồng/trang" for p in field.procedures)

        board.run_until(board_knows, "the corrected fee in what the board shows", timeout=5)
        on_board_s = time.monotonic() - started
        # drawn when field B's slide comes round (the slides turn every slide_s between A and B)
        board.run_until(lambda: "3.000 đồng/trang" in " ".join(board.app.drawn.texts()),  # maybe on 2 lines
                        "the corrected fee on field B's slide", timeout=3 * 4 + 5)
        page = phone.get(f"/procedures/{copy.id}").get_data(as_text=True)
        assert "3.000 đồng/trang" in page and "2.000 đồng/trang" not in page
        field = phone.get("/procedures/field/B").get_data(as_text=True)
        assert re.search(r"3\.000 đồng/trang", field)
        assert on_board_s < 2.0, on_board_s  # a fee corrected on the web is on the board within seconds
    finally:
        board.stop()
