"""The managers' reports page: a period (day, week, month or range), charts drawn on the
server as SVG, the figures table grouped by service, counter, clerk, hour or day, and a CSV
of every table. The figures and their definitions are `server.reports`'.

Query string: `period` = day | week | month | range, `date` (YYYY-MM-DD, default today),
`to` (range only), `by` (the table's grouping). `export.csv?table=<grouping>&from=&to=`
downloads one table (UTF-8 with a byte-order mark, so spreadsheet programs read the
diacritics); `monthly.xlsx?from=&to=` and `monthly.csv?from=&to=` the period by field in the
layout a centre sends upward (`server.report_monthly`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Mapping

from flask import Blueprint, Response, abort, render_template, request, url_for
from markupsafe import Markup

from queuebox.clock import local_date
from server.report_cli import write_csv, write_report_xlsx, write_rows
from server.report_monthly import file_name, monthly_table
from server.report_xlsx import column_kind
from server.reports import (DIMENSIONS, KEYPAD, MAX_PERIOD_DAYS, TOTAL, Dimension, Period, ReasonCounts, Report,
                            ReportError, reason_counts, reports)
from server.web import charts
from server.web.auth import role_required
from server.web.common import db, get_engine
from server.web.i18n import N_, _, current_language

bp = Blueprint("reports", __name__, url_prefix="/reports")

KINDS = {"day": N_("Day"), "week": N_("Week"), "month": N_("Month"), "range": N_("Range")}
GROUPS = {"service": N_("Service"), "counter": N_("Counter"), "clerk": N_("Clerk"), "hour": N_("Hour of day"),
          "day": N_("Day"), "group": N_("Priority group")}
OTHER_CLERKS = {KEYPAD: N_("(keypad)"), "(api)": N_("(api)")}
# The CSV's column headers in the page's language (English keeps the column names, for programs).
CSV_HEADERS = {
    "name": N_("Name"), "issued": N_("Issued"), "served": N_("Served"), "no_show": N_("No-show"),
    "cancelled": N_("Cancelled"), "left_without_service": N_("Left without service"), "open": N_("Open"),
    "transferred": N_("Transferred"),
    "wait_median_min": N_("Median wait (min)"), "wait_p90_min": N_("p90 wait (min)"),
    "wait_max_min": N_("Longest wait (min)"), "service_median_min": N_("Median service time (min)"),
    "service_p90_min": N_("p90 service time (min)"), "service_max_min": N_("Longest service time (min)"),
    "within_target_pct": N_("Within target (%)"), "rated": N_("Ratings"), "score_1": N_("Very satisfied"),
    "score_2": N_("Satisfied"), "score_3": N_("Neutral"), "score_4": N_("Dissatisfied"),
    "satisfied_pct": N_("Satisfied (%)"), "response_rate_pct": N_("Response rate (%)"),
}
BLUE, LIGHT_BLUE, GREEN, ORANGE, GREY, RED = "#0b5cad", "#a9c8ea", "#1d7a3a", "#d9822b", "#9aa3ad", "#b3261e"
PURPLE = "#7b3f98"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Choice:
    """What the manager asked for, as typed (to refill the form) and as a period."""
    kind: str
    day: date
    to: date
    by: Dimension
    period: Period

    def shifted(self, direction: int) -> dict[str, str] | None:
        """Query arguments of the previous (-1) or next (+1) period of the same kind; None
        past the calendar's ends (year 1 or 9999)."""
        start = self.period.start
        try:
            if self.kind == "month":
                month = start.month - 1 + direction
                start = date(start.year + month // 12, month % 12 + 1, 1)
            else:
                start += timedelta(days=self.period.days * direction)
            args = {"period": self.kind, "date": start.isoformat(), "by": self.by}
            if self.kind == "range":
                args["to"] = (start + timedelta(days=self.period.days - 1)).isoformat()
            _period(self.kind, start, start + timedelta(days=self.period.days - 1))
        except (OverflowError, ValueError):
            return None
        return args


def parse_choice(args: Mapping[str, str], today: date) -> Choice:
    """The period and grouping of the query string; ReportError (translated) if it makes no sense."""
    kind = args.get("period") or "day"
    by = args.get("by") or "service"
    if kind not in KINDS:
        raise ReportError(_("Unknown period %(value)s.", value=kind))
    if by not in DIMENSIONS:
        raise ReportError(_("Unknown grouping %(value)s.", value=by))
    day = _date(args.get("date"), today)
    to = _date(args.get("to"), day)
    if kind == "range" and to < day:
        raise ReportError(_("The period ends before it starts."))
    if kind == "range" and (to - day).days >= MAX_PERIOD_DAYS:
        raise ReportError(_("A report covers at most %(days)s days: choose a shorter period.", days=MAX_PERIOD_DAYS))
    try:
        period = _period(kind, day, to)
    except OverflowError:  # the week or month of 9999-12-31 ends past the calendar
        raise ReportError(_("%(value)s is too far in the future.", value=day.isoformat())) from None
    return Choice(kind, day, to, by, period)  # type: ignore[arg-type]


def _period(kind: str, day: date, to: date) -> Period:
    """The period of `kind` that holds `day` (a range: `day` … `to`); OverflowError past year 9999."""
    if kind == "range":
        return Period(day, to)
    return {"day": Period.day, "week": Period.week, "month": Period.month}[kind](day)


def _date(text: str | None, default: date) -> date:
    if not text:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ReportError(_("%(value)s is not a date.", value=text)) from None


@bp.get("/")
@role_required("admin", "manager")
def index() -> Any:
    engine = get_engine()
    today = local_date(engine.now(), engine.config.zone)
    try:
        choice = parse_choice(request.args, today)
    except ReportError as exc:
        fallback = parse_choice({}, today)
        return render_template("reports/index.html", choice=fallback, error=str(exc), presets=presets(today, fallback),
                               **_form_lists()), 400
    multi_day = choice.period.days > 1
    trend_by: Dimension = "day" if multi_day else "hour"
    found = reports(db(), choice.period, *dict.fromkeys([choice.by, "hour", "service", trend_by, "clerk", "counter"]))
    main = found[choice.by]
    dates = {"from": choice.period.start.isoformat(), "to": choice.period.end.isoformat()}
    reasons = reason_counts(db(), choice.period, choice.by)
    charts = _charts(found["hour"], found["service"], found[trend_by], found["clerk"], found["counter"])
    return render_template(
        "reports/index.html", choice=choice, error=None, report=main, totals=main.totals,
        charts={**charts, "reasons": _reasons_chart(reasons)}, reasons=reasons,
        trend_by=trend_by, period_label=period_label(choice), previous=choice.shifted(-1),
        following=choice.shifted(1), presets=presets(today, choice), minutes=minutes, percent=percent,
        group_name=group_name, export=_export_url(choice.period),
        monthly=monthly_table(found["service"], engine.config.site.name, current_language()),  # type: ignore[arg-type]
        monthly_cell=monthly_cell, monthly_url=lambda fmt: url_for(f"reports.monthly_{fmt}", **dates), **_form_lists())


def _asked_period() -> Period:
    """The `from` and `to` (default: `from`) of an export's query string; 400 if they make no period."""
    try:
        start = date.fromisoformat(request.args.get("from", ""))
        end = date.fromisoformat(request.args.get("to") or start.isoformat())
    except ValueError:
        abort(400)
    try:
        return Period(start, end)
    except ReportError as exc:  # ends before it starts, or longer than a report may be
        abort(Response(f"{exc}\n", status=400, mimetype="text/plain"))


def _attachment(body: str | bytes, mimetype: str, name: str) -> Response:
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/export.csv")
@role_required("admin", "manager")
def export() -> Response:
    table = request.args.get("table", "")
    period = _asked_period()
    if table not in DIMENSIONS:
        abort(404)
    out = io.StringIO()
    out.write("\ufeff")
    result = reports(db(), period, table)[table]  # type: ignore[index]
    lang = current_language()
    english = lang == "en"  # the column names themselves, for programs
    write_csv(result, out, headers=None if english else {k: _(v) for k, v in {**GROUPS, **CSV_HEADERS}.items()},
              total=TOTAL if english else _("Total"), decimal_comma=lang == "vi",
              reasons=reason_counts(db(), period, table),  # type: ignore[arg-type]
              reason_header="reason: %s" if english else _("Reason: %(reason)s", reason="%s"))
    start, end = period.start, period.end
    return _attachment(out.getvalue(), "text/csv", f"queuebox-{table}-{start}{'' if end == start else f'_{end}'}.csv")


@bp.get("/monthly.xlsx")
@role_required("admin", "manager")
def monthly_xlsx() -> Response:
    """The period by field as an XLSX workbook, in the page's language."""
    period = _asked_period()
    out = io.BytesIO()
    write_report_xlsx(reports(db(), period, "service")["service"], out, layout="monthly",
                      centre=get_engine().config.site.name, lang=current_language())
    return _attachment(out.getvalue(), XLSX, file_name(period, "xlsx"))


@bp.get("/monthly.csv")
@role_required("admin", "manager")
def monthly_csv() -> Response:
    """The period by field as CSV, in the page's language (Vietnamese: decimal comma, ";")."""
    period = _asked_period()
    lang = current_language()
    table = monthly_table(reports(db(), period, "service")["service"], get_engine().config.site.name, lang)  # type: ignore[arg-type]
    out = io.StringIO()
    out.write("\ufeff")
    write_rows(out, table.headers, table.rows, decimal_comma=lang == "vi")
    return _attachment(out.getvalue(), "text/csv", file_name(period, "csv"))


def _export_url(period: Period) -> Any:
    return lambda table: url_for("reports.export", table=table, **{"from": period.start.isoformat(),
                                                                   "to": period.end.isoformat()})


def presets(today: date, choice: Choice) -> list[tuple[str, dict[str, str], bool]]:
    """The usual periods in one click — today, this week, this month, last month — as (label,
    query arguments, whether it is the period shown), keeping the table's grouping."""
    last_month = today.replace(day=1) - timedelta(days=1)
    found = []
    for label, kind, day in [(N_("Today"), "day", today), (N_("This week"), "week", today),
                             (N_("This month"), "month", today), (N_("Last month"), "month", last_month)]:
        shown = choice.kind == kind and choice.period == _period(kind, day, day)
        found.append((_(label), {"period": kind, "date": day.isoformat(), "by": choice.by}, shown))
    return found


def _form_lists() -> dict[str, Any]:
    return {"kinds": {k: _(v) for k, v in KINDS.items()}, "groups": {k: _(v) for k, v in GROUPS.items()}}


# --- words and numbers ----------------------------------------------------------------------

def short_date(day: date, year: bool = True) -> str:
    return day.strftime("%d/%m/%Y" if year else "%d/%m")


def period_label(choice: Choice) -> str:
    p = choice.period
    if choice.kind == "day":
        return short_date(p.start)
    if choice.kind == "month":
        return _("Month %(month)s", month=p.start.strftime("%m/%Y"))
    text = f"{short_date(p.start, p.start.year != p.end.year)} – {short_date(p.end)}"
    return _("Week %(dates)s", dates=text) if choice.kind == "week" else text


def _decimal(value: float, digits: int) -> str:
    text = f"{value:.{digits}f}"
    return text.replace(".", ",") if current_language() == "vi" else text


def group_name(report: Report, key: Any) -> str:
    """A row's name on the page: the report's, with "(keypad)" and the like translated."""
    name = report.name(key)
    return _(name) if name in OTHER_CLERKS else name


def minutes(seconds: float | None) -> str:
    """Seconds as minutes to 0.1 ("12,5" in Vietnamese); "—" for none."""
    return "—" if seconds is None else _decimal(seconds / 60, 1)


def percent(share: float | None) -> str:
    return "—" if share is None else _decimal(share * 100, 0) + " %"


def monthly_cell(column: str, value: Any) -> str:
    """A cell of the monthly table on the page: percentages to 0.1 with the language's decimal mark."""
    if value is None:
        return "—"
    return _decimal(value, 1) + " %" if column_kind(column) == "percent" else str(value)


# --- charts ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Chart:
    title: str  # shown above the chart, and its SVG <title>
    svg: Markup


def _charts(by_hour: Report, by_service: Report, trend: Report, by_clerk: Report, by_counter: Report) -> dict[str, Chart]:
    decimal = "," if current_language() == "vi" else "."
    hours = _hour_range(by_hour)
    rows = {f.key: f for f in by_hour.rows}
    title = _("Waiting time by hour of arrival (minutes)")
    wait = Chart(title, charts.columns(
        title, _("Median and 90th percentile of the wait from ticket to first call, by the hour the ticket was issued."),
        [f"{h:02d}h" for h in hours],
        [_min(rows[h].wait_median_s) if h in rows else None for h in hours],
        [_min(rows[h].wait_p90_s) if h in rows else None for h in hours],
        [charts.Series(_("Median"), BLUE), charts.Series(_("9 in 10 waited at most (p90)"), LIGHT_BLUE)],
        decimal=decimal))
    title = _("Tickets by service")
    volume = Chart(title, charts.stacked_rows(
        title, _("Tickets issued per service, by what became of them."),
        [by_service.name(f.key) for f in by_service.rows],
        [charts.Series(_("Served"), GREEN), charts.Series(_("No-show"), ORANGE),
         charts.Series(_("Left without service"), PURPLE), charts.Series(_("Other cancelled or still waiting"), GREY)],
        [[f.served, f.no_show, f.left_without_service, f.cancelled - f.left_without_service + f.open]
         for f in by_service.rows]))
    keys = _day_range(trend) if trend.by == "day" else _hour_range(trend)
    points = {f.key: f for f in trend.rows}
    title = _("Satisfaction by day") if trend.by == "day" else _("Satisfaction by hour of arrival")
    satisfaction = Chart(title, charts.lines(
        title, _("Share of ratings 'very satisfied' or 'satisfied', and share of served citizens who rated."),
        [short_date(date.fromisoformat(k), False) if trend.by == "day" else f"{k:02d}h" for k in keys],
        [charts.Series(_("Satisfied"), GREEN), charts.Series(_("Response rate"), BLUE, dashed=True)],
        [[_pct(points[k].satisfied_share) if k in points else None for k in keys],
         [_pct(points[k].response_rate) if k in points else None for k in keys]]))
    title = _("Ratings by score")
    scores = Chart(title, charts.share_bar(
        title, _("How the citizens who rated the service answered."),
        [charts.Series(_("Very satisfied"), GREEN), charts.Series(_("Satisfied"), "#7cb342"),
         charts.Series(_("Neutral"), GREY), charts.Series(_("Dissatisfied"), RED)], by_service.totals.ratings))
    clerks = _people_chart(_("Satisfaction and waits within target by clerk"), by_clerk, decimal)
    counters = _people_chart(_("Satisfaction and waits within target by counter"), by_counter, decimal)
    return {"wait": wait, "volume": volume, "satisfaction": satisfaction, "scores": scores, "clerks": clerks,
            "counters": counters}


def _people_chart(title: str, report: Report, decimal: str) -> Chart:
    """Per clerk or counter: share satisfied and share called within the target; the row of
    tickets that no one ended or held ("—") is left out."""
    rows = [f for f in report.rows if f.key is not None]
    return Chart(title, charts.percent_rows(
        title, _("Share of ratings 'very satisfied' or 'satisfied', and of called tickets waiting at most the target."),
        [group_name(report, f.key) for f in rows],
        [charts.Series(_("Satisfied"), GREEN), charts.Series(_("Within target"), BLUE)],
        [[_pct(f.satisfied_share), _pct(f.within_target_share)] for f in rows],
        [_("%(num)s served", num=f.served) for f in rows], decimal=decimal))


def _reasons_chart(reasons: ReasonCounts) -> Chart:
    title = _("Reasons for neutral or dissatisfied ratings")
    return Chart(title, charts.stacked_rows(
        title, _("How many citizens who rated 'neutral' or 'dissatisfied' gave each reason."),
        list(reasons.reasons), [charts.Series(_("Ratings with this reason"), ORANGE)],
        [[reasons.totals[r]] for r in reasons.reasons], label_width=300))


def _min(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 60


def _pct(share: float | None) -> float | None:
    return None if share is None else share * 100


def _hour_range(r: Report) -> list[Any]:
    hours = [f.key for f in r.rows]
    return list(range(min(hours), max(hours) + 1)) if hours else []


def _day_range(r: Report) -> list[Any]:
    p = r.period
    return [(p.start + timedelta(days=i)).isoformat() for i in range(p.days)]
