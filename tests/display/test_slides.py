"""The board's information slides (display/slides.py, display/slide_layout.py): which slide shows
when, with injected times; what they read from the server's summaries; and their layouts with
the real fonts at each screen size, drawn to tests/artifacts/slide-<kind>-<size>.png to be looked at."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pygame
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from display.board import Highlight, follow, read_board, sample_board
from display.layout import layout
from display.render import PALETTE, Fonts, Renderer, check_glyphs
from display.slide_layout import MIN_TEXT_U, QR_QUIET, qr_matrix
from display.slides import (HISTORY, MAX_LOOKUP_URL, FieldSummary, Slide, SlideSources, deck, next_turn,
                            read_lookup_url, read_summary, sample_sources, showing, with_summary)
from queuebox.catalogue import LIMITS, Procedure
from queuebox.protocol_messages import parse_procedures
from tests.display.layout_checks import problems
from tests.display.test_board import NOW, SIZES, snapshot, with_display
from tests.web.browser import ARTIFACTS

SIZE_IDS = ["1920x1080", "1280x720", "1080x1920"]
URL = "http://192.168.1.10:8081/procedures"
LONG_NAME = ("Thủ tục đăng ký khai sinh kết hợp đăng ký nhận cha, mẹ, con, đăng ký thường trú, cấp thẻ bảo hiểm y tế "
             "cho trẻ em dưới 6 tuổi theo quy trình liên thông điện tử giữa các cơ quan có thẩm quyền trên địa bàn "
             "xã, phường, thị trấn thuộc tỉnh, kèm theo hướng dẫn chi tiết về thành phần hồ sơ và lệ phí kèm theo")
EVERY_TONE = "Cải chính hộ tịch, hỗ trợ mai táng người đã mất"  # ngang, huyền, sắc, hỏi, ngã, nặng
EVERY_LETTER = ("àáảãạ ằắẳẵặ ầấẩẫậ èéẻẽẹ ềếểễệ ìíỉĩị òóỏõọ ồốổỗộ ờớởỡợ ùúủũụ ừứửữự ỳýỷỹỵ đ ăâêôơư "
                "ÀÁẢÃẠ ẰẮẲẴẶ ẦẤẨẪẬ ÈÉẺẼẸ ỀẾỂỄỆ ÌÍỈĨỊ ÒÓỎÕỌ ỒỐỔỖỘ ỜỚỞỠỢ ÙÚỦŨỤ ỪỨỬỮỰ ỲÝỶỸỴ Đ ĂÂÊÔƠƯ")


def procedure(i, name, fee="Miễn phí", time="Trong ngày", spot=False, service="B"):
    return Procedure(id=i, service=service, name_vi=name, fee=fee, processing_time=time, on_the_spot=spot)


def sources_with(*procedures, more=0, url=URL, service="B"):
    return SlideSources((FieldSummary(service, tuple(procedures), more),), url)


@pytest.fixture(scope="module")
def fonts(example_config):
    return Fonts(example_config.display.font_path, example_config.display.font_bold_path)


@pytest.fixture
def config(example_config):
    """The example centre rotating every slide kind, 12 s each, a call highlighted 10 s."""
    return with_display(example_config, slides=("history", "procedures", "lookup", "message", "hotline"),
                        slide_s=12, highlight_s=10)


# --- which slide shows when ----------------------------------------------------------------------

DECK = (HISTORY, Slide("procedures", "B", 0, 2), Slide("procedures", "B", 1, 2), Slide("lookup"))


def at(seconds):
    return NOW + timedelta(seconds=seconds)


def test_a_call_shows_the_history_for_highlight_s_then_the_turn_goes_on_after_it(config):
    call = Highlight(("A023", "3", "", 0), at(0))
    shown = [showing(DECK, at(s), call, config).name for s in (0, 5, 9.99, 10, 21.99, 22, 34, 46, 58)]
    assert shown == ["history", "history", "history", "procedures/B/0", "procedures/B/0", "procedures/B/1",
                     "lookup", "history", "procedures/B/0"]


def test_a_call_arriving_mid_slide_interrupts_it_at_once(config):
    first = Highlight(("A023", "3", "", 0), at(0))
    assert showing(DECK, at(40), first, config) == Slide("lookup")
    board = read_board(snapshot())
    recall = follow(first, read_board(snapshot(calls=[{**snapshot()["calls"][0], "recall": 1}])), at(40.5))
    assert recall.since == at(40.5)  # a recall is a new call
    assert showing(DECK, at(40.5), recall, config) == HISTORY
    assert showing(DECK, at(50.4), recall, config) == HISTORY
    assert showing(DECK, at(50.5), recall, config) == Slide("procedures", "B", 0, 2)
    assert follow(recall, board, at(41)) != recall  # and the next call again


def test_without_any_call_the_slides_turn_from_the_epoch(config):
    turn = config.display.slide_s
    start = at(0).timestamp() // turn * turn
    base = NOW.fromtimestamp(start, NOW.tzinfo)
    names = [showing(DECK, base + timedelta(seconds=turn * k + 1), None, config) for k in range(len(DECK))]
    assert sorted(s.name for s in names) == sorted(s.name for s in DECK)


@pytest.mark.parametrize("slides", [(HISTORY,), (Slide("lookup"),), ()])
def test_one_slide_or_none_never_turns(config, slides):
    assert all(showing(slides, at(s), None, config) == (slides or (HISTORY,))[0] for s in range(0, 100, 7))


def test_a_single_slide_still_gives_way_to_a_call(config):
    call = Highlight(("A023", "3", "", 0), at(0))
    assert showing((Slide("lookup"),), at(3), call, config) == HISTORY
    assert showing((Slide("lookup"),), at(11), call, config) == Slide("lookup")


def test_next_turn_is_the_end_of_the_highlight_then_every_slide_s(config):
    call = Highlight(("A023", "3", "", 0), at(0))
    assert next_turn(at(2), call, config) == at(10)
    assert next_turn(at(10), call, config) == at(22)
    assert next_turn(at(30), call, config) == at(34)
    for s in (0, 3, 10, 17.5, 40):  # nothing changes between now and the next turn
        now, turn = at(s), next_turn(at(s), call, config)
        assert turn > now
        assert showing(DECK, turn - timedelta(milliseconds=1), call, config) == showing(DECK, now, call, config)


# --- what the slides read --------------------------------------------------------------------------

def test_read_summary_keeps_the_catalogue_order_and_clips_to_its_limits():
    raw = parse_procedures('{"seq": 3, "service": "B", "more": 2, "procedures": ['
                           '{"id": 1, "code": "1.001193", "name_vi": "Đăng ký khai sinh", "fee": "Miễn phí",'
                           ' "processing_time": "Trong ngày", "on_the_spot": true},'
                           '{"id": 2, "code": null, "name_vi": "' + "Chứng thực " * 40 + '", "fee": "2.000 đồng/trang"},'
                           '{"id": 3, "name_vi": "   "}]}')
    summary = read_summary("B", raw)
    assert summary.more == 2 and [p.id for p in summary.procedures] == [1, 2]  # a blank name is no procedure
    first, second = summary.procedures
    assert (first.name_vi, first.code, first.fee, first.processing_time, first.on_the_spot) == (
        "Đăng ký khai sinh", "1.001193", "Miễn phí", "Trong ngày", True)
    assert len(second.name_vi) == LIMITS["name_vi"] and second.name_vi.endswith("…") and second.code is None
    assert second.name_vi == second.name_vi.strip()


def test_a_summary_in_decomposed_unicode_is_shown_composed():
    raw = parse_procedures('{"seq": 1, "service": "B", "procedures": [{"id": 1, "name_vi": "Đăng ky\\u0301"}]}')
    assert read_summary("B", raw).procedures[0].name_vi == "Đăng ký"


@pytest.mark.parametrize("raw,url", [
    ({"lookup_url": URL}, URL),
    ({"lookup_url": "https://dichvucong.example.gov.vn/tra-cuu"}, "https://dichvucong.example.gov.vn/tra-cuu"),
    ({}, ""), ({"lookup_url": None}, ""), ({"lookup_url": 7}, ""), ({"lookup_url": "javascript:alert(1)"}, ""),
    ({"lookup_url": "http://a b"}, ""), ({"lookup_url": "http://x/" + "a" * MAX_LOOKUP_URL}, ""), (None, ""),
])
def test_the_lookup_address_is_an_http_address_or_nothing(raw, url):
    assert read_lookup_url(raw) == url


def test_an_empty_summary_removes_the_field_and_a_new_one_replaces_it():
    a = FieldSummary("A", (procedure(1, "Xác nhận tình trạng thửa đất", service="A"),))
    b = FieldSummary("B", (procedure(2, "Đăng ký khai sinh"),))
    sources = with_summary(with_summary(SlideSources(lookup_url=URL), "A", a), "B", b)
    assert [f.service for f in sources.procedures] == ["A", "B"] and sources.lookup_url == URL
    newer = FieldSummary("A", (procedure(3, "Đăng ký biến động đất đai", service="A"),))
    assert with_summary(sources, "A", newer).field("A") == newer
    assert with_summary(sources, "A", None).field("A") is None
    assert with_summary(sources, "A", FieldSummary("A")).field("A") is None  # a summary with nothing in it


# --- the deck: slides with nothing to show are left out ---------------------------------------------------

def test_the_deck_follows_the_configured_order_and_pages_each_field(config):
    board = read_board(snapshot())
    b = FieldSummary("B", tuple(procedure(i, f"Thủ tục {i}") for i in range(7)), more=4)
    a = FieldSummary("A", (procedure(9, "Đất", service="A"),))
    slides = deck(board, config, SlideSources((b, a), URL), per_page=3)
    assert [s.name for s in slides] == ["history", "procedures/A/0", "procedures/B/0", "procedures/B/1",
                                        "procedures/B/2", "lookup", "message", "hotline"]
    assert slides[2].pages == 3  # 7 procedures and the "4 more" line, 3 a page


def test_slides_with_nothing_to_show_are_left_out(config):
    bare = with_display(dataclasses.replace(config, site=dataclasses.replace(config.site, hotline="")), message="")
    one_call = read_board(snapshot(calls=snapshot()["calls"][:1]))
    assert deck(one_call, bare, SlideSources(), 3) == (HISTORY,)  # nothing at all: the history stands in
    assert deck(one_call, bare, SlideSources(lookup_url=URL), 3) == (Slide("lookup"),)
    assert deck(read_board(snapshot()), bare, SlideSources(), 3) == (HISTORY,)
    assert deck(read_board(snapshot(message="Nghỉ trưa 11:30–13:30")), bare, SlideSources(), 3) == (
        HISTORY, Slide("message"))


def test_history_alone_is_the_board_without_slides(example_config):
    """slides = ["history"]: whatever the server sends for slides, the board is the board of before."""
    config = with_display(example_config, slides=("history",))
    board = read_board(snapshot())
    for s in range(0, 120, 5):
        plain = layout(board, at(s), config, (1920, 1080))
        assert plain == layout(board, at(s), config, (1920, 1080), sources=sample_sources(config))
        assert not plain.rotating and plain.slide == "history"


def test_the_layout_turns_only_at_the_slide_turns(config):
    board = read_board(snapshot())
    sources = sample_sources(config)
    call = Highlight(("A023", "3", "2026-11-23T09:41:00.000+07:00", 0), at(0))
    seen = []
    for tenth in range(0, 600):
        lay = layout(board, at(tenth / 10), config, (1920, 1080), sources=sources, highlight=call)
        if not seen or lay.slide != seen[-1][1]:
            seen.append((tenth / 10, lay.slide))
    turns = [t for t, _ in seen]
    assert turns == [0, 10.0, 22.0, 34.0, 46.0, 58.0]
    assert [name for _, name in seen][:3] == ["history", "procedures/A/0", "procedures/B/0"]


# --- the slides drawn ----------------------------------------------------------------------------------------

def draw(lay, fonts, name):
    surface = pygame.Surface((lay.width, lay.height))
    Renderer(surface, fonts).draw(lay)
    ARTIFACTS.mkdir(exist_ok=True)
    pygame.image.save(surface, str(ARTIFACTS / f"{name}.png"))
    return surface


def texts_of(lay, prefix):
    """The texts of the boxes named `prefix` and `prefix.lineN`, in order."""
    return [b.text for b in lay.boxes if b.text and (b.name == prefix or b.name.startswith(prefix + ".line"))]


def check_readable(lay, fonts, size):
    """Whole, inside its box, every glyph there, and no slide text smaller than MIN_TEXT_U."""
    assert problems(lay, fonts.measure) == []
    assert check_glyphs(fonts, lay.texts()) == {}
    u = min(size)
    under = lay.box("calling.panel").y + lay.box("calling.panel").h
    small = [(b.name, b.size) for b in lay.boxes if b.text and b.y >= under and not b.name.startswith(
        ("waiting", "footer")) and b.size < MIN_TEXT_U * u - 1]
    assert small == []


REAL = (procedure(1, "Đăng ký khai sinh", "Miễn phí", "Trong ngày", True),
        procedure(2, "Chứng thực bản sao từ bản chính giấy tờ, văn bản do cơ quan có thẩm quyền cấp",
                  "2.000 đồng/trang; từ trang thứ 3: 1.000 đồng/trang, tối đa 200.000 đồng/bản", "Trong ngày", True),
        procedure(3, "Cấp Giấy chứng nhận quyền sử dụng đất lần đầu", "Theo biểu phí của tỉnh", "30 ngày làm việc"),
        procedure(4, LONG_NAME, "50.000 đồng/bản", "05 ngày làm việc"),
        procedure(5, EVERY_TONE, "Miễn phí", "Trong ngày", True))


def procedure_pages(board, config, size, fonts, sources):
    """The layouts of every procedures slide, as the turn brings them (no call highlighted)."""
    pages = {}
    for s in range(0, config.display.slide_s * 40, config.display.slide_s):
        lay = layout(board, at(s), config, size, measure=fonts.measure, sources=sources)
        if lay.slide.startswith("procedures/"):
            pages.setdefault(lay.slide, lay)
    return [pages[name] for name in sorted(pages)]


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_procedure_slides_show_every_procedure_whole_or_ending_in_an_ellipsis(config, fonts, size):
    board = sample_board(config, NOW)
    pages = procedure_pages(board, config, size, fonts, sources_with(*REAL, more=7))
    assert len(pages) >= 2  # five procedures and the "more" line do not fit one slide
    seen, more = [], []
    for number, lay in enumerate(pages, 1):
        check_readable(lay, fonts, size)
        assert lay.box("procedures.title").text in ("THỦ TỤC – Hộ tịch - Chứng thực", "Hộ tịch - Chứng thực")
        assert lay.box("procedures.title2").text == f"{number}/{len(pages)}"
        assert lay.box("procedures.fee.caption").text == "Phí, lệ phí"
        assert lay.box("procedures.time.caption").text == "Thời hạn"
        for i in range(10):
            if texts_of(lay, f"procedures.{i}.name"):
                seen.append((texts_of(lay, f"procedures.{i}.name"), texts_of(lay, f"procedures.{i}.fee"),
                             texts_of(lay, f"procedures.{i}.time"), lay.box(f"procedures.{i}.on_the_spot")))
            more += texts_of(lay, f"procedures.{i}.more")
        draw(lay, fonts, f"slide-procedures-{size[0]}x{size[1]}-{number}")
    assert more == ["… và 7 thủ tục khác"], "the procedures left out of the summary are counted, last"
    by_name = {" ".join(name): (" ".join(fee), " ".join(time), spot) for name, fee, time, spot in seen}
    assert len(seen) == len(REAL)
    fee, time, spot = by_name["Đăng ký khai sinh"]
    assert (fee, time, spot.text) == ("Miễn phí", "Trong ngày", "Giải quyết ngay")
    fee, time, spot = by_name["Cấp Giấy chứng nhận quyền sử dụng đất lần đầu"]
    assert (fee, time, spot) == ("Theo biểu phí của tỉnh", "30 ngày làm việc", None)
    fee = next(fee for name, (fee, _, _) in by_name.items() if name.startswith("Chứng thực bản sao từ bản chính"))
    assert fee.startswith("2.000 đồng/trang")
    long = next(name for name, *_ in seen if name[0].startswith("Thủ tục đăng ký khai sinh"))
    assert 2 <= len(long) <= 3 and long[-1].endswith("…"), long  # 300 characters cannot fit whole: "…"
    assert LONG_NAME.startswith(" ".join(long)[:-1].rstrip())
    assert by_name[EVERY_TONE][0] == "Miễn phí", "a name with every tone is shown whole"


def test_the_board_fonts_have_every_vietnamese_letter(fonts):
    assert check_glyphs(fonts, [EVERY_LETTER]) == {}


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_the_lookup_slide_draws_a_qr_code_phones_read_across_the_hall(config, fonts, size):
    board = sample_board(config, NOW)
    lay = layout(board, NOW, config, size, measure=fonts.measure, sources=sources_with(*REAL), slide="lookup")
    check_readable(lay, fonts, size)
    assert texts_of(lay, "lookup.title") and " ".join(texts_of(lay, "lookup.title")) == "Tra cứu thủ tục, phí, lệ phí"
    assert lay.box("lookup.title2").text == "Look up procedures and fees"
    assert "".join(texts_of(lay, "lookup.url")) == URL
    surface = draw(lay, fonts, f"slide-lookup-{size[0]}x{size[1]}")
    matrix = qr_matrix(URL)
    qr = lay.box("lookup.qr")
    module = qr.w // (len(matrix) + 2 * QR_QUIET)
    assert qr.w == qr.h == module * (len(matrix) + 2 * QR_QUIET)
    # 55" 1080p: 0.63 mm a pixel; a code of 29 modules read from 2-3 m needs modules of 5 mm or more
    assert module * 0.63 * 1080 / min(size) >= 5.0, module
    read = [[surface.get_at((qr.x + (QR_QUIET + c) * module + module // 2,
                             qr.y + (QR_QUIET + r) * module + module // 2))[:3] == PALETTE["qr_dark"]
             for c in range(len(matrix))] for r in range(len(matrix))]
    assert read == [list(row) for row in matrix], "the drawn code is the code of the address"
    quiet = {surface.get_at((qr.x + 1, y))[:3] for y in range(qr.y, qr.y + qr.h, 3)}
    assert quiet == {PALETTE["qr_light"]}


def test_no_lookup_address_no_qr_slide_and_a_long_one_still_fits(config, fonts):
    board = sample_board(config, NOW)
    assert layout(board, NOW, config, (1920, 1080), sources=SlideSources(), slide="lookup").slide == ""
    long = "https://dichvucong.example.gov.vn/" + "thu-tuc-hanh-chinh/" * 12
    lay = layout(board, NOW, config, (1280, 720), measure=fonts.measure, sources=SlideSources(lookup_url=long),
                 slide="lookup")
    assert problems(lay, fonts.measure) == [] and lay.box("lookup.qr") is not None


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
@pytest.mark.parametrize("kind", ["message", "hotline", "history"])
def test_the_message_hotline_and_history_slides(config, fonts, size, kind):
    board = sample_board(config, NOW)
    lay = layout(board, NOW, config, size, measure=fonts.measure, sources=sample_sources(config), slide=kind)
    check_readable(lay, fonts, size)
    draw(lay, fonts, f"slide-{kind}-{size[0]}x{size[1]}")
    if kind == "message":
        assert " ".join(texts_of(lay, "message.text")) == "Vui lòng giữ phiếu số thứ tự và theo dõi màn hình"
        assert lay.box("message.title").text == "THÔNG BÁO"
    elif kind == "hotline":
        assert lay.box("hotline.number").text == "0274 3 123 456"
    else:
        assert lay.box("history.0.label").text == board.calls[1].ticket


texts = st.text(max_size=320)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=st.lists(st.fixed_dictionaries({"name_vi": texts, "fee": texts, "processing_time": texts,
                                             "on_the_spot": st.booleans()}), max_size=8),
       more=st.integers(0, 500), url=st.text(max_size=40), kind=st.sampled_from(["procedures", "lookup"]),
       size=st.sampled_from(SIZES) | st.tuples(st.integers(200, 3000), st.integers(200, 3000)))
def test_any_summary_gives_a_sane_slide(example_config, items, more, url, kind, size):
    config = with_display(example_config, slides=("history", "procedures", "lookup"))
    raw = {"seq": 1, "service": "B", "more": more,
           "procedures": [{"id": i, **item} for i, item in enumerate(items)]}
    sources = SlideSources((read_summary("B", raw),), read_lookup_url({"lookup_url": "http://h/" + url}))
    lay = layout(sample_board(config, NOW), NOW, config, size, sources=sources, slide=kind)
    assert problems(lay) == []
