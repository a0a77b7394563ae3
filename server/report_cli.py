"""`queuebox report`: the manager's report of a period in the terminal, as CSV, JSON or XLSX;
every figure (`--layout full`, one row per group) or the month as a commune sends it upward
(`--layout monthly`, one row per service field: `server.report_monthly`).

Reads only the database file, opened read-only: it can run beside a live server or on a copy.
Bad input (a date that is not YYYY-MM-DD, --from after --to, no such file, an XLSX without
--out) exits with status 2 and one line saying what is wrong.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any, Mapping, Sequence, TextIO

from server.reports import (DIMENSIONS, NONE_LABEL, TOTAL, Period, ReasonCounts, Report, ReportError, as_json,
                            open_readonly, reason_counts, report, table)

FORMATS = ("table", "csv", "json", "xlsx")
LAYOUTS = ("full", "monthly")


def iso_date(text: str) -> date:
    """An argparse type: a YYYY-MM-DD date."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date as YYYY-MM-DD") from None


def year_month(text: str) -> Period:
    """An argparse type: a YYYY-MM month, as the period of its days."""
    try:
        return Period.month(date.fromisoformat(f"{text}-01"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a month as YYYY-MM") from None


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `queuebox report` (the caller adds --config)."""
    when = parser.add_mutually_exclusive_group(required=True)
    when.add_argument("--from", dest="start", type=iso_date, metavar="YYYY-MM-DD",
                      help="first business day of the period")
    when.add_argument("--month", type=year_month, metavar="YYYY-MM",
                      help="the period is this calendar month (instead of --from and --to)")
    parser.add_argument("--to", dest="end", type=iso_date, metavar="YYYY-MM-DD",
                        help="last business day of the period, included (default: --from)")
    parser.add_argument("--by", choices=DIMENSIONS, default="service",
                        help="one row per service, counter, clerk, hour of issue or day (default: service)")
    parser.add_argument("--layout", choices=LAYOUTS, default="full",
                        help="full: every figure; monthly: the report a centre sends upward, one row per "
                             "service field: issued, served, within target, no-shows, left without service, "
                             "ratings, satisfied (default: full)")
    parser.add_argument("--format", choices=FORMATS, default="table",
                        help="table (aligned text), csv, json or xlsx (a workbook; needs --out) (default: table)")
    parser.add_argument("--out", metavar="FILE", help="write to FILE instead of the terminal")
    parser.add_argument("--lang", choices=("vi", "en"), default="vi",
                        help="language of the monthly layout: its title and headers; in Vietnamese its CSV "
                             "has a decimal comma and ';' between cells (default: vi)")
    parser.add_argument("--centre", metavar="NAME",
                        help="centre named in the monthly layout's title (default: site.name of the config)")
    parser.add_argument("--database", metavar="PATH",
                        help="database file (default: database.path of the config)")


def period_of(args: argparse.Namespace) -> Period:
    """The period the options name; ReportError if --to goes with --month or ends before --from."""
    if args.month is not None:
        if args.end is not None:
            raise ReportError("--to goes with --from, not with --month")
        return args.month
    return Period(args.start, args.end or args.start)


def cmd_report(args: argparse.Namespace, database: str | Path, out: TextIO | None = None,
               centre: str = "") -> int:
    """Print (or write to --out) the report of `database`; 2 with a message on stderr for bad input.
    `centre` names the centre in the monthly layout's title."""
    try:
        period = period_of(args)
        if args.layout == "monthly" and args.by != "service":
            raise ReportError("the monthly layout has one row per service: leave out --by")
        if args.format == "xlsx" and not args.out:
            raise ReportError("an XLSX workbook is written to a file: add --out FILE")
        db = open_readonly(database)
    except ReportError as exc:
        print(f"queuebox report: {exc}", file=sys.stderr)
        return 2
    try:
        result = report(db, period, args.by)
        reasons = reason_counts(db, period, args.by)
    finally:
        db.close()
    try:
        if args.format == "xlsx":
            write_report_xlsx(result, args.out, layout=args.layout, centre=args.centre or centre, lang=args.lang)
        elif args.out:
            with open(args.out, "w", encoding="utf-8", newline="") as file:
                _write(result, reasons, args, file, args.centre or centre)
        else:
            _write(result, reasons, args, out or sys.stdout, args.centre or centre)
    except OSError as exc:
        print(f"queuebox report: cannot write {args.out}: {exc.strerror}", file=sys.stderr)
        return 2
    return 0


def _write(result: Report, reasons: ReasonCounts, args: argparse.Namespace, out: TextIO, centre: str) -> None:
    if args.layout == "monthly":
        from server.report_monthly import monthly_table

        monthly = monthly_table(result, centre, args.lang)
        if args.format == "json":
            json.dump({"title": monthly.title, "from": result.period.start.isoformat(),
                       "to": result.period.end.isoformat(), "columns": list(monthly.columns),
                       "headers": monthly.headers, "rows": monthly.rows[:-1], "total": monthly.rows[-1]},
                      out, ensure_ascii=False, indent=2)
            out.write("\n")
        elif args.format == "csv":
            write_rows(out, monthly.headers, monthly.rows, decimal_comma=args.lang == "vi")
        else:
            out.write(aligned([monthly.title], monthly.headers, monthly.rows))
    elif args.format == "json":
        json.dump({**as_json(result), "reasons": reasons_json(result, reasons)}, out, ensure_ascii=False, indent=2)
        out.write("\n")
    elif args.format == "csv":
        write_csv(result, out, reasons=reasons)
    else:
        out.write(render_text(result) + render_reasons(result, reasons))


def write_report_xlsx(result: Report, out: Any, *, layout: str = "full", centre: str = "", lang: str = "vi") -> None:
    """The report as an XLSX workbook: the monthly layout, or every figure with the column names."""
    from server.report_xlsx import write_xlsx

    if layout == "monthly":
        from server.report_monthly import monthly_table

        monthly = monthly_table(result, centre, lang)  # type: ignore[arg-type]
        sheet = f"{result.period.start:%m-%Y}" if result.period.days > 1 else str(result.period.start)
        write_xlsx(out, title=monthly.title, sheet=sheet, columns=monthly.columns, headers=monthly.headers,
                   rows=monthly.rows)
        return
    columns, rows = table(result)
    write_xlsx(out, title=f"queuebox report {result.period} by {result.by}" + (f" — {centre}" if centre else ""),
               sheet=f"by {result.by}", columns=columns, headers=columns,
               rows=[[row[c] for c in columns] for row in rows])


def write_csv(result: Report, out: TextIO, *, headers: Mapping[str, str] | None = None,
              total: str = TOTAL, decimal_comma: bool = False, reasons: ReasonCounts | None = None,
              reason_header: str = "reason: %s") -> None:
    """The report as CSV: a header, one line per group, then the totals line.

    `headers` renames columns (a spreadsheet's readers see "Đã cấp", not "issued") and `total`
    names the totals line; `decimal_comma` as in `write_rows`. `reasons` (of the same period and
    grouping) adds a column per reason given, headed `reason_header` with the reason's text,
    counting the ratings that gave it."""
    columns, rows = table(result)
    given = reasons.reasons if reasons else ()
    for row in rows:
        key = row[result.by]
        row.update((f"reason:{r}", reasons.totals[r] if key == TOTAL else reasons.count(key, r))
                   for r in given if reasons)
    rows[-1] = {c: total if v == TOTAL else v for c, v in rows[-1].items()}
    header = [(headers or {}).get(c, c) for c in columns] + [reason_header % r for r in given]
    columns = [*columns, *(f"reason:{r}" for r in given)]
    write_rows(out, header, [[row[c] for c in columns] for row in rows], decimal_comma=decimal_comma)


def write_rows(out: TextIO, header: Sequence[str], rows: Sequence[Sequence[Any]], *,
               decimal_comma: bool = False) -> None:
    """A header and rows as CSV, each cell through `csv_cell`; with `decimal_comma` numbers are
    written 1,5 and cells are separated by ";", as spreadsheet programs read files in a locale
    whose decimal mark is the comma (Vietnamese)."""
    writer = csv.writer(out, lineterminator="\n", delimiter=";" if decimal_comma else ",")
    writer.writerow([csv_cell(h) for h in header])
    for row in rows:
        cells = [csv_cell(v) for v in row]
        writer.writerow([str(v).replace(".", ",") if decimal_comma and isinstance(v, float) else v for v in cells])


# A spreadsheet reads a cell starting with one of these as a formula (or, for tab and CR, strips
# them and then does): a counter named "=HYPERLINK(…)" must stay text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """`value` as a CSV cell: None is empty, text that a spreadsheet would run as a formula
    gets a leading apostrophe (OWASP's advice); numbers are left as they are."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


SHORT = {"name": "", "issued": "issued", "served": "served", "no_show": "no-show", "cancelled": "cancel",
         "left_without_service": "left", "open": "open", "transferred": "transf", "wait_median_min": "wait med", "wait_p90_min": "p90",
         "wait_max_min": "max", "service_median_min": "svc med", "service_p90_min": "p90",
         "service_max_min": "max", "within_target_pct": "≤target%", "rated": "rated",
         "score_1": "1", "score_2": "2", "score_3": "3", "score_4": "4",
         "satisfied_pct": "satisf%", "response_rate_pct": "resp%"}


def render_text(result: Report) -> str:
    """The report as an aligned text table for a terminal (times in minutes)."""
    columns, rows = table(result)
    shown = columns[1:]  # the name column already says the key
    header = [f"by {result.by}", *(SHORT[c] for c in shown[1:])]
    busiest = ", ".join(f"{h:02d}:00 ({n})" for h, n in result.busiest_hours) or NONE_LABEL
    return aligned([f"queuebox report {result.period} — times in minutes, {NONE_LABEL} = none"], header,
                   [[row[c] for c in shown] for row in rows], [f"busiest hours (tickets issued): {busiest}"])


def aligned(above: Sequence[str], header: Sequence[str], rows: Sequence[Sequence[Any]],
            below: Sequence[str] = ()) -> str:
    """Rows as an aligned text table (names left, numbers right), a rule before the last (totals) row."""
    lines = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    text = list(above)
    for i, line in enumerate([list(header), *lines]):
        if i == len(lines):  # before the totals line
            text.append("  ".join("-" * w for w in widths))
        text.append("  ".join(cell.ljust(w) if j == 0 else cell.rjust(w) for j, (cell, w) in enumerate(zip(line, widths))))
    return "\n".join([*text, *below]) + "\n"


def reasons_json(result: Report, reasons: ReasonCounts) -> dict[str, Any]:
    """The reasons as JSON: every reason given, the most first, with its count per group and in total."""
    return {"reasons": list(reasons.reasons), "total": dict(reasons.totals),
            "rows": [{result.by: f.key, "name": result.name(f.key), "counts": dict(reasons.groups[f.key])}
                     for f in result.rows if f.key in reasons.groups]}


def render_reasons(result: Report, reasons: ReasonCounts) -> str:
    """The reasons as text lines: each reason with its total and how it splits over the groups."""
    if not reasons.reasons:
        return "reasons given with ratings 3-4: none\n"
    lines = ["reasons given with ratings 3-4:"]
    for r in reasons.reasons:
        split = ", ".join(f"{result.name(f.key)} {reasons.count(f.key, r)}" for f in result.rows
                          if reasons.count(f.key, r))
        lines.append(f"  {reasons.totals[r]:>4}  {r} ({split})")
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    return NONE_LABEL if value is None else str(value)
