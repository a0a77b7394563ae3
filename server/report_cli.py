"""`queuebox report`: the manager's report of a period in the terminal, as CSV or as JSON.

Reads only the database file, opened read-only: it can run beside a live server or on a copy.
Bad input (a date that is not YYYY-MM-DD, --from after --to, no such file) exits with status 2
and one line saying what is wrong.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any, Mapping, TextIO

from server.reports import (DIMENSIONS, NONE_LABEL, TOTAL, Period, ReasonCounts, Report, ReportError, as_json,
                            open_readonly, reason_counts, report, table)

FORMATS = ("table", "csv", "json")


def iso_date(text: str) -> date:
    """An argparse type: a YYYY-MM-DD date."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date as YYYY-MM-DD") from None


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `queuebox report` (the caller adds --config)."""
    parser.add_argument("--from", dest="start", type=iso_date, required=True, metavar="YYYY-MM-DD",
                        help="first business day of the period")
    parser.add_argument("--to", dest="end", type=iso_date, metavar="YYYY-MM-DD",
                        help="last business day of the period, included (default: --from)")
    parser.add_argument("--by", choices=DIMENSIONS, default="service",
                        help="one row per service, counter, clerk, hour of issue or day (default: service)")
    parser.add_argument("--format", choices=FORMATS, default="table",
                        help="table (aligned text), csv or json (default: table)")
    parser.add_argument("--database", metavar="PATH",
                        help="database file (default: database.path of the config)")


def cmd_report(args: argparse.Namespace, database: str | Path, out: TextIO | None = None) -> int:
    """Print the report of `database`; 2 with a message on stderr for bad input."""
    out = out or sys.stdout
    try:
        period = Period(args.start, args.end or args.start)
        db = open_readonly(database)
    except ReportError as exc:
        print(f"queuebox report: {exc}", file=sys.stderr)
        return 2
    try:
        result = report(db, period, args.by)
        reasons = reason_counts(db, period, args.by)
    finally:
        db.close()
    if args.format == "json":
        json.dump({**as_json(result), "reasons": reasons_json(result, reasons)}, out, ensure_ascii=False, indent=2)
        out.write("\n")
    elif args.format == "csv":
        write_csv(result, out, reasons=reasons)
    else:
        out.write(render_text(result) + render_reasons(result, reasons))
    return 0


def write_csv(result: Report, out: TextIO, *, headers: Mapping[str, str] | None = None,
              total: str = TOTAL, decimal_comma: bool = False, reasons: ReasonCounts | None = None,
              reason_header: str = "reason: %s") -> None:
    """The report as CSV: a header, one line per group, then the totals line.

    `headers` renames columns (a spreadsheet's readers see "Đã cấp", not "issued") and `total`
    names the totals line; with
    `decimal_comma` numbers are written 1,5 and cells are separated by ";", as spreadsheet
    programs read files in a locale whose decimal mark is the comma (Vietnamese). `reasons`
    (of the same period and grouping) adds a column per reason given, headed `reason_header`
    with the reason's text, counting the ratings that gave it."""
    columns, rows = table(result)
    given = reasons.reasons if reasons else ()
    writer = csv.writer(out, lineterminator="\n", delimiter=";" if decimal_comma else ",")
    writer.writerow([(headers or {}).get(c, c) for c in columns] + [csv_cell(reason_header % r) for r in given])
    for row in rows:
        key = row[result.by]
        row.update((f"reason:{r}", reasons.totals[r] if key == TOTAL else reasons.count(key, r))
                   for r in given if reasons)
    rows[-1] = {c: total if v == TOTAL else v for c, v in rows[-1].items()}
    columns = [*columns, *(f"reason:{r}" for r in given)]
    for row in rows:
        cells = [csv_cell(row[c]) for c in columns]
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
         "open": "open", "transferred": "transf", "wait_median_min": "wait med", "wait_p90_min": "p90",
         "wait_max_min": "max", "service_median_min": "svc med", "service_p90_min": "p90",
         "service_max_min": "max", "within_target_pct": "≤target%", "rated": "rated",
         "score_1": "1", "score_2": "2", "score_3": "3", "score_4": "4",
         "satisfied_pct": "satisf%", "response_rate_pct": "resp%"}


def render_text(result: Report) -> str:
    """The report as an aligned text table for a terminal (times in minutes)."""
    columns, rows = table(result)
    shown = columns[1:]  # the name column already says the key
    header = [f"by {result.by}", *(SHORT[c] for c in shown[1:])]
    lines = [[_cell(row[c]) for c in shown] for row in rows]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    text = [f"queuebox report {result.period} — times in minutes, {NONE_LABEL} = none"]
    for i, line in enumerate([header, *lines]):
        if i == len(lines):  # before the totals line
            text.append("  ".join("-" * w for w in widths))
        text.append("  ".join(cell.ljust(w) if j == 0 else cell.rjust(w) for j, (cell, w) in enumerate(zip(line, widths))))
    busiest = ", ".join(f"{h:02d}:00 ({n})" for h, n in result.busiest_hours) or NONE_LABEL
    text.append(f"busiest hours (tickets issued): {busiest}")
    return "\n".join(text) + "\n"


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
