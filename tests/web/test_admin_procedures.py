"""The procedure catalogue in the web administration: list by field, add, edit, hide, move,
import and export, with CSRF, roles, messages next to the fields and one event per change."""

from __future__ import annotations

import io
import json
from pathlib import Path

import openpyxl
import pytest

from server.catalogue_files import read_catalogue, to_csv
from server.catalogue_store import load_procedures
from server.web.surfaces import MAX_UPLOAD_BODY
from tests.web.conftest import csrf_token, post_form

EXAMPLE = Path(__file__).parents[2] / "config" / "procedures.example.csv"
BIRTH = {"service": "B", "code": "1.001193", "name_vi": "Đăng ký khai sinh", "name_en": "Birth registration",
         "documents": "Tờ khai\nGiấy chứng sinh", "processing_time": "Trong ngày", "fee": "Miễn phí",
         "result_place": "Bộ phận Một cửa", "portal_url": "", "on_the_spot": "1"}


def catalogue(engine):
    return engine.read(lambda conn: load_procedures(conn, include_hidden=True))


def upload(client, data: bytes, name: str = "list.csv"):
    """POST the file as a browser does (the body built here: the test client spools big ones to a file
    it never closes)."""
    boundary = "----queuebox-test"
    token = csrf_token(client, "/admin/procedures")
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return client.post("/admin/procedures/import", input_stream=io.BytesIO(body), content_length=len(body),
                       content_type=f"multipart/form-data; boundary={boundary}")


def test_clerks_may_not_and_managers_see_the_link(login, client):
    login("clerk1")
    assert client.get("/admin/procedures").status_code == 403
    client.get("/logout")
    login("manager")
    page = client.get("/admin/procedures").get_data(as_text=True)
    assert 'href="/admin/procedures"' in page and "Thủ tục" in page


def test_add_then_edit_a_fee(login, engine):
    client = login("manager")
    assert post_form(client, "/admin/procedures/new", BIRTH).status_code == 302
    [p] = catalogue(engine)
    assert (p.name_vi, p.documents, p.on_the_spot) == ("Đăng ký khai sinh", ("Tờ khai", "Giấy chứng sinh"), True)
    assert post_form(client, f"/admin/procedures/{p.id}/edit", {**BIRTH, "fee": "8.000 đồng/bản"}).status_code == 302
    assert catalogue(engine)[0].fee == "8.000 đồng/bản"
    page = client.get("/admin/procedures").get_data(as_text=True)
    assert "8.000 đồng/bản" in page and "1 thủ tục" in page


def test_bad_fields_are_marked_and_nothing_is_saved(login, engine):
    client = login("manager")
    response = post_form(client, "/admin/procedures/new", {**BIRTH, "name_vi": "", "portal_url": "javascript:x",
                                                            "fee": "x" * 301})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Không được để trống" in page and "bắt đầu bằng http:// hoặc https://" in page
    assert "Tối đa 300 ký tự (đang có 301)" in page
    assert catalogue(engine) == []


def test_a_form_without_csrf_is_refused(login, engine):
    client = login("manager")
    assert client.post("/admin/procedures/new", data=BIRTH).status_code == 400
    assert catalogue(engine) == []


def test_hide_and_move_buttons(login, engine):
    client = login("manager")
    for name in ("Một", "Hai"):
        post_form(client, "/admin/procedures/new", {**BIRTH, "code": "", "name_vi": name})
    first, second = catalogue(engine)
    post_form(client, f"/admin/procedures/{second.id}/up", {})
    post_form(client, f"/admin/procedures/{first.id}/hide", {})
    assert [(p.name_vi, p.hidden) for p in catalogue(engine)] == [("Hai", False), ("Một", True)]
    assert post_form(client, "/admin/procedures/999/hide", {}).status_code == 404
    rows = engine.read(lambda c: c.execute("SELECT actor, data FROM events WHERE type = 'catalogue_changed'").fetchall())
    assert [json.loads(d)["action"] for _a, d in rows] == ["add", "add", "move", "hide"]
    assert {a for a, _d in rows} == {"web/manager"}


def test_import_the_example_then_export_xlsx_gives_it_back(login, engine):
    """The test centre has fields A to C: the example's procedures of those fields."""
    example = [p for p in read_catalogue(EXAMPLE.read_bytes(), list("ABCDE")) if p.service in "ABC"]
    client = login("manager")
    response = upload(client, to_csv(example), "danh-sach.xlsx")  # a CSV named .xlsx: told by content
    assert response.status_code == 302
    assert len(catalogue(engine)) == len(example) == 27
    exported = client.get("/admin/procedures/export.xlsx")
    assert exported.headers["Content-Disposition"] == "attachment; filename=procedures.xlsx"
    assert read_catalogue(exported.data, list("ABC")) == sorted(example, key=lambda p: p.service)


def test_a_bad_file_lists_every_problem_in_vietnamese_and_imports_nothing(login, engine):
    client = login("manager")
    post_form(client, "/admin/procedures/new", BIRTH)
    book = openpyxl.Workbook()
    for row in (["Lĩnh vực", "Tên thủ tục", "Phí, lệ phí"], ["Q", "Thủ tục", "1"], ["A", "Khác", "=2*3"]):
        book.active.append(row)
    data = io.BytesIO()
    book.save(data)
    response = upload(client, data.getvalue(), "list.csv")  # an XLSX named .csv
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Dòng 2, Lĩnh vực: Q không phải mã của lĩnh vực nào" in page
    assert "Dòng 3, Phí, lệ phí: Là công thức bảng tính" in page
    assert [p.name_vi for p in catalogue(engine)] == ["Đăng ký khai sinh"]


def test_a_png_named_csv_is_refused_on_the_page(login, engine):
    client = login("manager")
    page = upload(client, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 100, "list.csv").get_data(as_text=True)
    assert "không phải CSV hay XLSX" in page and catalogue(engine) == []


@pytest.mark.parametrize("size", [3 * 1024 * 1024, 5 * 1024 * 1024, MAX_UPLOAD_BODY + 1024])
def test_a_file_over_2_mb_is_refused_with_a_clear_message(login, engine, size):
    client = login("manager")
    response = upload(client, b"Linh vuc,Ten thu tuc\n" + b"A,x\n" * (size // 4))
    assert response.status_code == 422
    assert "2 MB" in response.get_data(as_text=True) and catalogue(engine) == []


def test_the_web_words_every_catalogue_problem_with_the_same_placeholders():
    """The command line's English (server.catalogue_rules) and the web's texts name the same problems."""
    import re

    from server import catalogue_rules
    from server.web import admin_procedures

    def placeholders(text: str) -> set[str]:
        return set(re.findall(r"%\((\w+)\)s", text))

    assert catalogue_rules.MESSAGES.keys() == admin_procedures.MESSAGES.keys()
    for code, text in catalogue_rules.MESSAGES.items():
        assert placeholders(text) == placeholders(admin_procedures.MESSAGES[code]), code
