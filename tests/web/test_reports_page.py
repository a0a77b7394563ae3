"""The managers' reports page: access, the period picker, the figures, the CSV exports, the
SVG charts, the Vietnamese texts, and the page in real Chromium (tests/artifacts/reports.png).

The data is a synthetic working week (Monday to Friday, 250 tickets a day) made by driving
the real engine (tests/report_fixtures.py); expected counts come from the simulation's own
record, not from the database.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from server import store, users
from server.engine import Engine
from server.reports import DIMENSIONS, ReportError
from server.web import charts
from server.web.reports import Choice, parse_choice
from tests.factories import FakeClock
from tests.report_fixtures import MONDAY, ZONE, Made, report_config, simulate_days
from tests.web.browser import screenshot
from tests.web.conftest import ACCOUNTS, PASSWORD

WEB = Path(__file__).resolve().parents[2] / "server" / "web"
WEEK = [(MONDAY + timedelta(days=i), 250) for i in range(5)]
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Made]]:
    path = tmp_path_factory.mktemp("week") / "queuebox.db"
    return path, simulate_days(path, WEEK, seed=11)


@pytest.fixture
def clock() -> FakeClock:
    """Friday evening of the simulated week (the reports' "today")."""
    return FakeClock(datetime(2026, 11, 27, 18, 0, tzinfo=ZONE))


@pytest.fixture
def engine(tmp_path, clock, week):  # replaces tests/web/conftest.py's: the week's data, the same accounts
    path = tmp_path / "web.db"
    shutil.copy(week[0], path)
    eng = Engine(report_config(), path, clock=clock)
    db = store.open_database(path)
    for login, (role, counters) in ACCOUNTS.items():
        users.add(db, login, PASSWORD, role, counters, clock())
    db.close()
    yield eng
    eng.close()


def made_in(week, start: date, end: date) -> list[Made]:
    return [m for m in week[1] if start <= m.day <= end]


def page_text(response) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


def total_row(html: str) -> list[str]:
    foot = re.search(r"<tfoot>(.*?)</tfoot>", html, re.S).group(1)
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", foot, re.S)]


# --- access -------------------------------------------------------------------------------

@pytest.mark.parametrize("account,status", [("manager", 200), ("admin", 200), ("clerk1", 403)])
def test_only_managers_and_admins_see_reports(login, account, status):
    client = login(account)
    assert client.get("/reports/").status_code == status
    assert client.get("/reports/export.csv?table=service&from=2026-11-23").status_code == status


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    for path in ["/reports/", "/reports/export.csv?table=service&from=2026-11-23"]:
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")


# --- the page --------------------------------------------------------------------------------

def test_the_week_page_shows_the_weeks_figures(login, week):
    html = page_text(login("manager").get("/reports/?period=week&date=2026-11-25&by=service"))
    made = made_in(week, date(2026, 11, 23), date(2026, 11, 29))
    statuses = Counter(m.status for m in made)
    assert "Báo cáo · Tuần 23/11 – 29/11/2026" in html
    total = total_row(html)
    assert total[:4] == ["Tổng", str(len(made)), str(statuses["done"]), str(statuses["no_show"])]
    assert total[4] == str(statuses["cancelled"]) and int(total[4]) > 0  # leftovers of Monday–Thursday
    never_called = sum(m.status == "cancelled" and m.first_call is None for m in made)
    assert total[5] == str(never_called) and never_called > 0
    assert "A · Đất đai" in html and "Lao động - Thương binh - Xã hội" in html
    assert html.count('<svg class="chart"') == 7 and "Ra về chưa được phục vụ" in html
    assert "Lý do đánh giá bình thường hoặc không hài lòng" in html
    assert "Mức độ hài lòng theo ngày" in html and "Thời gian chờ theo giờ lấy số (phút)" in html


def test_the_day_page_by_clerk_names_logins_and_the_keypad(login, week):
    html = page_text(login("manager").get("/reports/?period=day&date=2026-11-24&by=clerk"))
    assert "Báo cáo · 24/11/2026" in html
    for name in ["hoa", "lan", "mai", "minh", "tuan", "(bàn phím)"]:
        assert f'<th scope="row">{name}</th>' in html
    assert "Mức độ hài lòng theo giờ lấy số" in html  # one day: the trend is by hour
    assert total_row(html)[1] == str(len(made_in(week, date(2026, 11, 24), date(2026, 11, 24))))


def test_times_use_a_decimal_comma_in_vietnamese_and_a_point_in_english(login):
    client = login("manager")
    vi = total_row(page_text(client.get("/reports/?period=week&date=2026-11-23")))
    en = total_row(page_text(client.get("/reports/?period=week&date=2026-11-23&lang=en")))
    assert re.fullmatch(r"\d+,\d", vi[8]) and re.fullmatch(r"\d+\.\d", en[8]) and vi[8].replace(",", ".") == en[8]
    assert en[0] == "Total"


def test_the_default_is_today(login, week):
    html = page_text(login("manager").get("/reports/"))
    assert "Báo cáo · 27/11/2026" in html
    assert total_row(html)[1] == str(len(made_in(week, date(2026, 11, 27), date(2026, 11, 27))))


def test_a_period_without_tickets_says_so(login):
    html = page_text(login("manager").get("/reports/?period=day&date=2026-11-28"))
    assert "Không có lượt lấy số nào trong thời gian này." in html and "<svg" not in html


@pytest.mark.parametrize("query,message", [
    ("period=range&date=2026-11-25&to=2026-11-20", "Ngày cuối đứng trước ngày đầu."),
    ("date=25/11/2026", "25/11/2026 không phải là một ngày hợp lệ."),
    ("by=kiosk", "Không có cách nhóm kiosk."),
    ("period=year", "Không có loại thời gian year."),
])
def test_bad_choices_are_answered_with_a_message(login, query, message):
    response = login("manager").get(f"/reports/?{query}")
    assert response.status_code == 400 and message in response.get_data(as_text=True)


def test_previous_and_next_links_move_by_one_period(login):
    html = page_text(login("manager").get("/reports/?period=month&date=2026-11-25&by=hour"))
    prev = re.search(r'rel="prev" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    nxt = re.search(r'rel="next" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert "date=2026-10-01" in prev and "date=2026-12-01" in nxt and "by=hour" in prev


@pytest.mark.parametrize("args,start,end", [
    ({}, date(2026, 11, 27), date(2026, 11, 27)),
    ({"period": "week", "date": "2026-11-29"}, date(2026, 11, 23), date(2026, 11, 29)),
    ({"period": "month", "date": "2026-12-31"}, date(2026, 12, 1), date(2026, 12, 31)),
    ({"period": "range", "date": "2026-11-20", "to": "2026-12-03"}, date(2026, 11, 20), date(2026, 12, 3)),
    ({"period": "range", "date": "2026-11-20"}, date(2026, 11, 20), date(2026, 11, 20)),
])
def test_parse_choice(args, start, end):
    choice = parse_choice(args, date(2026, 11, 27))
    assert (choice.period.start, choice.period.end) == (start, end)


@pytest.mark.parametrize("kind,day,to,previous,following", [
    ("day", date(2026, 3, 1), None, "2026-02-28", "2026-03-02"),
    ("week", date(2026, 11, 25), None, "2026-11-16", "2026-11-30"),
    ("month", date(2026, 1, 15), None, "2025-12-01", "2026-02-01"),
    ("month", date(2026, 12, 15), None, "2026-11-01", "2027-01-01"),
    ("range", date(2026, 11, 20), date(2026, 11, 22), "2026-11-17", "2026-11-23"),
])
def test_shifting_a_period(kind, day, to, previous, following):
    args = {"period": kind, "date": day.isoformat(), **({"to": to.isoformat()} if to else {})}
    choice: Choice = parse_choice(args, day)
    assert (choice.shifted(-1)["date"], choice.shifted(1)["date"]) == (previous, following)


def test_parse_choice_refuses_a_range_that_ends_before_it_starts():
    with pytest.raises(ReportError):
        parse_choice({"period": "range", "date": "2026-11-25", "to": "2026-11-24"}, date(2026, 11, 27))


# --- exports -----------------------------------------------------------------------------------

def test_every_table_on_the_page_has_a_working_csv_link(login):
    client = login("manager")
    html = page_text(client.get("/reports/?period=week&date=2026-11-23&by=counter"))
    links = sorted({href.replace("&amp;", "&") for href in re.findall(r'href="(/reports/export\.csv[^"]+)"', html)})
    assert {re.search(r"table=(\w+)", link).group(1) for link in links} == {"counter", "hour", "service", "day", "clerk"}
    for link in links:
        response = client.get(link)
        assert response.status_code == 200 and response.mimetype == "text/csv"
        assert "attachment" in response.headers["Content-Disposition"]


@pytest.mark.parametrize("table", DIMENSIONS)
def test_the_csv_export_matches_the_simulation(login, week, table):
    response = login("manager").get(f"/reports/export.csv?table={table}&from=2026-11-23&to=2026-11-27&lang=en")
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")  # spreadsheet programs then read the diacritics
    assert response.headers["Content-Disposition"] == f'attachment; filename="queuebox-{table}-2026-11-23_2026-11-27.csv"'
    rows = list(csv.DictReader(io.StringIO(text[1:])))
    made = made_in(week, date(2026, 11, 23), date(2026, 11, 27))
    assert rows[-1]["name"] == "total" and int(rows[-1]["issued"]) == len(made)
    assert sum(int(r["served"]) for r in rows[:-1]) == sum(m.status == "done" for m in made)
    if table == "day":
        assert [(r["day"], int(r["issued"])) for r in rows[:-1]] == [(d.isoformat(), n) for d, n in WEEK]


def test_the_vietnamese_csv_has_vietnamese_headers_and_decimal_commas(login, week):
    """As the page shows them: "Đã cấp", 1,5 — separated by ";" as a Vietnamese spreadsheet reads them."""
    client = login("manager")
    english = list(csv.DictReader(io.StringIO(client.get(
        "/reports/export.csv?table=service&from=2026-11-23&to=2026-11-27&lang=en").get_data(as_text=True)[1:])))
    text = client.get("/reports/export.csv?table=service&from=2026-11-23&to=2026-11-27&lang=vi").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text[1:]), delimiter=";"))
    assert list(rows[0])[:4] == ["Lĩnh vực", "Tên", "Đã cấp", "Đã phục vụ"]
    assert rows[-1]["Tên"] == "Tổng" and rows[-1]["Đã cấp"] == english[-1]["issued"]
    median = rows[-1]["Thời gian chờ trung vị (phút)"]
    assert median == english[-1]["wait_median_min"].replace(".", ",") and "," in median


@pytest.mark.parametrize("query,status", [
    ("table=service&from=23-11-2026", 400), ("table=service", 400),
    ("table=service&from=2026-11-25&to=2026-11-24", 400), ("table=tickets&from=2026-11-23", 404),
])
def test_bad_export_requests(login, query, status):
    assert login("manager").get(f"/reports/export.csv?{query}").status_code == status


# --- translations --------------------------------------------------------------------------------

def marked_strings() -> set[str]:
    sources = [WEB / "reports.py", *sorted((WEB / "templates" / "reports").glob("*.html"))]
    found: set[str] = set()
    for path in sources:
        text = path.read_text(encoding="utf-8")
        found |= set(re.findall(r'(?<!\w)N?_\(\s*"([^"]+)"', text))
        found |= set(re.findall(r"(?<!\w)N?_\(\s*'([^']+)'", text))
    return found


def test_every_string_of_the_reports_page_has_a_vietnamese_translation():
    catalog: dict[str, str] = {}
    for po in sorted((WEB / "translations" / "vi").glob("*.po")):
        with po.open("rb") as f:
            catalog.update({str(m.id): str(m.string) for m in read_po(f) if m.id and m.string})
    marked = marked_strings()
    assert len(marked) > 60
    assert sorted(s for s in marked if s not in catalog) == []
    with (WEB / "translations" / "vi" / "reports.po").open("rb") as f:
        for message in read_po(f):
            if message.id:
                assert re.findall(r"%\(\w+\)s", str(message.id)) == re.findall(r"%\(\w+\)s", str(message.string)), message.id


# --- charts ------------------------------------------------------------------------------------

@pytest.mark.parametrize("value,expected", [
    (0, (1.0, 0.25)), (7, (8, 2)), (10, (10, 2.5)), (38.2, (40, 10)), (101, (150, 50)), (0.3, (0.3, 0.1)),
])
def test_nice_axis_maximum(value, expected):
    assert charts.nice_max(value) == pytest.approx(expected)


def parsed(svg: str) -> ET.Element:
    root = ET.fromstring(str(svg))
    assert root.get("role") == "img" and root.find(f"{SVG}title") is not None and root.find(f"{SVG}desc") is not None
    return root


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")]


def test_columns_write_each_value_and_escape_labels():
    svg = charts.columns("Chờ <b>", "mô tả", ["08h", "<x>"], [12.4, None], [30.0, 5.0],
                         [charts.Series("Trung vị", "#000"), charts.Series("p90", "#ccc")])
    root = parsed(svg)
    assert root.find(f"{SVG}title").text == "Chờ <b>"
    assert "12" in texts(root) and "<x>" in texts(root) and "Trung vị" in texts(root)
    assert len(list(root.iter(f"{SVG}rect"))) == 2 + 3  # two legend keys, three bars (None draws none)


def test_stacked_rows_cut_long_labels_but_keep_them_in_the_tooltip():
    long = "Lao động - Thương binh - Xã hội và một tên rất dài nữa"
    root = parsed(charts.stacked_rows("t", "d", [long, "B"], [charts.Series("a", "#111"), charts.Series("b", "#222")],
                                      [[40, 2], [0, 0]]))
    assert any(t.endswith("…") for t in texts(root)) and long not in texts(root)
    assert any(long in (r.findtext(f"{SVG}title") or "") for r in root.iter(f"{SVG}rect"))
    assert "42" in texts(root) and "0" in texts(root)


def test_lines_leave_a_gap_where_there_is_no_value():
    root = parsed(charts.lines("t", "d", ["a", "b", "c", "d"], [charts.Series("s", "#111")], [[50, None, 70, 80]]))
    assert len(list(root.iter(f"{SVG}polyline"))) == 1 and len(list(root.iter(f"{SVG}circle"))) == 3
    assert {"50%", "70%", "80%"} <= set(texts(root))


def test_share_bar_writes_percentages_and_counts():
    root = parsed(charts.share_bar("t", "d", [charts.Series(n, "#111") for n in "wxyz"], (45, 30, 15, 10)))
    assert {"45%", "30%", "15%", "10%", "w (45)", "z (10)"} <= set(texts(root))


def test_a_long_legend_wraps_inside_the_chart():
    names = ["Rất hài lòng (369)", "Hài lòng (237)", "Bình thường (104)", "Không hài lòng (88)"]
    root = parsed(charts.share_bar("t", "d", [charts.Series(n.rsplit(" (", 1)[0], "#111") for n in names], (369, 237, 104, 88)))
    legend = [t for t in root.iter(f"{SVG}text") if t.text in names]
    assert len(legend) == 4 and len({t.get("y") for t in legend}) == 2
    width = float(root.get("viewBox").split()[2])
    assert all(float(t.get("x")) + len(t.text) * charts.FONT * 0.56 <= width for t in legend)


# --- in Chromium ----------------------------------------------------------------------------------

def test_the_reports_page_in_chromium(page, live_server):
    problems: list[str] = []

    def console(message) -> None:
        where = message.location.get("url", "")
        if message.type == "error" and not where.endswith("/favicon.ico"):  # the site has no icon (not this page's)
            problems.append(f"{message.text} ({where})")
    page.on("console", console)
    page.goto(f"{live_server.url}/login?next=/reports/")
    page.fill("#login", "manager")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/reports/")
    page.select_option("#period", "week")
    page.fill("#date", "2026-11-25")
    page.click("form.picker button[type=submit]")
    page.wait_for_selector("text=Tuần 23/11 – 29/11/2026")
    # wait, volume, satisfaction, scores, by clerk, by counter, reasons
    assert page.locator("svg.chart").count() == 7
    for box in (page.locator("svg.chart").nth(i).bounding_box() for i in range(7)):
        assert box["width"] > 400 and box["height"] > 60
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # nothing overflows
    assert page.locator(".figures tfoot th").inner_text() == "Tổng"
    assert problems == []  # e.g. a Content-Security-Policy refusal
    assert screenshot(page, "reports").stat().st_size > 20_000


def test_the_reasons_by_counter_on_the_page_and_in_the_vietnamese_csv(login, week):
    made = [m for m in made_in(week, date(2026, 11, 23), date(2026, 11, 27)) if m.status == "done" and m.reason]
    totals = Counter(m.reason for m in made)
    assert len(totals) >= 3
    order = sorted(totals, key=lambda r: (-totals[r], r))
    client = login("manager")
    html = page_text(client.get("/reports/?period=range&date=2026-11-23&to=2026-11-27&by=counter"))
    table = re.search(r'<table class="reason-table">(.*?)</table>', html, re.S).group(1)
    head = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<th[^>]*>(.*?)</th>", table.split("</thead>")[0])]
    assert head == ["Quầy", *order]
    assert total_row(table) == ["Tổng", *(str(totals[r]) for r in order)]
    by_counter = Counter((m.counter, m.reason) for m in made)
    text = client.get("/reports/export.csv?table=counter&from=2026-11-23&to=2026-11-27&lang=vi").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text[1:]), delimiter=";"))
    for reason in order:
        column = f"Lý do: {reason}"
        assert int(rows[-1][column]) == totals[reason]
        assert [int(r[column]) for r in rows[:-1]] == [by_counter[(r["Quầy"] or None, reason)] for r in rows[:-1]]
