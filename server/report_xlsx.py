"""Report tables as XLSX workbooks (openpyxl, imported on first use): a title row, a bold header
that stays in view, numbers stored as numbers with formats (counts, minutes to 0.1,
percentages), columns wide enough for their contents, the totals row in bold.

Text is always stored as text: a service or counter named "=HYPERLINK(…)" never becomes a
formula (openpyxl would otherwise write any text starting with "=" as one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO, Literal, Sequence

Kind = Literal["text", "count", "minutes", "percent"]
NUMBER_FORMATS = {"count": "#,##0", "minutes": "0.0", "percent": "0.0%"}
HEADER_FILL = "DCE6F2"
MAX_NAME_WIDTH = 48


def column_kind(column: str) -> Kind:
    """How a column of a report table is stored: `*_pct` are percentages (written 0–100 in the
    tables, stored as shares so the format shows "85.3%"), `*_min` minutes, names and group keys
    text, the rest counts."""
    if column.endswith("_pct"):
        return "percent"
    if column.endswith("_min"):
        return "minutes"
    if column in ("name", "service", "counter", "clerk", "day"):
        return "text"
    return "count"


def write_xlsx(out: BinaryIO | str | Path, *, title: str, sheet: str, columns: Sequence[str],
               headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """One sheet named `sheet`: `title` in row 1, `headers` in row 2, then `rows` (the last one
    is the totals row). `columns` are the keys of the headers, which set each column's format;
    None is an empty cell."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    book = Workbook()
    ws = book.active
    ws.title = _sheet_name(sheet)
    kinds = [column_kind(c) for c in columns]
    ws.cell(1, 1, title).font = Font(bold=True, size=14)
    ws.cell(1, 1).data_type = "s"
    ws.row_dimensions[1].height = 24
    line = Side(style="thin", color="000000")
    for j, header in enumerate(headers, 1):
        cell = ws.cell(2, j, header)
        cell.data_type = "s"
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor=HEADER_FILL)
        cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="left" if j == 1 else "center")
        cell.border = Border(bottom=line)
    ws.row_dimensions[2].height = 36  # two lines of a wrapped header
    for i, row in enumerate(rows, 3):
        last = i == len(rows) + 2
        for j, (kind, value) in enumerate(zip(kinds, row), 1):
            cell = ws.cell(i, j)
            if value is None:
                continue
            if kind == "percent":
                value = value / 100
            cell.value = value
            if isinstance(value, str):
                cell.data_type = "s"  # text, even when it starts with "="
            if kind in NUMBER_FORMATS:
                cell.number_format = NUMBER_FORMATS[kind]
            if last:
                cell.font = Font(bold=True)
                cell.border = Border(top=line)
    for j, (kind, header) in enumerate(zip(kinds, headers), 1):
        values = [str(row[j - 1]) for row in rows if row[j - 1] is not None]
        longest_word = max((len(w) for w in header.split()), default=0)
        width = max([longest_word + 2, 10, *(len(v) + 2 for v in values)])
        ws.column_dimensions[get_column_letter(j)].width = min(width, MAX_NAME_WIDTH) if kind == "text" else width
    ws.freeze_panes = "B3"  # the title, the header and the names stay in view
    book.save(out)


def _sheet_name(text: str) -> str:
    # Excel refuses these characters in a sheet name, and names over 31 characters.
    return "".join("-" if ch in "[]:*?/\\" else ch for ch in text)[:31] or "Sheet"
