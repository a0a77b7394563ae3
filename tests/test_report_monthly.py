"""The month in the layout a commune sends upward (`server.report_monthly`), as text, CSV, JSON
and an XLSX workbook read back with openpyxl, from `queuebox report`.

The month is small and made by hand through the real engine, so every expected number below is
counted from the commands in `november`, not from the database.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from queuebox.cli import main
from server.report_monthly import COLUMNS, HEADERS, monthly_table, title
from server.report_xlsx import column_kind, write_xlsx
from server.reports import Period, ReportError
from tests.report_fixtures import MONDAY, Centre

TUESDAY = MONDAY + timedelta(days=1)
CENTRE = "UBND phường Tân Định"
# field, issued, served, within target %, no-shows, left without service, ratings, satisfied %
EXPECTED = [
    ["A · Đất đai", 2, 2, 100.0, 0, 0, 1, 0.0],  # waits 5 and 15 min (target 20); rated 4
    ["B · Hộ tịch - Chứng thực", 3, 1, 50.0, 1, 1, 1, 100.0],  # waits 10 and 25 (target 15); rated 1
    ["Tổng cộng", 5, 3, 75.0, 1, 1, 2, 50.0],
]


@pytest.fixture
def november(tmp_path: Path) -> Path:
    """Two days of November 2026 and one of December, by hand."""
    c = Centre(tmp_path / "queuebox.db")
    c.take(MONDAY, "08:00", "B")  # B001: called after 10 min, served, very satisfied
    c.take(MONDAY, "08:05", "B")  # B002: called after 25 min, no-show
    c.counter(MONDAY, "08:10", "next", origin="web/hoa")
    c.counter(MONDAY, "08:20", "done", origin="web/hoa")
    c.rate(MONDAY, "08:20:30", 1)
    c.counter(MONDAY, "08:30", "next", origin="web/hoa")
    c.counter(MONDAY, "08:32", "recall", origin="web/hoa")
    c.counter(MONDAY, "08:35", "no_show", origin="web/hoa")
    c.take(MONDAY, "09:00", "A")  # A001: called after 5 min, served, dissatisfied
    c.counter(MONDAY, "09:05", "next", cid="1", origin="web/lan")
    c.counter(MONDAY, "09:15", "done", cid="1", origin="web/lan")
    c.rate(MONDAY, "09:15:30", 4, cid="1")
    c.take(MONDAY, "16:50", "B")  # B003: never called; Tuesday cancels it
    c.take(TUESDAY, "10:00", "A")  # A001: called after 15 min, served, not rated
    c.counter(TUESDAY, "10:15", "next", cid="1", origin="web/lan")
    c.counter(TUESDAY, "10:25", "done", cid="1", origin="web/lan")
    c.take(date(2026, 12, 1), "09:00", "A")  # another month
    c.engine.close()
    return c.path


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["report", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_monthly_table_has_the_figures_counted_by_hand(november):
    from server.reports import open_readonly, report

    db = open_readonly(november)
    try:
        monthly = monthly_table(report(db, Period.month(MONDAY)), CENTRE)
    finally:
        db.close()
    assert monthly.title == "Báo cáo tháng 11/2026 — UBND phường Tân Định"
    assert monthly.headers == ["Lĩnh vực", "Tiếp nhận", "Đã giải quyết", "Đúng hạn (%)", "Vắng mặt",
                               "Ra về chưa được phục vụ", "Lượt đánh giá", "Hài lòng (%)"]
    assert monthly.rows == EXPECTED


@pytest.mark.parametrize("period,language,expected", [
    (Period.month(date(2026, 11, 5)), "vi", "Báo cáo tháng 11/2026 — Xã A"),
    (Period.month(date(2026, 11, 5)), "en", "Monthly report 11/2026 — Xã A"),
    (Period(date(2026, 11, 1), date(2026, 11, 15)), "vi", "Báo cáo 01/11/2026 – 15/11/2026 — Xã A"),
])
def test_titles(period, language, expected):
    assert title(period, "Xã A", language) == expected


def test_the_monthly_layout_is_by_service_only(november):
    from server.reports import open_readonly, report

    db = open_readonly(november)
    try:
        with pytest.raises(ReportError, match="one row per service"):
            monthly_table(report(db, Period.month(MONDAY), "clerk"), CENTRE)
    finally:
        db.close()


def test_cli_writes_the_month_as_an_xlsx_workbook(november, tmp_path, capsys):
    out = tmp_path / "thang-11.xlsx"
    code, _, err = run(capsys, "--month", "2026-11", "--layout", "monthly", "--format", "xlsx", "--out", str(out),
                       "--database", str(november), "--centre", CENTRE)
    assert code == 0, err
    ws = load_workbook(out).active
    assert ws.title == "11-2026"
    assert ws["A1"].value == "Báo cáo tháng 11/2026 — UBND phường Tân Định" and ws["A1"].font.b
    assert [c.value for c in ws[2]] == [HEADERS["vi"][c] for c in COLUMNS] and all(c.font.b for c in ws[2])
    values = [[c.value for c in row] for row in ws.iter_rows(min_row=3)]
    shares = [[v / 100 if column_kind(c) == "percent" else v for c, v in zip(COLUMNS, row)] for row in EXPECTED]
    assert values == [[pytest.approx(v) if isinstance(v, float) else v for v in row] for row in shares]
    assert {ws.cell(3, 4).number_format, ws.cell(5, 8).number_format} == {"0.0%"} and ws.cell(3, 2).number_format == "#,##0"
    assert all(c.font.b for c in ws[5]) and not ws["B3"].font.b  # the totals row is bold
    assert ws.freeze_panes == "B3" and ws.column_dimensions["A"].width >= len("B · Hộ tịch - Chứng thực")


def test_cli_writes_the_month_as_a_vietnamese_csv(november, capsys):
    code, out, _ = run(capsys, "--month", "2026-11", "--layout", "monthly", "--format", "csv",
                       "--database", str(november), "--centre", CENTRE)
    rows = list(csv.reader(io.StringIO(out), delimiter=";"))
    assert code == 0 and rows[0] == [HEADERS["vi"][c] for c in COLUMNS]
    assert rows[1:] == [["A · Đất đai", "2", "2", "100,0", "0", "0", "1", "0,0"],
                        ["B · Hộ tịch - Chứng thực", "3", "1", "50,0", "1", "1", "1", "100,0"],
                        ["Tổng cộng", "5", "3", "75,0", "1", "1", "2", "50,0"]]


def test_cli_writes_the_month_in_english_and_as_json_and_text(november, tmp_path, capsys):
    code, out, _ = run(capsys, "--month", "2026-11", "--layout", "monthly", "--format", "csv", "--lang", "en",
                       "--database", str(november), "--centre", CENTRE)
    assert code == 0 and out.splitlines()[-1] == "Total,5,3,75.0,1,1,2,50.0"
    code, out, _ = run(capsys, "--month", "2026-11", "--layout", "monthly", "--format", "json",
                       "--database", str(november), "--centre", CENTRE)
    data = json.loads(out)
    assert (data["title"], data["from"], data["to"]) == ("Báo cáo tháng 11/2026 — UBND phường Tân Định",
                                                        "2026-11-01", "2026-11-30")
    assert data["columns"] == list(COLUMNS) and data["rows"] + [data["total"]] == EXPECTED
    text = tmp_path / "november.txt"
    code, _, _ = run(capsys, "--month", "2026-11", "--layout", "monthly", "--out", str(text),
                     "--database", str(november), "--centre", CENTRE)
    lines = text.read_text(encoding="utf-8").splitlines()
    assert code == 0 and lines[0] == "Báo cáo tháng 11/2026 — UBND phường Tân Định"
    assert lines[-1].split()[:3] == ["Tổng", "cộng", "5"]


def test_cli_full_layout_as_xlsx_and_the_month_option(november, tmp_path, capsys):
    out = tmp_path / "full.xlsx"
    code, _, err = run(capsys, "--month", "2026-11", "--by", "counter", "--format", "xlsx", "--out", str(out),
                       "--database", str(november), "--centre", CENTRE)
    assert code == 0, err
    ws = load_workbook(out).active
    header = [c.value for c in ws[2]]
    assert header[:3] == ["counter", "name", "issued"] and "left_without_service" in header
    by_name = {row[1]: dict(zip(header, row)) for row in ws.iter_rows(min_row=3, values_only=True)}
    assert (by_name["Quầy 1"]["issued"], by_name["Quầy 3"]["no_show"], by_name["—"]["left_without_service"]) == (2, 1, 1)
    assert by_name["total"]["issued"] == 5 and by_name["total"]["within_target_pct"] == pytest.approx(0.75)


def test_cli_reads_the_centres_name_from_the_config(november, tmp_path, capsys):
    config = tmp_path / "queuebox.toml"
    config.write_text(f'[site]\nid = "t"\nname = "{CENTRE}"\n[[services]]\ncode = "A"\nname_vi = "Đất đai"\n'
                      f'[[counters]]\nid = "1"\nname = "Quầy 1"\nservices = {{ A = 1 }}\n'
                      f'[database]\npath = "{november}"\n', encoding="utf-8")
    code, out, _ = run(capsys, "--config", str(config), "--month", "2026-11", "--layout", "monthly")
    assert code == 0 and out.splitlines()[0] == "Báo cáo tháng 11/2026 — UBND phường Tân Định"


def test_cli_asks_for_the_centres_name_when_there_is_no_config(november, tmp_path, capsys):
    code, out, err = run(capsys, "--config", str(tmp_path / "none.toml"), "--month", "2026-11", "--layout", "monthly",
                         "--database", str(november))
    assert code == 2 and out == "" and "the title names the centre: add --centre NAME" in err


@pytest.mark.parametrize("args,message", [
    (["--month", "2026-13"], "'2026-13' is not a month as YYYY-MM"),
    (["--month", "2026-11", "--from", "2026-11-01"], "not allowed with argument"),
    (["--month", "2026-11", "--to", "2026-11-30"], "--to goes with --from, not with --month"),
    (["--month", "2026-11", "--layout", "monthly", "--by", "clerk"], "one row per service"),
    (["--month", "2026-11", "--format", "xlsx"], "add --out FILE"),
    (["--month", "2026-11", "--lang", "fr"], "invalid choice: 'fr'"),
    (["--month", "2026-11", "--out", "/nonexistent/dir/x.csv", "--format", "csv"], "cannot write /nonexistent/dir/x.csv"),
])
def test_cli_refuses_bad_input_with_status_2(november, capsys, args, message):
    try:
        code, _, err = run(capsys, *args, "--database", str(november), "--centre", CENTRE)
    except SystemExit as exit:  # argparse's own refusals
        code, err = exit.code, capsys.readouterr().err
    assert code == 2 and message in err


def test_xlsx_text_never_becomes_a_formula(tmp_path):
    formula = '=HYPERLINK("http://evil.example/","Bấm vào đây")'
    path = tmp_path / "t.xlsx"
    write_xlsx(path, title=formula, sheet="a/b", columns=["name", "issued", "satisfied_pct"],
               headers=["Tên", "Tiếp nhận", "Hài lòng (%)"], rows=[[formula, 3, None], ["Tổng", 3, 50.0]])
    ws = load_workbook(path).active
    assert ws.title == "a-b"
    assert (ws["A1"].value, ws["A1"].data_type, ws["A3"].value, ws["A3"].data_type) == (formula, "s", formula, "s")
    assert ws["C3"].value is None and ws["C4"].value == pytest.approx(0.5)
