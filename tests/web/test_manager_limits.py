"""What a manager's input may cost, through the real web server (waitress on a socket):

- a CSV export never carries a live spreadsheet formula (a counter named "=HYPERLINK(…)");
- a label format cannot take its width from the number ({number:{number}}), which would build
  a string of hundreds of MB;
- a report covers at most a year, and the last days of the calendar give a page, not a 500.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from server import store
from server.engine import Engine
from server.reports import MAX_PERIOD_DAYS
from server.web import create_app
from tests.factories import FakeClock, make_config
from tests.web.http_client import Device
from tests.web.browser import LiveServer
from tests.web.conftest import PASSWORD

FORMULA = '=HYPERLINK("http://evil.example/","Bấm vào đây")'
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def served(tmp_path: Any) -> Any:
    """A real waitress serving a centre whose counter 2 is named like a formula, one ticket served there."""
    clock = FakeClock()
    counters = [{"id": "1", "name": "Quầy 1", "services": {"A": 1}},
                {"id": "2", "name": FORMULA[:40], "services": {"A": 1}}]
    engine = Engine(make_config(counters=counters, kiosk={"buttons": {"A": 5, "B": 6, "C": 13}}), tmp_path / "web.db",
                    clock=clock)
    db = store.open_database(engine.db_path)
    from server import users
    users.add(db, "manager", PASSWORD, "manager", [], clock())
    db.close()
    engine.take("t1", "kiosk1", "A")
    engine.counter("c1", "2", "next")
    clock.advance(minutes=5)
    engine.counter("c2", "2", "done")
    app = create_app(engine, secret_key="test secret")
    with LiveServer(app) as server:
        browser = Device(server.url)
        assert browser.log_in("manager", PASSWORD).status == 302
        yield browser, clock
    engine.close()


def test_a_csv_export_never_carries_a_live_formula(served):
    browser, clock = served
    day = clock().date().isoformat()
    reply = browser.get(f"/reports/export.csv?table=counter&from={day}&lang=en")
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(reply.text.lstrip("\ufeff"))))
    names = [row[1] for row in rows[1:]]
    assert "'" + FORMULA[:40] in names, rows
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row), rows


@pytest.mark.parametrize("label_format", ["{number:{number}{number}}", "{code}{number:0{number}}", "{code.__class__}"])
def test_a_label_format_that_builds_its_width_from_the_number_is_refused(served, label_format):
    browser, _ = served
    form = {"code": "A", "name_vi": "Đất đai", "name_en": "Land", "number_start": "1", "number_end": "999999",
            "label_format": label_format, "daily_limit": "0", "target_wait_min": "15", "service_min": "10",
            "override": "open", "open_days": "mon", "hours": ""}
    started = time.monotonic()
    reply = browser.post_form("/admin/services/A/edit", form, page="/admin/services/A/edit")
    page = reply.text
    assert time.monotonic() - started < 5
    assert reply.status == 422, page[:500]
    assert "label_format" in page or "Mẫu số" in page or "format" in page
    assert "{code}{number:03d}" in browser.get("/admin/services/A/edit").text  # nothing was saved


@pytest.mark.parametrize("query, message", [
    ("period=range&date=3334-01-01&to=6665-12-31", f"tối đa {MAX_PERIOD_DAYS} ngày"),
    ("period=range&date=2025-01-01&to=2026-01-02", f"tối đa {MAX_PERIOD_DAYS} ngày"),
    ("period=week&date=9999-12-31", "quá xa trong tương lai"),
])
def test_reports_refuse_periods_too_long_or_past_the_calendar_quickly(served, query, message):
    browser, _ = served
    started = time.monotonic()
    reply = browser.get(f"/reports/?{query}")
    assert time.monotonic() - started < 2
    assert reply.status == 400 and message in reply.text, reply.text[:800]


@pytest.mark.parametrize("query", ["period=day&date=9999-12-31", "period=month&date=9999-12-31",
                                   "period=day&date=0001-01-01", "period=range&date=2025-01-01&to=2025-12-31"])
def test_the_calendars_last_and_first_days_and_a_whole_year_give_a_page(served, query):
    browser, _ = served
    reply = browser.get(f"/reports/?{query}")
    assert reply.status == 200, reply.text[:800]


def test_a_csv_export_longer_than_a_year_is_refused_with_a_reason(served):
    browser, _ = served
    reply = browser.get("/reports/export.csv?table=day&from=2000-01-01&to=2999-12-31")
    assert reply.status == 400 and f"at most {MAX_PERIOD_DAYS}" in reply.text


def test_the_report_command_refuses_a_period_longer_than_a_year(tmp_path):
    engine = Engine(make_config(), tmp_path / "q.db", clock=FakeClock())
    engine.close()
    done = subprocess.run([sys.executable, "-m", "queuebox.cli", "report", "--database", str(tmp_path / "q.db"),
                           "--from", "2020-01-01", "--to", "2030-01-01", "--config", str(ROOT / "config/queuebox.example.toml")],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 2 and f"at most {MAX_PERIOD_DAYS}" in done.stderr, done.stderr


def test_a_service_no_kiosk_button_gives_tickets_for_is_pointed_out(served):
    browser, _ = served
    form = {"code": "F", "name_vi": "Trả kết quả", "name_en": "Results", "number_start": "1", "number_end": "999",
            "label_format": "{code}{number:03d}", "daily_limit": "0", "target_wait_min": "15", "service_min": "10",
            "override": "open", "open_days": ["mon", "tue"], "hours": ""}
    assert browser.post_form("/admin/services/new", form, page="/admin/services/new").status == 302
    page = browser.get("/admin/services").text
    assert 'data-service="F"' in page, page[:1000]
    row = page.split('data-service="F"')[1].split("</tr>")[0]
    assert "Chưa có nút nào của máy lấy số kiosk1 cấp số cho F" in row
    assert "no-button" not in page.split('data-service="A"')[1].split("</tr>")[0]


@pytest.mark.parametrize("path, field, limit", [("/admin/counters/new", "name", 40), ("/admin/counters/new", "id", 16),
                                                ("/admin/services/new", "name_vi", 80), ("/admin/message", "message", 200)])
def test_text_fields_say_their_limit_to_the_browser(served, path, field, limit):
    browser, _ = served
    reply = browser.get(path)
    page = reply.text
    assert reply.status == 200
    tag = page.split(f'name="{field}"')[1].split(">")[0]
    assert f'maxlength="{limit}"' in tag, tag
