"""A real ward on the board: up to 16 service fields and 20 counters, long counter names, a long
board message, the previous calls in reading order. Each layout is checked with the real fonts'
widths and drawn to a PNG (tests/artifacts/board-<services>-<size>.png) to be looked at."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pygame
import pytest

from display.board import MESSAGE_PAGE_S, Board, Call, next_change, sample_board
from display.boxes import Layout
from display.layout import MAX_SERVICES, MIN_COUNT_U, MIN_NAME_U, layout, message_pages, split_counter_name
from display.render import Fonts, Renderer
from queuebox.config import CounterConfig, ServiceConfig
from tests.display.layout_checks import problems
from tests.display.test_board import NOW
from tests.web.browser import ARTIFACTS

FIELDS = [("Đất đai", "Land"), ("Hộ tịch - Chứng thực", "Civil status and certification"),
          ("Đăng ký kinh doanh", "Business registration"), ("Bảo trợ xã hội", "Social welfare"),
          ("Trả kết quả", "Returning results"), ("Tư pháp", "Justice"), ("Xây dựng", "Construction"),
          ("Lao động - Thương binh và Xã hội", "Labour, invalids and social affairs"), ("Nông nghiệp", "Agriculture"),
          ("Giáo dục", "Education"), ("Y tế", "Health"), ("Tài nguyên - Môi trường", "Natural resources"),
          ("Văn hóa - Thông tin", "Culture and information"), ("Thuế", "Tax"), ("Cư trú", "Residence"),
          ("Khiếu nại - Tố cáo", "Complaints and denunciations")]
LONG_COUNTER = "Quầy 1 - Tiếp nhận hồ sơ đất đai"
SIZES = [(1920, 1080), (1280, 720), (1080, 1920)]
LONG_MESSAGE = ("Từ ngày 01/12/2026 Bộ phận Một cửa tiếp nhận hồ sơ đất đai vào sáng thứ Hai, thứ Tư và thứ Sáu; "
                "công dân vui lòng mang theo căn cước và bản sao giấy tờ, giữ phiếu và theo dõi màn hình.")


@pytest.fixture(scope="module")
def fonts(example_config):
    return Fonts(example_config.display.font_path, example_config.display.font_bold_path)


def ward(config, services: int, message: str = ""):
    """The example centre with `services` fields and 20 counters, the first with a long name."""
    codes = [chr(ord("A") + i) for i in range(services)]
    return dataclasses.replace(
        config,
        services=tuple(ServiceConfig(code=c, name_vi=vi, name_en=en) for c, (vi, en) in zip(codes, FIELDS)),
        counters=tuple(CounterConfig(id=str(i), name=LONG_COUNTER if i == 1 else f"Quầy {i}",
                                     services={codes[(i - 1) % services]: 1}) for i in range(1, 21)),
        display=dataclasses.replace(config.display, message=message))


def draw(lay: Layout, fonts: Fonts, name: str) -> None:
    surface = pygame.Surface((lay.width, lay.height))
    Renderer(surface, fonts).draw(lay)
    ARTIFACTS.mkdir(exist_ok=True)
    pygame.image.save(surface, str(ARTIFACTS / f"{name}.png"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("services", [1, 5, 12, MAX_SERVICES])
def test_every_service_and_its_count_is_on_the_board_whole_and_readable(example_config, fonts, services, size):
    config = ward(example_config, services)
    board = sample_board(config, NOW)
    lay = layout(board, NOW, config, size, measure=fonts.measure)
    draw(lay, fonts, f"board-{services}-{size[0]}x{size[1]}")
    assert problems(lay, fonts.measure) == []
    u = min(size)
    for service in config.services:
        row = lay.box(f"waiting.{service.code}.row")
        name = [lay.box(f"waiting.{service.code}.name"), lay.box(f"waiting.{service.code}.name.line2")]
        count = lay.box(f"waiting.{service.code}.count")
        assert row and name[0] and count, f"{service.code} missing at {size} with {services} services"
        shown = " ".join(b.text for b in name if b)
        assert shown == service.name_vi, f"{service.name_vi!r} is shown as {shown!r}"
        assert min(b.size for b in name if b) >= MIN_NAME_U * u, (service.name_vi, name[0].size)
        assert count.size >= MIN_COUNT_U * u and count.text == str(board.count(service.code))
        for part in [*filter(None, name), lay.box(f"waiting.{service.code}.name2")]:
            if part is not None:  # the name, its second line and its translation stay on their tile
                assert row.y <= part.y and part.y + part.size <= row.y + row.h and row.x <= part.x, part


def test_the_waiting_rows_read_across_then_down(example_config, fonts):
    config = ward(example_config, 12)
    lay = layout(sample_board(config, NOW), NOW, config, (1920, 1080), measure=fonts.measure)
    a, b, c = (lay.box(f"waiting.{code}.row") for code in "ABC")
    assert a.y == b.y and b.x > a.x and c.y > a.y and c.x == a.x


def test_the_previous_calls_read_across_then_down(example_config, fonts):
    lay = layout(sample_board(example_config, NOW), NOW, example_config, (1920, 1080), measure=fonts.measure,
                 slide="history")
    first, second, third = (lay.box(f"history.{i}.label") for i in range(3))
    assert first.y == second.y and second.x > first.x, "the second newest is beside the newest"
    assert third.y > first.y and third.x == first.x


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_a_long_counter_name_keeps_the_counter_large_and_says_what_it_does(example_config, fonts, size):
    config = ward(example_config, 5)
    call = Call("A030", "1", LONG_COUNTER, "A", NOW.isoformat())
    board = Board(seq=5, calls=(call, Call("B027", "1", LONG_COUNTER, "B", NOW.isoformat())))
    lay = layout(board, NOW, config, size, measure=fonts.measure)
    draw(lay, fonts, f"board-long-counter-{size[0]}x{size[1]}")
    assert problems(lay, fonts.measure) == []
    u = min(size)
    assert lay.box("calling.counter").text == "Quầy 1" and lay.box("calling.counter").size >= 0.1 * u
    detail = [lay.box("calling.counter_detail"), lay.box("calling.counter_detail.line2")]
    assert " ".join(b.text for b in detail if b) == "Tiếp nhận hồ sơ đất đai"
    assert min(b.size for b in detail if b) >= 0.03 * u
    assert lay.box("history.0.counter").text == "Quầy 1"


@pytest.mark.parametrize("name, parts", [
    (LONG_COUNTER, ("Quầy 1", "Tiếp nhận hồ sơ đất đai")), ("Quầy 3", ("Quầy 3", "")),
    ("Quầy 2 – Hộ tịch", ("Quầy 2", "Hộ tịch")), ("Quầy 4: Trả kết quả", ("Quầy 4", "Trả kết quả")),
    ("Lao động - ", ("Lao động - ", "")), ("A-B", ("A-B", ""))])
def test_split_counter_name(name, parts):
    assert split_counter_name(name) == parts


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_a_long_board_message_is_shown_whole_page_after_page(example_config, fonts, size):
    config = ward(example_config, 5, message=LONG_MESSAGE)
    board = sample_board(config, NOW)
    shown = []
    at = NOW
    for _ in range(8):
        lay = layout(board, at, config, size, measure=fonts.measure)
        assert problems(lay, fonts.measure) == []
        assert lay.paging
        text = lay.box("footer.message").text
        assert not text.endswith("…") and lay.box("footer.message").size >= 0.03 * min(size)
        if text not in shown:
            shown.append(text)
        turn = next_change(at, None, config, paging=lay.paging)
        assert turn - at <= timedelta(seconds=MESSAGE_PAGE_S)
        at = turn
    shown.sort(key=lambda page: int(page.rsplit("(", 1)[1].split("/")[0]))  # "… (2/4)": page 2
    pages = [page.rsplit(" (", 1)[0] for page in shown]
    assert len(pages) >= 2 and " ".join(pages) == LONG_MESSAGE, shown
    draw(layout(board, NOW, config, size, measure=fonts.measure), fonts, f"board-message-{size[0]}x{size[1]}")


def test_a_short_message_does_not_page_and_does_not_wake_the_display(example_config, fonts):
    lay = layout(sample_board(example_config, NOW), NOW, example_config, (1920, 1080), measure=fonts.measure)
    assert not lay.paging and not lay.box("footer.message").text.endswith(")")
    assert next_change(NOW, None, example_config, paging=lay.paging) == NOW.replace(second=0) + timedelta(minutes=1)


def test_message_pages_cut_at_spaces_and_cut_a_word_longer_than_a_page(fonts):
    pages = message_pages("x" * 300, 400, 30, fonts.measure)
    assert len(pages) > 1 and all(fonts.measure(p, 30, False) <= 400 for p in pages)
    assert "".join(p.rsplit(" (", 1)[0] for p in pages) == "x" * 300
    assert message_pages("Nghỉ trưa", 400, 30, fonts.measure) == ["Nghỉ trưa"]
