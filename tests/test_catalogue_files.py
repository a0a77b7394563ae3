"""Importing and exporting the procedure catalogue as CSV and XLSX (server/catalogue_files.py):
every bad file is refused whole, with each problem by line and column; what is exported
imports back the same."""

from __future__ import annotations

import io
import unicodedata
from dataclasses import replace
from pathlib import Path

import openpyxl
import pytest

from queuebox.catalogue import LIMITS, MAX_PROCEDURES, Procedure
from server.catalogue_files import MAX_FILE_BYTES, CatalogueFileError, read_catalogue, to_csv, to_xlsx

SERVICES = ["A", "B", "C", "D", "E"]
EXAMPLE = Path(__file__).parents[1] / "config" / "procedures.example.csv"
HEADER = "Mã thủ tục,Lĩnh vực,Tên thủ tục,Phí, lệ phí"


def csv_file(*rows: str, header: str = "Mã thủ tục,Lĩnh vực,Tên thủ tục,\"Phí, lệ phí\"") -> bytes:
    return ("\r\n".join([header, *rows]) + "\r\n").encode("utf-8")


def xlsx_file(rows: list[list[object]]) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def problems_of(data: bytes) -> list[str]:
    with pytest.raises(CatalogueFileError) as caught:
        read_catalogue(data, SERVICES)
    return [p.text for p in caught.value.problems]


def test_a_semicolon_csv_with_bom_and_bulleted_documents_is_read_in_order():
    data = ("\ufeffLĩnh vực;Tên thủ tục;Thành phần hồ sơ;Giải quyết ngay;Phí, lệ phí\n"
            "B;Đăng ký khai sinh;\"- Tờ khai theo mẫu\n- Giấy chứng sinh\";Có;Miễn phí (đúng hạn)\n"
            "B;Đăng ký kết hôn;;x;-\n"
            "A;Cấp đổi Giấy chứng nhận;;Không;50.000 đồng/giấy\n").encode()
    first, second, third = read_catalogue(data, SERVICES)
    assert first == Procedure(id=0, service="B", name_vi="Đăng ký khai sinh", documents=("Tờ khai theo mẫu",
                              "Giấy chứng sinh"), fee="Miễn phí (đúng hạn)", on_the_spot=True, position=1)
    assert (second.position, second.on_the_spot, second.fee) == (2, True, "-")
    assert (third.service, third.position, third.on_the_spot) == ("A", 1, False)


def test_english_headers_are_accepted():
    data = b"code,field,name_vi,name_en,fee,on_the_spot\n1.001193,b,Dang ky,Birth,Free,yes\n"
    [p] = read_catalogue(data, SERVICES)
    assert (p.code, p.service, p.name_en, p.on_the_spot) == ("1.001193", "B", "Birth", True)


def test_every_problem_is_reported_by_line_and_column_and_nothing_is_read():
    data = csv_file("1.1,A,Đăng ký đất đai,100.000 đồng",
                    "1.2,Q,Thủ tục của lĩnh vực không có,Miễn phí",
                    "1.1,B,Mã trùng,Miễn phí",
                    "1.3,B,,Miễn phí")
    assert problems_of(data) == [
        "line 3, Lĩnh vực: Q is not the code of a service (fields: A, B, C, D, E)",
        "line 4, Mã thủ tục: procedure code 1.1 is used by another procedure",
        "line 5, Tên thủ tục: required",
    ]


def test_a_missing_column_is_named():
    assert problems_of(b"Ma thu tuc,Ten thu tuc\n1,Dang ky\n") == ["the file: column Lĩnh vực (service) is missing"]


def test_an_unknown_column_is_refused_rather_than_lost():
    [problem] = problems_of("Lĩnh vực,Tên thủ tục,Phi le phi,Ghi chú\nA,X,1,2\n".encode())
    assert problem.startswith("the file: column Ghi chú is not known")


@pytest.mark.parametrize("cell", ["=1+1", "=HYPERLINK(\"http://x\")", "+50.000", "-2+3", "@SUM(A1)"])
def test_a_csv_formula_in_a_text_column_is_refused(cell):
    assert problems_of(csv_file(f"1,A,Đăng ký,{cell}")) == ["line 2, Phí, lệ phí: is a spreadsheet formula: "
                                                           "write the text itself"]


def test_a_lone_dash_fee_and_apostrophe_quoted_text_are_text():
    [p] = read_catalogue(csv_file("1,A,'=Tên lạ,-"), SERVICES)
    assert (p.name_vi, p.fee) == ("=Tên lạ", "-")


def test_an_xlsx_formula_cell_is_refused():
    data = xlsx_file([["Lĩnh vực", "Tên thủ tục", "Phí, lệ phí"], ["A", "Đăng ký", "=10*1000"], ["B", "Khác", "+5"]])
    assert problems_of(data) == ["line 2, Phí, lệ phí: is a spreadsheet formula: write the text itself"]


def test_a_file_over_2_mb_is_refused_before_it_is_read():
    big = csv_file(*["1,A,x,y"]) + b"#" * (5 * 1024 * 1024)
    assert problems_of(big) == [f"the file: the file has {len(big)} bytes; at most {MAX_FILE_BYTES} (2 MB)"]


def test_a_png_named_csv_is_refused():
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
    assert problems_of(png) == ["the file: the file is neither CSV nor XLSX (binary content)"]


def test_an_old_xls_is_refused_with_what_to_do():
    assert "save it as .xlsx" in problems_of(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)[0]


def test_a_csv_not_in_utf8_is_refused():
    windows_1258 = b"Linh vuc,Ten thu tuc\nA,\xd0\xe3ng k\xfd\n"  # "Đăng ký" as old Windows wrote it
    assert problems_of(windows_1258) == [
        "the file: the CSV is not UTF-8 text: save it as \"CSV UTF-8\""]


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b" \r\n"])
def test_an_empty_file_is_refused(data):
    assert problems_of(data) == ["the file: the file is empty: nothing to import"]


def test_a_header_without_rows_is_refused():
    assert problems_of(b"Linh vuc,Ten thu tuc\n") == ["the file: the file has a header but no procedure"]


def test_the_kind_is_told_by_content_not_name(tmp_path):
    """An XLSX renamed .csv and a CSV renamed .xlsx both read (the reader never sees a name)."""
    xlsx = xlsx_file([["Lĩnh vực", "Tên thủ tục"], ["A", "Đăng ký đất đai"]])
    assert [p.name_vi for p in read_catalogue(xlsx, SERVICES)] == ["Đăng ký đất đai"]
    assert [p.name_vi for p in read_catalogue(csv_file("1,A,Đăng ký,0"), SERVICES)] == ["Đăng ký"]


@pytest.mark.parametrize("length, refused", [(LIMITS["name_vi"], False), (LIMITS["name_vi"] + 1, True)])
def test_a_name_may_have_300_characters_not_301(length, refused):
    data = csv_file(f"1,A,{'Đ' * length},0")
    if refused:
        assert problems_of(data) == [f"line 2, Tên thủ tục: at most 300 characters (this has {length})"]
    else:
        assert read_catalogue(data, SERVICES)[0].name_vi == "Đ" * length


def test_more_than_max_procedures_are_refused():
    rows = [f"A,Thủ tục {i}" for i in range(MAX_PROCEDURES + 1)]
    assert problems_of(("Lĩnh vực,Tên thủ tục\n" + "\n".join(rows)).encode()) == [
        f"the file: at most {MAX_PROCEDURES} procedures (this has {MAX_PROCEDURES + 1})"]


def test_a_portal_link_must_be_http():
    data = "Lĩnh vực,Tên thủ tục,Liên kết\nA,X,javascript:alert(1)\nA,Y,https://dichvucong.gov.vn/p/1\n".encode()
    assert problems_of(data) == ["line 2, Liên kết: must be an address beginning with http:// or https://"]


def test_a_yes_no_cell_must_be_yes_or_no():
    data = "Lĩnh vực,Tên thủ tục,Giải quyết ngay\nA,X,có lẽ\n".encode()
    assert problems_of(data) == ["line 2, Giải quyết ngay: write Có or Không (yes/no, x or 1/0), not có lẽ"]


TONES = "a à á ả ã ạ ă ằ ắ ẳ ẵ ặ â ầ ấ ẩ ẫ ậ đ Đ ê ề ế ể ễ ệ ì í ỉ ĩ ị ò ó ỏ õ ọ ô ồ ố ổ ỗ ộ ơ ờ ớ ở ỡ ợ ù ú ủ ũ ụ ư ừ ứ ử ữ ự ỳ ý ỷ ỹ ỵ"


def catalogue() -> list[Procedure]:
    return [
        Procedure(id=0, service="B", name_vi="Đăng ký khai sinh " + TONES, name_en="Birth registration",
                  code="1.001193", documents=("Tờ khai theo mẫu", "Giấy chứng sinh"), processing_time="Trong ngày",
                  fee="Miễn phí (đúng hạn)", result_place="Bộ phận Một cửa", portal_url="https://dichvucong.gov.vn/x",
                  on_the_spot=True, position=1),
        Procedure(id=0, service="B", name_vi="=Không phải công thức", fee="+50.000", processing_time="-3 ngày",
                  position=2, hidden=True),
        Procedure(id=0, service="A", name_vi="Tách thửa", code="007", fee="-", position=1),
    ]


@pytest.mark.parametrize("write", [to_csv, to_xlsx])
def test_export_then_import_gives_the_same_catalogue(write):
    assert read_catalogue(write(catalogue()), SERVICES) == catalogue()


def test_decomposed_vietnamese_is_stored_composed():
    [p] = read_catalogue(csv_file(unicodedata.normalize("NFD", "1,A,Đăng ký kết hôn,Miễn phí")), SERVICES)
    assert p.name_vi == unicodedata.normalize("NFC", "Đăng ký kết hôn")


def test_exported_csv_guards_formulas_for_spreadsheets():
    text = to_csv(catalogue()).decode("utf-8-sig")
    assert ",'=Không phải công thức," in text and ",'+50.000," in text and ",-," in text


def test_the_example_catalogue_imports_with_30_procedures_over_four_fields():
    procedures = read_catalogue(EXAMPLE.read_bytes(), SERVICES)
    assert len([p for p in procedures if p.service in "ABCD"]) >= 30
    assert {p.service for p in procedures} >= {"A", "B", "C", "D"}
    assert all(p.name_en for p in procedures)
    assert max(len(p.name_vi) for p in procedures) >= 200
    assert replace(procedures[0], id=0) in read_catalogue(to_xlsx(procedures), SERVICES)
