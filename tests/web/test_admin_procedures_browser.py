"""A manager in real Chromium: imports a list with a mistake and reads why, imports the right one,
changes a fee and hides a procedure."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from server.catalogue_files import read_catalogue, to_csv
from server.catalogue_store import load_procedures
from tests.web.browser import screenshot
from tests.web.test_admin_browser import log_in

EXAMPLE = Path(__file__).parents[2] / "config" / "procedures.example.csv"


def test_a_manager_imports_the_list_and_changes_a_fee(page, live_server, engine, tmp_path):
    example = [p for p in read_catalogue(EXAMPLE.read_bytes(), list("ABCDE")) if p.service in "ABC"]
    bad = tmp_path / "sai.csv"
    bad.write_bytes(to_csv(example).replace(b",C,", b",Q,", 1))
    good = tmp_path / "danh-muc.csv"
    good.write_bytes(to_csv(example))
    log_in(page, live_server.url)
    page.click("nav.admin-nav >> text=Thủ tục")
    page.once("dialog", lambda dialog: dialog.accept())
    page.set_input_files("#f-file", str(bad))
    page.click("button >> text=Nhập")
    expect(page.locator(".flash.error")).to_contain_text("Q không phải mã của lĩnh vực nào")
    screenshot(page, "admin-procedures-import-error")
    assert engine.read(load_procedures) == []

    page.once("dialog", lambda dialog: dialog.accept())
    page.set_input_files("#f-file", str(good))
    page.click("button >> text=Nhập")
    expect(page.locator(".flash").first).to_contain_text(f"Đã nhập {len(example)} thủ tục")
    expect(page.locator("#field-B h2")).to_contain_text("12 thủ tục")
    birth = next(p for p in engine.read(load_procedures) if p.code == "1.001193")
    page.click(f"#procedure-{birth.id} >> text=Sửa")
    page.fill("#f-fee", "Miễn phí (đúng hạn); quá hạn 8.000 đồng")
    page.click("button.primary >> text=Lưu")
    expect(page.locator(f"#procedure-{birth.id}")).to_contain_text("quá hạn 8.000 đồng")
    page.click(f"#procedure-{birth.id} >> text=Ẩn")
    expect(page.locator(f"#procedure-{birth.id}")).to_contain_text("Đã ẩn")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.locator("#field-B").scroll_into_view_if_needed()
    screenshot(page, "admin-procedures")
    page.goto(f"{live_server.url}/admin/procedures/{birth.id}/edit")
    screenshot(page, "admin-procedure-form")
    assert [p.fee for p in engine.read(lambda c: load_procedures(c, include_hidden=True)) if p.id == birth.id] == [
        "Miễn phí (đúng hạn); quá hạn 8.000 đồng"]
