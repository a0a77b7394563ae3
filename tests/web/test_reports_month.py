"""The month on the reports page: the usual-period buttons, satisfaction and waits within target
per clerk and per counter, and the report by field as sent upward (on the page, as XLSX and
CSV, and downloaded in real Chromium: tests/artifacts/reports-month-clerks.png).

The data is the synthetic week of tests/web/test_reports_page.py (its fixtures), all in
November 2026; expected figures come from the simulation's own record.
"""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import date

import pytest
from openpyxl import load_workbook

from server.web import charts
from tests.report_fixtures import SERVICES, Made
from tests.web.browser import screenshot
from tests.web.conftest import PASSWORD
from tests.web import test_reports_page as week_page
from tests.web.test_reports_page import SVG, page_text

TARGET_S = {code: minutes * 60 for code, _, minutes, _, _ in SERVICES}
NAMES = {code: name for code, name, _, _, _ in SERVICES}
MONTH = "/reports/?period=month&date=2026-11-25"
# The page tests' fixtures: their synthetic week, its "today" and the engine on a copy of it.
week, clock, engine = week_page.week, week_page.clock, week_page.engine


def share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def clerk(m: Made) -> str | None:
    if m.ended_by is None:
        return None
    return m.ended_by[len("web/"):] if m.ended_by.startswith("web/") else "(bàn phím)"


def by_field(made: list[Made]) -> list[list[object]]:
    """The upward table counted from the simulation: field, issued, served, within target %,
    no-shows, left without service, ratings, satisfied % (percentages to 0.1)."""
    rows = []
    for key, group in [*((c, [m for m in made if m.service == c]) for c in sorted(NAMES)), ("Tổng cộng", made)]:
        if not group:
            continue
        called = [m for m in group if m.wait_s is not None]
        scores = [m.score for m in group if m.status == "done" and m.score is not None]
        within = share(sum(m.wait_s <= TARGET_S[m.service] for m in called), len(called))
        satisfied = share(sum(s in (1, 2) for s in scores), len(scores))
        status = Counter(m.status for m in group)
        rows.append([f"{key} · {NAMES[key]}" if key in NAMES else key, len(group), status["done"],
                     None if within is None else round(100 * within, 1), status["no_show"],
                     sum(m.status == "cancelled" and m.first_call is None for m in group), len(scores),
                     None if satisfied is None else round(100 * satisfied, 1)])
    return rows


def chart(html: str, title: str) -> list[str]:
    """The texts of the chart titled `title`, in drawing order."""
    for svg in re.findall(r'<svg class="chart".*?</svg>', html, re.S):
        root = ET.fromstring(svg)
        if root.findtext(f"{SVG}title") == title:
            return [t.text or "" for t in root.iter(f"{SVG}text")]
    raise AssertionError(f"no chart {title!r}")


def test_the_month_by_clerk_shows_each_clerks_satisfaction_and_waits_within_target(login, week):
    html = page_text(login("manager").get(f"{MONTH}&by=clerk"))
    assert "Báo cáo · Tháng 11/2026" in html
    texts = chart(html, "Mức hài lòng và tỷ lệ gọi đúng hạn theo cán bộ")
    clerks: dict[str, list[Made]] = {}
    for m in week[1]:
        if clerk(m):
            clerks.setdefault(clerk(m), []).append(m)
    assert sorted(clerks) == ["(bàn phím)", "hoa", "lan", "mai", "minh", "tuan"]
    for name, made in clerks.items():
        scores = [m.score for m in made if m.status == "done" and m.score is not None]
        called = [m for m in made if m.wait_s is not None]
        satisfied = 100 * sum(s in (1, 2) for s in scores) / len(scores)
        within = 100 * sum(m.wait_s <= TARGET_S[m.service] for m in called) / len(called)
        served = sum(m.status == "done" for m in made)
        at = texts.index(name)
        assert texts[at:at + 4] == [name, f"{satisfied:.0f}%", f"{within:.0f}%", f"{served} đã phục vụ"], name
    assert "—" not in texts  # the tickets no one ended are not a clerk
    counters = chart(html, "Mức hài lòng và tỷ lệ gọi đúng hạn theo quầy")
    for cid in "123456":
        made = [m for m in week[1] if m.counter == cid]
        served = sum(m.status == "done" for m in made)
        at = counters.index(f"Quầy {cid}")
        assert counters[at + 3] == f"{served} đã phục vụ"


def test_usual_period_buttons_keep_the_grouping_and_mark_the_period_shown(login):
    client = login("manager")
    html = page_text(client.get("/reports/?period=week&date=2026-11-25&by=clerk"))  # "today" is Friday 27/11
    nav = re.search(r'<nav class="presets".*?</nav>', html, re.S).group(0)
    buttons = [(label, href.replace("&amp;", "&"), bool(current))
               for href, current, label in re.findall(r'<a class="button[^"]*" href="([^"]+)"( aria-current="page")?>([^<]+)</a>', nav)]
    assert [(label, shown) for label, _, shown in buttons] == [
        ("Hôm nay", False), ("Tuần này", True), ("Tháng này", False), ("Tháng trước", False)]
    hrefs = [href for _, href, _ in buttons]
    assert all("by=clerk" in h for h in hrefs)
    assert "period=month" in hrefs[2] and "date=2026-11-27" in hrefs[2] and "date=2026-10-31" in hrefs[3]
    month = page_text(client.get(hrefs[2]))
    assert "Báo cáo · Tháng 11/2026" in month and 'aria-current="page">Tháng này</a>' in month


def test_the_page_shows_the_month_by_field_as_sent_upward(login, week):
    html = page_text(login("manager").get(MONTH))
    section = re.search(r'<section class="card monthly".*?</section>', html, re.S).group(0)
    assert "Báo cáo tháng 11/2026 — Trung tâm thử" in section
    cells = [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
             for row in re.findall(r"<tr>(.*?)</tr>", section, re.S)]
    assert cells[0] == ["Lĩnh vực", "Tiếp nhận", "Đã giải quyết", "Đúng hạn (%)", "Vắng mặt",
                        "Ra về chưa được phục vụ", "Lượt đánh giá", "Hài lòng (%)"]
    shown = [[str(v) if not isinstance(v, float) else f"{v:.1f}".replace(".", ",") + " %" for v in row]
             for row in by_field(week[1])]
    assert cells[1:] == shown


def test_the_month_by_field_as_xlsx(login, week):
    client = login("manager")
    html = page_text(client.get(MONTH))
    link = re.search(r'href="(/reports/monthly\.xlsx[^"]+)"', html).group(1).replace("&amp;", "&")
    response = client.get(link)
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    assert response.headers["Content-Disposition"] == 'attachment; filename="queuebox-monthly-2026-11.xlsx"'
    ws = load_workbook(io.BytesIO(response.data)).active
    assert ws["A1"].value == "Báo cáo tháng 11/2026 — Trung tâm thử" and ws["A1"].font.b
    assert [c.value for c in ws[2]][:3] == ["Lĩnh vực", "Tiếp nhận", "Đã giải quyết"] and ws.freeze_panes == "B3"
    rows = [list(r) for r in ws.iter_rows(min_row=3, values_only=True)]
    expected = [[v / 100 if i in (3, 7) else v for i, v in enumerate(row)] for row in by_field(week[1])]
    assert rows == [[pytest.approx(v) if isinstance(v, float) else v for v in row] for row in expected]
    english = load_workbook(io.BytesIO(client.get(link + "&lang=en").data)).active
    assert english["A1"].value == "Monthly report 11/2026 — Trung tâm thử" and english["A2"].value == "Field"


def test_the_month_by_field_as_csv(login, week):
    client = login("manager")
    text = client.get("/reports/monthly.csv?from=2026-11-01&to=2026-11-30").get_data(as_text=True)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:]), delimiter=";"))
    assert rows[0][:2] == ["Lĩnh vực", "Tiếp nhận"]
    assert rows[1:] == [["" if v is None else str(v).replace(".", ",") for v in row] for row in by_field(week[1])]
    english = client.get("/reports/monthly.csv?from=2026-11-01&to=2026-11-30&lang=en").get_data(as_text=True)
    assert english[1:].splitlines()[-1].startswith("Total,") and "." in english.splitlines()[-1]


@pytest.mark.parametrize("account,query,status", [
    ("clerk1", "monthly.xlsx?from=2026-11-01&to=2026-11-30", 403),
    ("manager", "monthly.xlsx?from=11-2026", 400),
    ("manager", "monthly.csv?from=2026-11-30&to=2026-11-01", 400),
    ("manager", "monthly.csv?from=2026-12-01&to=2026-12-31", 200),
])
def test_monthly_downloads_need_a_manager_and_a_period(login, account, query, status):
    assert login(account).get(f"/reports/{query}").status_code == status


def test_percent_rows_write_each_share_and_a_dash_for_none():
    legend = [charts.Series("Hài lòng", "#111"), charts.Series("Đạt mục tiêu", "#222")]
    long = "nguyen.van.a.rat.dai.ten.dang.nhap"
    root = ET.fromstring(str(charts.percent_rows("t", "d", ["lan", long], legend, [[78.4, 100.0], [None, 50.0]],
                                                 ["12 served", "3 served"], decimal=",")))
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    assert texts[texts.index("lan"):][:4] == ["lan", "78%", "100%", "12 served"]
    cut = next(t for t in texts if t.endswith("…"))
    assert texts[texts.index(cut):][:4] == [cut, "—", "50%", "3 served"] and long not in texts
    assert len(list(root.iter(f"{SVG}rect"))) == 2 + 3  # two legend keys, three bars (None draws none)


def test_the_month_by_clerk_in_chromium(page, live_server, week, tmp_path):
    page.goto(f"{live_server.url}/login?next=/reports/")
    page.fill("#login", "manager")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/reports/")
    page.select_option("#by", "clerk")
    page.click("form.picker button[type=submit]")
    page.click("nav.presets >> text=Tháng này")
    page.wait_for_selector("text=Báo cáo · Tháng 11/2026")
    assert page.locator("nav.presets a[aria-current=page]").inner_text() == "Tháng này"
    clerks = page.locator("figure", has_text="theo cán bộ").locator("svg.chart")
    assert clerks.bounding_box()["height"] > 200
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    with page.expect_download() as download:
        page.click("section.monthly >> text=Tải về Excel (XLSX)")
    assert download.value.suggested_filename == "queuebox-monthly-2026-11.xlsx"
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    ws = load_workbook(saved).active
    assert ws["A1"].value == "Báo cáo tháng 11/2026 — Trung tâm thử" and ws.cell(ws.max_row, 2).value == len(week[1])
    page.locator("section.monthly").scroll_into_view_if_needed()
    assert screenshot(page, "reports-month-clerks").stat().st_size > 20_000


def test_left_without_service_in_the_months_table_by_counter(login, week):
    html = page_text(login("manager").get(f"{MONTH}&by=counter"))
    foot = re.search(r'<section class="card figures".*?<tfoot>(.*?)</tfoot>', html, re.S).group(1)
    total = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", foot, re.S)]
    never_called = sum(m.status == "cancelled" and m.first_call is None for m in week[1])
    assert total[5] == str(never_called) and never_called > 0
    assert date(2026, 11, 1) <= min(m.day for m in week[1])  # the whole week is in November
