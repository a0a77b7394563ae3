"""The public procedure lookup (/procedures): fields, search without diacritics, a field, one
procedure with its QR code; hidden and unknown ones a 404 of its own; no cookie ever; Vietnamese
first with English links; cacheable. The catalogue is tests.factories.SAMPLE_PROCEDURES in a real
SQLite file (the `procedures` fixture)."""

from __future__ import annotations

import re

import pytest

from server.web import procedures as lookup
from tests.factories import BIRTH_PORTAL, EVERY_TONE, LONG_NAME, insert_procedures

BIRTH, COPY, MARRIAGE, DEATH_HIDDEN, TONES, LAND, LONG = range(7)  # SAMPLE_PROCEDURES' order


def get(client, path, status=200):
    response = client.get(path)
    assert response.status_code == status, (path, response.status_code)
    return response.get_data(as_text=True)


def list_names(html):
    """The procedure (or field) names of a page's list, in order."""
    return [re.sub(r"\s+", " ", n).strip() for n in re.findall(r'<span class="lk-name">([^<]*)</span>', html)]


# --- the fields and the search -------------------------------------------------------------

def test_the_index_lists_the_fields_with_procedures_in_service_order_with_their_counts(client, procedures):
    html = get(client, "/procedures")
    assert list_names(html) == ["Đất đai", "Hộ tịch - Chứng thực"]  # C has none; B's hidden one not counted
    assert re.findall(r'<span class="lk-count">([^<]*)</span>', html) == ["2 thủ tục", "4 thủ tục"]
    assert 'href="/procedures/field/A"' in html and 'href="/procedures/field/B"' in html
    assert '<form class="lk-search" method="get" action="/procedures"' in html and 'name="q"' in html


@pytest.mark.parametrize("query, found", [
    ("dang ky khai sinh", [LONG_NAME, "Đăng ký khai sinh"]),  # the long one speaks of it too
    ("ĐĂNG KÝ KHAI SINH", [LONG_NAME, "Đăng ký khai sinh"]),
    ("Đăng ký khai sinh", [LONG_NAME, "Đăng ký khai sinh"]),
    ("khai s", [LONG_NAME, "Đăng ký khai sinh"]),
    ("1.001193", ["Đăng ký khai sinh"]),
    ("birth", ["Đăng ký khai sinh"]),
])
def test_search_finds_a_procedure_with_or_without_diacritics(client, procedures, query, found):
    html = get(client, "/procedures?" + f"q={query}")
    assert list_names(html) == found
    assert f'href="/procedures/{procedures[BIRTH]}"' in html
    assert f"Tìm thấy {len(found)} thủ tục cho “{query}”" in html
    assert "<span>Hộ tịch - Chứng thực</span>" in html  # the field, under the name


def test_search_lists_in_the_centres_field_order(client, procedures):
    assert list_names(get(client, "/procedures?q=dang ky")) == [LONG_NAME, "Đăng ký khai sinh", "Đăng ký kết hôn"]


def test_a_hidden_procedure_is_never_found(client, procedures):
    html = get(client, "/procedures?q=death registration")
    assert list_names(html) == [] and "Không tìm thấy thủ tục nào" in html and "Đăng ký khai tử" not in html


def test_a_search_of_no_word_shows_the_fields(client, procedures):
    html = get(client, "/procedures?q=%20!!%20")
    assert list_names(html) == ["Đất đai", "Hộ tịch - Chứng thực"] and "Tìm thấy" not in html


def test_the_search_is_shown_escaped_and_cut_to_its_limit(client, procedures):
    html = get(client, "/procedures?q=" + "<b>x</b>" + "a" * 300)
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html
    value = re.search(r'name="q" value="([^"]*)"', html).group(1)
    assert len(value.replace("&lt;", "<").replace("&gt;", ">")) == lookup.MAX_QUERY


def test_a_search_that_finds_many_lists_the_first_ones_and_says_so(client, engine):
    insert_procedures(engine.db_path, [{"service": "C", "name_vi": f"Đăng ký hộ kinh doanh {n}"} for n in range(60)])
    html = get(client, "/procedures?q=ho kinh doanh")
    assert len(list_names(html)) == lookup.MAX_RESULTS
    assert "Tìm thấy 60 thủ tục" in html and f"Chỉ hiện {lookup.MAX_RESULTS} thủ tục đầu" in html


def test_an_empty_catalogue_says_so(client, engine):
    html = get(client, "/procedures")
    assert list_names(html) == [] and "Trung tâm chưa công bố danh mục thủ tục" in html


# --- a field, a procedure ------------------------------------------------------------------

def test_a_field_lists_its_shown_procedures_in_their_order(client, procedures):
    html = get(client, "/procedures/field/B")
    assert "<h1>Hộ tịch - Chứng thực</h1>" in html and "4 thủ tục" in html
    assert list_names(html) == ["Đăng ký khai sinh", "Chứng thực bản sao từ bản chính giấy tờ, văn bản",
                                "Đăng ký kết hôn", EVERY_TONE]
    assert html.count("Giải quyết ngay") == 2  # the two done on the spot


def test_a_field_without_procedures_says_so(client, procedures):
    html = get(client, "/procedures/field/C")
    assert "<h1>Đăng ký kinh doanh</h1>" in html and "Lĩnh vực này chưa có thủ tục" in html


def test_a_procedure_shows_what_to_bring_time_fee_place_and_portal(client, procedures):
    html = get(client, f"/procedures/{procedures[BIRTH]}")
    assert '<h1 class="lk-title">Đăng ký khai sinh</h1>' in html
    assert "Mã 1.001193" in html and "Lĩnh vực: Hộ tịch - Chứng thực" in html
    assert 'href="/procedures/field/B"' in html
    docs = re.search(r'<ol class="lk-docs">(.*?)</ol>', html, re.S).group(1)
    assert re.findall(r"<li>([^<]*)</li>", docs) == [
        "Tờ khai đăng ký khai sinh theo mẫu", "Giấy chứng sinh (bản chính)",
        "Giấy tờ tùy thân của người đi đăng ký (xuất trình)"]
    for label, value in [("Thời hạn giải quyết", "Trong ngày"), ("Phí, lệ phí", "Miễn phí"),
                         ("Nơi trả kết quả", "Bộ phận Một cửa UBND xã")]:
        assert f"<dt>{label}</dt><dd>{value}</dd>" in html
    assert '<span class="lk-badge lk-badge-big">Giải quyết ngay</span>' in html
    assert f'href="{BIRTH_PORTAL.replace("&", "&amp;")}"' in html and "Xem trên Cổng Dịch vụ công" in html


def test_the_qr_code_holds_the_portal_link(client, procedures):
    html = get(client, f"/procedures/{procedures[BIRTH]}")
    assert lookup.qr_svg(BIRTH_PORTAL) in html and "Quét mã để mở trang Cổng Dịch vụ công" in html


def test_without_a_portal_link_the_qr_code_holds_this_pages_public_address(client, engine, procedures):
    html = get(client, f"/procedures/{procedures[COPY]}")
    public_address = f"{engine.config.server.public_url.rstrip('/')}/procedures/{procedures[COPY]}"
    assert lookup.qr_svg(public_address) in html and "Quét mã để mở trang này" in html
    assert "Cổng Dịch vụ công</a>" not in html
    assert lookup.qr_svg(public_address + "?lang=en") in get(client, f"/procedures/{procedures[COPY]}?lang=en")


def test_a_procedure_not_done_on_the_spot_has_no_badge_and_no_missing_facts(client, procedures):
    html = get(client, f"/procedures/{procedures[TONES]}")
    assert EVERY_TONE in html and "Giải quyết ngay" not in html and "Mã " not in html
    assert "Nơi trả kết quả" not in html and "Vui lòng hỏi tại quầy." in html  # no documents given


def test_a_portal_link_that_is_not_a_web_address_is_not_linked(client, engine):
    [pid] = insert_procedures(engine.db_path, [{"service": "B", "name_vi": "Đăng ký lại khai sinh",
                                                "portal_url": "javascript:alert(1)"}])
    html = get(client, f"/procedures/{pid}")
    assert "javascript:" not in html and "Quét mã để mở trang này" in html


def test_a_procedure_of_a_field_no_longer_configured_still_shows(client, engine):
    [pid] = insert_procedures(engine.db_path, [{"service": "Z", "name_vi": "Cấp phép xây dựng"}])
    assert list_names(get(client, "/procedures?q=xay dung")) == ["Cấp phép xây dựng"]
    html = get(client, f"/procedures/{pid}")
    assert "Lĩnh vực: Z" in html and "/procedures/field/Z" not in html
    get(client, "/procedures/field/Z", status=404)


@pytest.mark.parametrize("path", ["/procedures/{hidden}", "/procedures/999999", "/procedures/field/Z",
                                  "/procedures/field/a", "/procedures/abc", "/procedures/1/x", "/procedures/-1"])
def test_hidden_and_unknown_are_a_friendly_404(client, procedures, path):
    html = get(client, path.format(hidden=procedures[DEATH_HIDDEN]), status=404)
    assert "không có trong danh mục của trung tâm" in html and 'href="/procedures"' in html
    assert "Đăng ký khai tử" not in html and "csrf" not in html


# --- language, cookies, caching ------------------------------------------------------------

def test_english_on_request_with_links_that_keep_it(client, procedures):
    html = get(client, f"/procedures/{procedures[BIRTH]}?lang=en")
    assert '<html lang="en">' in html and '<h1 class="lk-title">Birth registration</h1>' in html
    assert "Documents to bring" in html and "Done on the spot" in html and "Field: Civil status" in html
    assert 'href="/procedures/field/B?lang=en"' in html and 'href="/procedures?lang=en"' in html
    search = get(client, "/procedures?q=khai+sinh&lang=en")
    assert "2 procedures found for “khai sinh”" in search and 'name="lang" value="en"' in search
    assert 'href="/procedures?q=khai+sinh&amp;lang=vi"' in search  # the switch keeps the search


def test_vietnamese_links_carry_no_language(client, procedures):
    html = get(client, "/procedures")
    assert 'href="/procedures/field/A"' in html and 'name="lang"' not in html and 'href="/procedures?lang=en"' in html


def test_a_language_cookie_is_neither_set_nor_followed(client, procedures):
    client.set_cookie("lang", "en")
    assert "Thủ tục hành chính" in get(client, "/procedures")  # the URL alone decides: caches keep pages by URL


@pytest.mark.parametrize("path", ["/procedures", "/procedures?lang=en", "/procedures?q=khai+sinh&lang=en",
                                  "/procedures/field/B?lang=en", "/procedures/{birth}?lang=en",
                                  "/procedures/{birth}?lang=vi", "/procedures/999999?lang=en", "/procedures/x/y"])
def test_no_cookie_is_ever_set(client, procedures, path):
    response = client.get(path.format(birth=procedures[BIRTH]))
    assert response.status_code in (200, 404)
    assert "Set-Cookie" not in response.headers
    assert list(client._cookies) == []


def test_pages_are_cacheable_a_minute_and_revalidated_by_etag(client, procedures):
    response = client.get(f"/procedures/{procedures[BIRTH]}")
    assert response.headers["Cache-Control"] == f"public, max-age={lookup.MAX_AGE_S}"
    etag = response.headers["ETag"]
    again = client.get(f"/procedures/{procedures[BIRTH]}", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    english = client.get(f"/procedures/{procedures[BIRTH]}?lang=en", headers={"If-None-Match": etag})
    assert english.status_code == 200


def test_pages_are_gzipped_for_phones_that_take_it(client, procedures):
    import gzip
    plain = client.get("/procedures/field/B")
    packed = client.get("/procedures/field/B", headers={"Accept-Encoding": "gzip, deflate"})
    assert "Content-Encoding" not in plain.headers and packed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.data) == plain.data and len(packed.data) < len(plain.data) / 2
    assert "Accept-Encoding" in packed.headers["Vary"] and packed.headers["ETag"] != plain.headers["ETag"]
    again = client.get("/procedures/field/B", headers={"Accept-Encoding": "gzip", "If-None-Match": packed.headers["ETag"]})
    assert again.status_code == 304


def test_the_pages_have_no_script_no_inline_style_and_ask_nothing(client, procedures):
    for path in ["/procedures", "/procedures?q=dat", "/procedures/field/A", f"/procedures/{procedures[LAND]}"]:
        html = get(client, path)
        assert "<script" not in html and "style=" not in html and 'method="post"' not in html
        assert set(re.findall(r'<input [^>]*name="([^"]+)"', html)) <= {"q"}  # a search, nothing about anyone
