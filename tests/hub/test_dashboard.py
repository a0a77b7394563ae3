"""The province dashboard over a real PostgreSQL holding three centres (tests/hub/province.py):
login and roles, CSRF, cookies and headers, the overview (faults, red past target, order, its
poll), a centre's page, and the month report, equal to the centres' own figures, on the page
and in CSV and XLSX, with the reasons given with poor ratings."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import replace
from typing import Any

from collections import Counter as Tally
from html import unescape

import psycopg
import pytest
from openpyxl import load_workbook

from hub.store import province_reports, save_live
from server.reports import Period, open_readonly, reason_counts, reports
from tests.hub.province import PASSWORD, TODAY

MONTH = Period.month(TODAY)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or \
        re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html[:300]
    return match.group(1)


def log_in(client: Any, login: str, password: str = PASSWORD) -> Any:
    token = csrf_of(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"login": login, "password": password, "csrf_token": token})


def text(response: Any) -> str:
    return response.get_data(as_text=True)


def own_report(centre: Any, period: Period, by: str = "service") -> Any:
    db = open_readonly(centre.path)
    try:
        return reports(db, period, by)[by]  # type: ignore[arg-type]
    finally:
        db.close()


def own_reasons(centre: Any, period: Period) -> Any:
    db = open_readonly(centre.path)
    try:
        return reason_counts(db, period, "service")
    finally:
        db.close()


@pytest.fixture
def viewer(dashboard: Any) -> Any:
    client = dashboard.test_client()
    assert log_in(client, "xem").status_code == 302
    return client


# --- login, roles, CSRF ---------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/overview", "/overview/rows", "/centre/xa-an-phu", "/reports",
                                  "/reports/export.csv", "/accounts"])
def test_every_page_needs_a_login(dashboard, path):
    response = dashboard.test_client().get(path)
    assert response.status_code == 302 and "/login?next=" in response.headers["Location"]


def test_a_viewer_reads_the_dashboard_but_only_an_admin_sees_the_accounts(dashboard, viewer):
    assert viewer.get("/overview").status_code == 200
    assert viewer.get("/accounts").status_code == 403
    admin = dashboard.test_client()
    log_in(admin, "tinh")
    page = admin.get("/accounts?lang=en")
    assert page.status_code == 200 and "Province viewer" in text(page) and "Province administrator" in text(page)


def test_a_wrong_password_is_refused_in_vietnamese_and_guesses_are_throttled(dashboard):
    client = dashboard.test_client()
    first = log_in(client, "xem", "not the password")
    assert first.status_code == 401 and "Sai tên đăng nhập hoặc mật khẩu." in text(first)
    answers = [text(log_in(client, "xem", "not the password")) for _ in range(4)]
    assert "Đăng nhập sai quá nhiều lần từ thiết bị này" in answers[-1]
    # blocked now even with the right password, before any hash
    assert log_in(client, "xem").status_code == 401


def test_a_login_without_its_csrf_token_is_refused(dashboard):
    response = dashboard.test_client().post("/login", data={"login": "xem", "password": PASSWORD})
    assert response.status_code == 400 and "Biểu mẫu đã hết hạn" in text(response)


def test_the_session_cookie_is_httponly_and_samesite_and_pages_carry_the_centres_csp(dashboard):
    client = dashboard.test_client()
    response = log_in(client, "xem")
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("queuebox_hub_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = client.get("/overview")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"


def test_logging_out_ends_the_accounts_sessions_on_every_device(dashboard):
    phone, desk = dashboard.test_client(), dashboard.test_client()
    log_in(phone, "xem")
    log_in(desk, "xem")
    page = desk.get("/overview")
    desk.post("/logout", data={"csrf_token": csrf_of(text(page))})
    assert phone.get("/overview").status_code == 302


# --- the overview ---------------------------------------------------------------------------

def rows_of(html: str) -> dict[str, str]:
    return {m.group(1): m.group(0) for m in re.finditer(r'<tr class="\w+" data-centre="([^"]+)">.*?</tr>', html, re.S)}


def test_the_overview_shows_every_centre_live_with_its_faults_and_waits_past_target_in_red(viewer, province_centres):
    html = text(viewer.get("/overview"))
    rows = rows_of(html)
    assert list(rows) == ["phuong-ben-thanh", "xa-tan-thanh", "xa-an-phu"]  # most waiting first
    busy = rows["phuong-ben-thanh"]
    assert "máy in hết giấy (kiosk-k1)" in busy and "Trực tuyến" in busy
    assert re.search(r'<td class="num">14</td>\s*<td class="num late">\d+ phút</td>', busy)
    quiet = rows["xa-an-phu"]
    assert "late" not in quiet and "fault" not in quiet.replace('class="faults"', "")
    silent = rows["xa-tan-thanh"]
    assert 'class="offline"' in silent and "Liên lạc lần cuối" in silent
    assert "thiết bị mất kết nối (display-d1)" in silent
    for centre in province_centres:  # served today: the live summary agrees with the centre's own report
        served = own_report(centre, Period.day(TODAY)).totals.served
        assert re.search(rf'<td class="num">{served}</td>\s*<td class="num">\d+ %</td>', rows[centre.id])


@pytest.mark.parametrize("sort, order", [
    ("waiting", ["phuong-ben-thanh", "xa-tan-thanh", "xa-an-phu"]),  # 14, 5, 0 waiting
    ("longest", ["phuong-ben-thanh", "xa-tan-thanh", "xa-an-phu"]),  # the same longest wait: by id; none last
    ("centre", ["phuong-ben-thanh", "xa-an-phu", "xa-tan-thanh"]),
    ("nonsense", ["phuong-ben-thanh", "xa-tan-thanh", "xa-an-phu"]),  # the default: waiting
])
def test_the_overview_sorts(viewer, sort, order):
    assert list(rows_of(text(viewer.get(f"/overview?sort={sort}")))) == order


def test_sorting_by_satisfaction_puts_the_least_satisfied_first(viewer):
    html = text(viewer.get("/overview?sort=satisfaction&lang=en"))
    shares = [int(s) for s in re.findall(r'<td class="num">(\d+) %</td>', html)]
    assert len(shares) == 3 and shares == sorted(shares)


def test_the_overviews_poll_shows_a_new_live_summary(viewer, province_dsn):
    with psycopg.connect(province_dsn, autocommit=True) as conn:
        save_live(conn, "xa-an-phu", {"day": TODAY.isoformat(), "counters_open": 2, "waiting": 41,
                                      "longest_wait_s": 3000, "services": [{"code": "A", "waiting": 41,
                                      "longest_wait_s": 3000, "target_wait_s": 1200, "over_target": True}],
                                      "served_today": 7, "rated_today": 0, "satisfied_pct": None,
                                      "faults": {"kiosk-k2": "fault write_failed: cannot write"}})
    rows = rows_of(text(viewer.get("/overview/rows?sort=waiting")))
    assert next(iter(rows)) == "xa-an-phu"
    assert '<td class="num late">50 phút</td>' in rows["xa-an-phu"]
    assert "máy in không in được (kiosk-k2)" in rows["xa-an-phu"]


# --- a centre -------------------------------------------------------------------------------

def test_a_centres_page_shows_its_live_board_and_todays_figures(viewer, province_centres):
    centre = province_centres[0]
    html = text(viewer.get(f"/centre/{centre.id}?lang=en"))
    assert "Live board" in html and "A · Đất đai" in html and "printer out of paper (kiosk-k1)" in html
    own = own_report(centre, Period.day(TODAY)).totals
    assert re.search(rf'<th scope="row">Total</th>\s*<td class="num">{own.issued}</td><td class="num">{own.served}</td>',
                     html)
    assert viewer.get("/centre/nobody").status_code == 404


# --- the month ------------------------------------------------------------------------------

def test_the_month_by_centre_equals_each_centres_own_report(province_dsn, province_centres):
    with psycopg.connect(province_dsn) as conn:
        by_centre = province_reports(conn, MONTH, "centre")["centre"]
    assert [f.key for f in by_centre.rows] == sorted(c.id for c in province_centres)
    for centre, row in zip(sorted(province_centres, key=lambda c: c.id), by_centre.rows):
        own = own_report(centre, MONTH).totals
        assert own.issued > 200 and own.rated > 50
        assert row == replace(own, key=centre.id)
    assert by_centre.totals.issued == sum(r.issued for r in by_centre.rows)


def test_the_month_by_field_counts_every_centres_tickets_of_that_field(province_dsn, province_centres):
    with psycopg.connect(province_dsn) as conn:
        by_field = province_reports(conn, MONTH, "service")["service"]
    for row in by_field.rows:
        assert row.issued == sum(next((f.issued for f in own_report(c, MONTH).rows if f.key == row.key), 0)
                                 for c in province_centres)
    assert by_field.name("A") == "A · Đất đai"


def test_the_report_page_has_the_table_and_charts(viewer, province_centres):
    html = text(viewer.get("/reports?month=2026-11&by=centre"))
    assert "Báo cáo tháng 11/2026 — Toàn tỉnh" in html and "Trung tâm (xã, phường)" in html
    assert html.count("<svg") == 3 and "Tổng cộng" in html
    one = text(viewer.get(f"/reports?month=2026-11&centre={province_centres[1].id}"))
    assert f"Báo cáo tháng 11/2026 — {province_centres[1].id}" in one and "A · Đất đai" in one


def reasons_table(html: str) -> dict[str, dict[str, int]]:
    """The page's reasons table: row name → reason → ratings (the totals row included)."""
    found = re.search(r'<table id="reasons".*?</table>', html, re.S)
    assert found, "no reasons table"
    header = [unescape(h) for h in re.findall(r'<th class="num" scope="col">(.*?)</th>', found.group(0))]
    rows = re.findall(r'<tr><th scope="row">(.*?)</th>(.*?)</tr>', found.group(0), re.S)
    return {unescape(name): dict(zip(header, map(int, re.findall(r'<td class="num">(\d+)</td>', cells))))
            for name, cells in rows}


def test_the_month_by_centre_shows_each_centres_own_reasons_vietnamese_first(viewer, province_centres):
    html = text(viewer.get("/reports?month=2026-11&by=centre"))
    assert "Lý do đánh giá bình thường hoặc không hài lòng" in html and "Số đánh giá nêu lý do này" in html
    table = reasons_table(html)
    province: Tally[str] = Tally()
    for centre in province_centres:
        own = own_reasons(centre, MONTH)
        assert own.totals.total() > 5
        assert {r: n for r, n in table[centre.id].items() if n} == dict(own.totals)
        province.update(own.totals)
    assert table["Tổng cộng"] == dict(province)
    english = text(viewer.get("/reports?month=2026-11&by=centre&lang=en"))
    assert "Reasons for neutral or dissatisfied ratings" in english and reasons_table(english)["Total"] == dict(province)


def test_the_month_by_field_adds_up_the_centres_reasons_per_field(viewer, province_centres):
    table = reasons_table(text(viewer.get("/reports?month=2026-11&by=service")))
    per_field: dict[str, Tally[str]] = {}
    for centre in province_centres:
        for key, tally in own_reasons(centre, MONTH).groups.items():
            per_field.setdefault(key, Tally()).update(tally)
    assert {name.split(" · ")[0]: {r: n for r, n in row.items() if n} for name, row in table.items()
            if name != "Tổng cộng"} == {key: dict(tally) for key, tally in per_field.items()}


def test_a_centres_month_shows_its_own_reasons_by_field(viewer, province_centres):
    centre = province_centres[0]
    table = reasons_table(text(viewer.get(f"/reports?month=2026-11&centre={centre.id}")))
    own = own_reasons(centre, MONTH)
    assert table["Tổng cộng"] == dict(own.totals)
    assert {name.split(" · ")[0]: {r: n for r, n in row.items() if n} for name, row in table.items()
            if name != "Tổng cộng"} == {key: dict(tally) for key, tally in own.groups.items()}


@pytest.mark.parametrize("query, status", [("month=2026-13", 400), ("month=soon", 400), ("by=counter", 400),
                                           ("centre=nobody", 404)])
def test_a_report_asked_wrongly_gets_a_clear_answer(viewer, query, status):
    response = viewer.get(f"/reports?{query}")
    assert response.status_code == status
    if query.startswith("month"):
        assert "YYYY-MM" in text(response)


def test_the_provincial_csv_reads_back_one_row_per_centre_and_the_totals(viewer, province_centres):
    response = viewer.get("/reports/export.csv?month=2026-11&by=centre")
    assert 'filename="queuebox-province-2026-11-by-centre.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:3] == ["Trung tâm (xã, phường)", "Tiếp nhận", "Đã giải quyết"]
    assert [r[0] for r in rows[1:]] == [*sorted(c.id for c in province_centres), "Tổng cộng"]
    for centre in province_centres:
        own = own_report(centre, MONTH).totals
        row = next(r for r in rows if r[0] == centre.id)
        assert int(row[1]) == own.issued and int(row[2]) == own.served
        assert row[-1] == f"{round(own.satisfied_share * 100, 1)}".replace(".", ",")
    assert int(rows[-1][1]) == sum(own_report(c, MONTH).totals.issued for c in province_centres)


def test_the_provincial_xlsx_reads_back_on_one_sheet(viewer, province_centres):
    response = viewer.get("/reports/export.xlsx?month=2026-11&by=centre&lang=en")
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0][0] == "Monthly report 11/2026 — Province" and values[1][0] == "Centre"
    body = {r[0]: r for r in values[2:]}
    for centre in province_centres:
        own = own_report(centre, MONTH).totals
        assert body[centre.id][1] == own.issued and body[centre.id][-1] == pytest.approx(
            round(own.satisfied_share * 100, 1) / 100)
    assert body["Total"][1] == sum(own_report(c, MONTH).totals.issued for c in province_centres)


def test_a_centres_month_by_field_exports_as_its_own_report(viewer, province_centres):
    centre = province_centres[2]
    response = viewer.get(f"/reports/export.csv?month=2026-11&centre={centre.id}&lang=en")
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    own = own_report(centre, MONTH)
    assert [int(r[1]) for r in rows[1:-1]] == [f.issued for f in own.rows]
    assert rows[-1][0] == "Total" and int(rows[-1][1]) == own.totals.issued
