"""Monthly reports of the province: by centre (the provincial report) or by field, for the
whole province or one centre, with charts, and the same table as CSV and XLSX.

Query string: `month` (YYYY-MM, default this month), `by` = centre | service, `centre` (an id:
that centre's month by field). Every figure comes from `hub.store` (the centres' own report
definitions), laid out by `hub.report_table`; the reasons given with neutral or dissatisfied
ratings are counted per row of the table as the centre's report page counts them.
"""

from __future__ import annotations

import io
from datetime import date
from typing import Any, NoReturn

from flask import Blueprint, Response, abort, make_response, render_template, request
from markupsafe import Markup

from hub import store
from hub.report_table import file_name, month_table
from hub.web.auth import viewer_required
from hub.web.common import conn, settings
from hub.web.i18n import _, current_language
from server.report_cli import write_rows
from server.report_monthly import MonthlyTable
from server.report_xlsx import write_xlsx
from queuebox.figures import Period, ReasonCounts, Report, ReportError
from server.web import charts

bp = Blueprint("reports", __name__)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BLUE, LIGHT_BLUE, GREEN, ORANGE = "#0b5cad", "#a9c8ea", "#1d7a3a", "#d9822b"


class Choice:
    """What the page was asked for, checked: 400 for a month or grouping that cannot be read,
    404 for a centre the hub never heard of."""

    def __init__(self, args: Any) -> None:
        today = settings().now().astimezone(settings().config.zone).date()
        text = args.get("month") or f"{today:%Y-%m}"
        try:
            self.period = Period.month(date.fromisoformat(f"{text}-01"))
        except (ValueError, ReportError):
            _refuse(_("The month must be written YYYY-MM, e.g. 2026-11."))
        self.month = f"{self.period.start:%Y-%m}"
        self.centre = args.get("centre", "")
        self.by = "service" if self.centre else args.get("by", "centre")
        if self.by not in ("centre", "service"):
            _refuse(_("Group by centre or by field."))
        if self.centre and store.centre(conn(), self.centre) is None:
            abort(404)

    def report(self) -> Report:
        if self.centre:
            return store.centre_reports(conn(), self.centre, self.period, "service")["service"]
        return settings().reports.province_reports(conn(), self.period, self.by)[self.by]

    def reasons(self) -> ReasonCounts:
        """The reasons given with the ratings of the month, per row of `report`."""
        if self.centre:
            return store.reason_counts(conn(), self.centre, self.period, "service")
        return settings().reports.province_reason_counts(conn(), self.period, self.by)

    def args(self) -> dict[str, str]:
        return {"month": self.month, "by": self.by, **({"centre": self.centre} if self.centre else {})}


def _refuse(message: str) -> NoReturn:
    """400 with `message` on the error page."""
    abort(make_response(render_template("error.html", status=400, message=message), 400))


def _language() -> Any:
    return "vi" if current_language() == "vi" else "en"


@bp.get("/reports")
@viewer_required
def index() -> Any:
    choice = Choice(request.args)
    report = choice.report()
    table = month_table(report, choice.centre, _language())
    centres = [c.id for c in store.centres(conn())]
    reasons = choice.reasons()
    reason_rows = [(report.name(f.key), f.key) for f in report.rows if f.key in reasons.groups]
    return render_template("reports.html", choice=choice, table=table, charts=_charts(report, table),
                           centres=centres, empty=report.totals.issued == 0, reasons=reasons,
                           reason_rows=reason_rows, reasons_chart=_reasons_chart(reasons))


@bp.get("/reports/export.<extension>")
@viewer_required
def export(extension: str) -> Response:
    """The page's table as a file: CSV (`;` and decimal commas in Vietnamese) or XLSX (one sheet)."""
    if extension not in ("csv", "xlsx"):
        abort(404)
    choice = Choice(request.args)
    table = month_table(choice.report(), choice.centre, _language())
    name = file_name(choice.period, choice.centre, choice.by, extension)
    if extension == "csv":
        out = io.StringIO()
        write_rows(out, table.headers, table.rows, decimal_comma=table.language == "vi")
        body: bytes = ("\ufeff" + out.getvalue()).encode("utf-8")  # the BOM: spreadsheets then read UTF-8
        mimetype = "text/csv; charset=utf-8"
    else:
        buffer = io.BytesIO()
        write_xlsx(buffer, title=table.title, sheet=choice.month, columns=table.columns, headers=table.headers,
                   rows=table.rows)
        body, mimetype = buffer.getvalue(), XLSX
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _reasons_chart(reasons: ReasonCounts) -> Markup | None:
    """Each reason's count over the month, the most given first (the centre's reasons chart)."""
    if not reasons.reasons:
        return None
    title = _("Reasons for neutral or dissatisfied ratings")
    return charts.stacked_rows(
        title, _("How many citizens who rated 'neutral' or 'dissatisfied' gave each reason."),
        list(reasons.reasons), [charts.Series(_("Ratings with this reason"), ORANGE)],
        [[reasons.totals[r]] for r in reasons.reasons], label_width=300)


def _charts(report: Report, table: MonthlyTable) -> list[tuple[str, Markup]]:
    rows = [f for f in report.rows if f.issued]
    if not rows:
        return []
    decimal = "," if current_language() == "vi" else "."
    labels = [report.name(f.key) if report.by != "service" else str(f.key) for f in rows]
    wait = _("Waiting time (minutes)")
    happy = _("Satisfaction and waits within target")
    return [
        (wait, charts.columns(
            wait, _("Median and 90th percentile of the wait from ticket to first call."), labels,
            [None if f.wait_median_s is None else f.wait_median_s / 60 for f in rows],
            [None if f.wait_p90_s is None else f.wait_p90_s / 60 for f in rows],
            [charts.Series(_("Median"), BLUE), charts.Series(_("9 in 10 waited at most (p90)"), LIGHT_BLUE)],
            decimal=decimal)),
        (happy, charts.percent_rows(
            happy, _("Share of ratings 'very satisfied' or 'satisfied', and of called tickets waiting at most the target."),
            labels, [charts.Series(_("Satisfied"), GREEN), charts.Series(_("Within target"), BLUE)],
            [[None if f.satisfied_share is None else f.satisfied_share * 100,
              None if f.within_target_share is None else f.within_target_share * 100] for f in rows],
            [_("%(num)s served", num=f.served) for f in rows], decimal=decimal)),
    ]
