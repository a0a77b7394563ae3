"""The catalogue as a file: reading a CSV or XLSX list as a province publishes it, and writing one.

Reading is all or nothing: `read_catalogue` returns every procedure of the file, or raises
CatalogueFileError listing every problem by line and column. What it refuses, and why:

- more than MAX_FILE_BYTES (refused before anything is parsed), an empty file, a file that is
  neither CSV nor XLSX. The kind is told by the content, not the name: an XLSX file named
  .csv is read as XLSX, a CSV named .xlsx as CSV, a picture or an old .xls is refused;
- a CSV that is not UTF-8 (with or without BOM); the separator is a comma or a semicolon,
  whichever the header row uses;
- a required column missing (field, name), a column it does not know (a typo would lose data);
- a formula. In XLSX, any cell holding a formula. In CSV, a cell beginning with "=", or, in a
  one-line text column (code, names, time, fee, place, address), beginning with "+", "-" or "@"
  — what a spreadsheet would run when the file is opened — except a lone "-" (the published
  "no fee"). A cell written "'=…" (apostrophe first, as `to_csv` writes such text) is the text
  after the apostrophe. A document line may begin with "- " or "+ ": those are bullets;
- every problem `server.catalogue_rules` finds (field unknown, code used twice, text too long,
  address not http(s), more than MAX_PROCEDURES).

Writing: `to_csv` (UTF-8 with BOM, so Excel reads the diacritics, Vietnamese headers) and
`to_xlsx`; reading what they wrote gives the same catalogue back.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from typing import Any, Iterator

from queuebox.catalogue import Procedure
from queuebox.errors import QueueboxError
from queuebox.text import search_words
from server.catalogue_rules import TEXT_FIELDS, Problem, check_catalogue, check_procedure

MAX_FILE_BYTES = 2 * 1024 * 1024
# column -> (the header written, other headers accepted); headers compare without diacritics or case
COLUMNS = {
    "code": ("Mã thủ tục", ("Mã", "Mã TTHC", "code")),
    "service": ("Lĩnh vực", ("field", "service")),
    "name_vi": ("Tên thủ tục", ("Tên thủ tục hành chính", "name_vi", "name")),
    "name_en": ("Tên tiếng Anh", ("name_en", "English name")),
    "documents": ("Thành phần hồ sơ", ("documents",)),
    "processing_time": ("Thời hạn giải quyết", ("processing_time", "Thời gian giải quyết")),
    "fee": ("Phí, lệ phí", ("Phí", "Lệ phí", "fee")),
    "result_place": ("Nơi trả kết quả", ("result_place",)),
    "portal_url": ("Liên kết", ("portal_url", "url", "link")),
    "on_the_spot": ("Giải quyết ngay", ("on_the_spot",)),
    "hidden": ("Ẩn", ("hidden",)),
}
REQUIRED = ("service", "name_vi")
IGNORED = ("stt", "no", "")  # a row number column, an empty header
YES = ("có", "co", "x", "yes", "y", "1", "true")
NO = ("không", "khong", "", "no", "n", "0", "false")
_FORMULA = ("=", "+", "-", "@")
_ONE_LINE = {"code", "name_vi", "name_en", "processing_time", "fee", "result_place", "portal_url"}


@dataclass(frozen=True)
class FileProblem:
    """A problem of the file: `line` (0 for the file as a whole) and `column` (the file's header)."""
    line: int
    column: str
    problem: Problem

    @property
    def text(self) -> str:
        where = f"line {self.line}" if self.line else "the file"
        return f"{where}, {self.column}: {self.problem.text}" if self.column else f"{where}: {self.problem.text}"


class CatalogueFileError(QueueboxError, ValueError):
    """A catalogue file that cannot be imported; `problems` lists everything wrong with it."""

    def __init__(self, problems: list[FileProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(p.text for p in problems[:5]) + (" …" if len(problems) > 5 else ""))


def file_problem(code: str, **values: Any) -> FileProblem:
    return FileProblem(0, "", Problem("", code, values))


# --- reading ----------------------------------------------------------------------------------

def read_catalogue(data: bytes, services: list[str]) -> list[Procedure]:
    """Every procedure of a CSV or XLSX file, in its order (id 0, positions from 1 in each field),
    checked against the centre's `services`; CatalogueFileError with every problem otherwise."""
    if len(data) > MAX_FILE_BYTES:
        raise CatalogueFileError([file_problem("too_big", n=len(data), max=MAX_FILE_BYTES)])
    if not data.strip(b"\xef\xbb\xbf \t\r\n"):
        raise CatalogueFileError([file_problem("empty")])
    is_xlsx = data.startswith(b"PK\x03\x04")  # a zip: XLSX is one, CSV never
    rows = _xlsx_rows(data) if is_xlsx else _csv_rows(data)
    try:
        header_line, header = next(rows)
    except StopIteration:
        raise CatalogueFileError([file_problem("empty")]) from None
    columns, problems = _columns(header)
    if problems:
        raise CatalogueFileError(problems)
    procedures: list[Procedure] = []
    lines: list[int] = []
    counts: dict[str, int] = {}
    for line, cells in rows:
        if not any(text for text, _formula in cells):
            continue  # an empty row between sections
        values: dict[str, str] = {}
        for index, (text, formula) in enumerate(cells):
            key = columns.get(index)
            if key is None:
                continue
            if formula or (not is_xlsx and _looks_like_formula(key, text)):
                problems.append(FileProblem(line, header[index][0], Problem(key, "formula")))
            quoted = not is_xlsx and text.startswith("'") and text[1:].startswith(_FORMULA)
            values[key] = text[1:] if quoted else text
        flags = {}
        for key in ("on_the_spot", "hidden"):
            flags[key] = _yes_no(values.get(key, ""))
            if flags[key] is None:
                where = header[_index_of(columns, key)][0]
                problems.append(FileProblem(line, where, Problem(key, "bad_yes_no", {"value": values[key]})))
        procedure, found = check_procedure(values, services, on_the_spot=bool(flags["on_the_spot"]),
                                           hidden=bool(flags["hidden"]))
        problems += [FileProblem(line, _header_of(columns, header, p.field), p) for p in found]
        counts[procedure.service] = counts.get(procedure.service, 0) + 1
        procedures.append(Procedure(**{**procedure.__dict__, "position": counts[procedure.service]}))
        lines.append(line)
    if not procedures and not problems:
        problems.append(file_problem("no_rows"))
    for index, p in check_catalogue(procedures):
        problems.append(FileProblem(lines[index], _header_of(columns, header, p.field), p) if index >= 0
                        else FileProblem(0, "", p))
    if problems:
        raise CatalogueFileError(sorted(problems, key=lambda p: p.line))
    return procedures


Rows = Iterator[tuple[int, list[tuple[str, bool]]]]  # (line, [(text, is a formula)])


def _csv_rows(data: bytes) -> Rows:
    if b"\x00" in data[:4096] or data.startswith(b"\xd0\xcf\x11\xe0"):
        detail = "an old .xls: save it as .xlsx" if data.startswith(b"\xd0\xcf\x11\xe0") else "binary content"
        raise CatalogueFileError([file_problem("not_a_table", detail=detail)])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CatalogueFileError([file_problem("not_utf8")]) from None
    first = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=";" if first.count(";") > first.count(",") else ",")
    line = 1
    try:
        for cells in reader:
            yield line, [(cell, False) for cell in cells]
            line = reader.line_num + 1
    except csv.Error as exc:
        raise CatalogueFileError([FileProblem(line, "", Problem("", "not_a_table", {"detail": str(exc)}))]) from None


def _xlsx_rows(data: bytes) -> Rows:
    import openpyxl  # only the server needs it, and only here

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise CatalogueFileError([file_problem("not_a_table", detail=f"not a workbook: {exc}")]) from None
    try:
        for row in book.worksheets[0].iter_rows():
            cells = [(_cell_text(c.value), getattr(c, "data_type", "") == "f") for c in row]
            if row:
                yield getattr(row[0], "row", 0) or 0, cells
    finally:
        book.close()


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _columns(header: list[tuple[str, bool]]) -> tuple[dict[int, str], list[FileProblem]]:
    """Column index -> key, and the problems of the header row."""
    names = {" ".join(search_words(h)): key for key, (written, others) in COLUMNS.items() for h in (written, *others)}
    columns: dict[int, str] = {}
    problems = []
    for index, (text, _formula) in enumerate(header):
        folded = " ".join(search_words(text))
        if folded in names and names[folded] not in columns.values():
            columns[index] = names[folded]
        elif folded not in IGNORED:
            known = ", ".join(written for written, _others in COLUMNS.values())
            problems.append(file_problem("unknown_column", column=text, known=known))
    for key in REQUIRED:
        if key not in columns.values():
            problems.append(file_problem("missing_column", column=f"{COLUMNS[key][0]} ({key})"))
    return columns, problems


def _looks_like_formula(key: str, text: str) -> bool:
    return text.startswith("=") or (key in _ONE_LINE and text.startswith(_FORMULA) and text != "-")


def _yes_no(text: str) -> bool | None:
    folded = text.strip().casefold()
    return True if folded in YES else False if folded in NO else None


def _index_of(columns: dict[int, str], key: str) -> int:
    return next(i for i, k in columns.items() if k == key)


def _header_of(columns: dict[int, str], header: list[tuple[str, bool]], key: str) -> str:
    return header[_index_of(columns, key)][0] if key in columns.values() else COLUMNS.get(key, (key,))[0]


# --- writing ----------------------------------------------------------------------------------

EXPORT_KEYS = (*TEXT_FIELDS, "on_the_spot", "hidden")


def _row(p: Procedure) -> list[str]:
    values = {**p.__dict__, "code": p.code or "", "documents": "\n".join(p.documents)}
    return [("Có" if values[k] else "Không") if k in ("on_the_spot", "hidden") else values[k] for k in EXPORT_KEYS]


def to_csv(procedures: list[Procedure]) -> bytes:
    """The catalogue as CSV: UTF-8 with BOM, comma separated, Vietnamese headers; text that a
    spreadsheet would run as a formula is written with an apostrophe first."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([COLUMNS[k][0] for k in EXPORT_KEYS])
    for p in procedures:
        writer.writerow(["'" + v if v.startswith(_FORMULA) and v != "-" else v for v in _row(p)])
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(procedures: list[Procedure]) -> bytes:
    """The catalogue as an XLSX workbook of one sheet, Vietnamese headers, every cell text."""
    import openpyxl
    from openpyxl.styles import Alignment, Font

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Thủ tục"
    sheet.append([COLUMNS[k][0] for k in EXPORT_KEYS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for p in procedures:
        sheet.append(_row(p))
        for cell in sheet[sheet.max_row]:
            cell.data_type = "s"  # text, even "=…": never a formula
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    for letter, width in zip("ABCDEFGHIJK", (12, 8, 60, 40, 60, 20, 30, 30, 30, 10, 6)):
        sheet.column_dimensions[letter].width = width
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
