"""The month in the layout a commune sends upward: one row per service field (lĩnh vực) and a
totals row — tickets received, solved, on time, no-shows, left without service, ratings and
satisfaction — titled "Báo cáo tháng 11/2026 — <centre>".

Only a choice and an order of the figures of `server.reports` (`flat` rows): nothing is
computed again here, so the page, the command and a hub reading the same definitions agree.
The headers exist in Vietnamese (the form's own words) and English; both the web page and
`queuebox report --layout monthly` use this one table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from server.reports import TOTAL, Period, Report, ReportError, table

Language = Literal["vi", "en"]
LANGUAGES: tuple[Language, ...] = ("vi", "en")
COLUMNS = ("name", "issued", "served", "within_target_pct", "no_show", "left_without_service", "rated",
           "satisfied_pct")
HEADERS: dict[Language, dict[str, str]] = {
    "vi": {"name": "Lĩnh vực", "issued": "Tiếp nhận", "served": "Đã giải quyết", "within_target_pct": "Đúng hạn (%)",
           "no_show": "Vắng mặt", "left_without_service": "Ra về chưa được phục vụ", "rated": "Lượt đánh giá",
           "satisfied_pct": "Hài lòng (%)"},
    "en": {"name": "Field", "issued": "Issued", "served": "Served", "within_target_pct": "Within target (%)",
           "no_show": "No-show", "left_without_service": "Left without service", "rated": "Ratings",
           "satisfied_pct": "Satisfied (%)"},
}
TOTAL_LABEL: dict[Language, str] = {"vi": "Tổng cộng", "en": "Total"}


@dataclass(frozen=True)
class MonthlyTable:
    """A titled table: the header's keys (`COLUMNS`) and labels, rows of plain values (shares in
    percent to 0.1, None where there is nothing to measure), the totals row last."""
    title: str
    columns: tuple[str, ...]
    headers: list[str]
    rows: list[list[Any]]
    language: Language


def title(period: Period, centre: str, language: Language = "vi") -> str:
    """"Báo cáo tháng 11/2026 — <centre>" for a calendar month, else the period's dates."""
    if period == Period.month(period.start):
        text = period.start.strftime("%m/%Y")
        head = f"Báo cáo tháng {text}" if language == "vi" else f"Monthly report {text}"
    else:
        dates = f"{period.start:%d/%m/%Y} – {period.end:%d/%m/%Y}"
        head = f"Báo cáo {dates}" if language == "vi" else f"Report {dates}"
    return f"{head} — {centre}" if centre else head


def monthly_table(report: Report, centre: str, language: Language = "vi") -> MonthlyTable:
    """The report (grouped by service) in the upward layout; ReportError for another grouping."""
    if report.by != "service":
        raise ReportError(f"the monthly layout has one row per service, not per {report.by}")
    if language not in LANGUAGES:
        raise ReportError(f"no monthly layout in {language!r}; choose one of {', '.join(LANGUAGES)}")
    _, flat_rows = table(report)
    rows = [[row[c] for c in COLUMNS] for row in flat_rows]
    rows[-1][0] = TOTAL_LABEL[language] if flat_rows[-1]["name"] == TOTAL else rows[-1][0]
    return MonthlyTable(title(report.period, centre, language), COLUMNS, [HEADERS[language][c] for c in COLUMNS],
                        rows, language)


def file_name(period: Period, extension: str) -> str:
    """queuebox-monthly-2026-11.xlsx for a calendar month, else with the first and last days."""
    if period == Period.month(period.start):
        return f"queuebox-monthly-{period.start:%Y-%m}.{extension}"
    return f"queuebox-monthly-{period.start}_{period.end}.{extension}"
