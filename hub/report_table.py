"""The month at the province as a table: one row per centre (the provincial report) or per
field (lĩnh vực), the totals row last. The dashboard's page, its CSV and its XLSX all use it.

Only a choice and an order of the figures of `server.reports` (`flat` rows, as
`server.report_monthly` makes the centre's upward layout), with the waits' median and p90
added: nothing is computed again here.
"""

from __future__ import annotations

from typing import Any

from server.report_monthly import HEADERS as MONTHLY_HEADERS
from server.report_monthly import TOTAL_LABEL, Language, MonthlyTable, title
from queuebox.figures import TOTAL, Period, Report, table

COLUMNS = ("name", "issued", "served", "wait_median_min", "wait_p90_min", "within_target_pct", "no_show",
           "left_without_service", "rated", "satisfied_pct")
HEADERS: dict[Language, dict[str, str]] = {
    "vi": {**MONTHLY_HEADERS["vi"], "wait_median_min": "Chờ trung vị (phút)", "wait_p90_min": "Chờ p90 (phút)"},
    "en": {**MONTHLY_HEADERS["en"], "wait_median_min": "Median wait (min)", "wait_p90_min": "p90 wait (min)"},
}
CENTRE_HEADER: dict[Language, str] = {"vi": "Trung tâm (xã, phường)", "en": "Centre"}
PROVINCE: dict[Language, str] = {"vi": "Toàn tỉnh", "en": "Province"}


def month_table(report: Report, whose: str, language: Language = "vi") -> MonthlyTable:
    """`report` (grouped by "centre" or "service") as the table of `whose` month: a centre's
    id, or "" for the whole province."""
    _, flat_rows = table(report)
    rows: list[list[Any]] = [[row[c] for c in COLUMNS] for row in flat_rows]
    if flat_rows[-1]["name"] == TOTAL:
        rows[-1][0] = TOTAL_LABEL[language]
    by_centre = str(report.by) == "centre"  # hub.store.province_reports' grouping, beside the centre's own
    headers = [CENTRE_HEADER[language] if c == "name" and by_centre else HEADERS[language][c] for c in COLUMNS]
    return MonthlyTable(title(report.period, whose or PROVINCE[language], language), COLUMNS, headers, rows,
                        language)


def file_name(period: Period, whose: str, by: str, extension: str) -> str:
    """queuebox-province-2026-11-by-centre.xlsx, queuebox-xa-an-phu-2026-11-by-service.csv…"""
    return f"queuebox-{whose or 'province'}-{period.start:%Y-%m}-by-{by}.{extension}"
