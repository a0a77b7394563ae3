"""Drawing layouts with pygame (display/render.py), headless: off-screen surfaces and the dummy video driver."""

from __future__ import annotations

from datetime import timedelta

import pygame
import pygame.freetype
import pytest

from display.board import Highlight, read_board, sample_board
from display.layout import fixed_texts, layout
from display.render import PALETTE, FontError, Fonts, Renderer, check_glyphs
from tests.display.layout_checks import problems
from tests.display.test_board import NOW, SIZES, snapshot

SIZES_IDS = ["1920x1080", "1280x720", "1080x1920"]


@pytest.fixture(scope="module")
def fonts(example_config):
    return Fonts(example_config.display.font_path, example_config.display.font_bold_path)


def pixels(surface):
    return pygame.image.tobytes(surface, "RGB")


def colours_in(surface, rect):
    """The set of colours inside `rect` of `surface`."""
    sub = surface.subsurface(pygame.Rect(rect))
    return {tuple(sub.get_at((x, y)))[:3] for x in range(0, sub.get_width(), 2) for y in range(0, sub.get_height(), 2)}


def test_every_configured_text_has_its_glyphs(example_config, fonts):
    """Vietnamese with diacritics in the configured fonts: get_metrics gives None for a missing glyph."""
    texts = fixed_texts(example_config) + [s.name_vi for s in example_config.services]
    assert "Lao động - Thương binh - Xã hội" in texts and "Mất kết nối máy chủ" in texts
    for path in (example_config.display.font_path, example_config.display.font_bold_path):
        font = pygame.freetype.Font(path)
        for text in texts:
            assert None not in font.get_metrics(text, size=40), (path, text)
    assert check_glyphs(fonts, texts) == {}


def test_missing_glyphs_are_reported(fonts):
    assert check_glyphs(fonts, ["Quầy 3", "窗口 3 ☎"]) == {"窗口 3 ☎": sorted("☎窗口")}


def test_a_missing_font_file_is_a_clear_error(tmp_path):
    with pytest.raises(FontError, match="not found"):
        Fonts(tmp_path / "none.ttf", tmp_path / "none-bold.ttf")


@pytest.mark.parametrize("size", SIZES, ids=SIZES_IDS)
def test_render_each_resolution_to_png(example_config, fonts, tmp_path, size):
    board = sample_board(example_config, NOW)
    lay = layout(board, NOW, example_config, size, measure=fonts.measure, offline=True)
    assert problems(lay, fonts.measure) == []  # with the real font widths too
    renderer = Renderer(pygame.Surface(size), fonts)
    assert renderer.draw(lay) == [pygame.Rect(0, 0, *size)]
    path = renderer.save_png(tmp_path / f"board-{size[0]}x{size[1]}.png")
    image = pygame.image.load(str(path))
    assert image.get_size() == size
    label = lay.box("calling.label")
    assert PALETTE["label"] in colours_in(image, label.rect)  # the ticket label is drawn, in yellow
    assert colours_in(image, lay.box("header").rect) >= {PALETTE["header"], PALETTE["header_text"]}


def test_the_same_layout_draws_nothing(example_config, fonts):
    lay = layout(read_board(snapshot()), NOW, example_config, (1280, 720), measure=fonts.measure)
    renderer = Renderer(pygame.Surface((1280, 720)), fonts)
    renderer.draw(lay)
    before = pixels(renderer.surface)
    assert renderer.draw(layout(read_board(snapshot()), NOW + timedelta(seconds=5), example_config, (1280, 720),
                                measure=fonts.measure)) == []
    assert renderer.frames == 1 and pixels(renderer.surface) == before


@pytest.mark.parametrize("since,later,expected", [
    (NOW - timedelta(minutes=5), timedelta(minutes=1), ["header.clock"]),  # the minute turns: only the clock
    (NOW, timedelta(seconds=0.5), ["calling.panel"]),  # the newest call blinks: only its panel
])
def test_a_change_redraws_only_its_boxes_and_matches_a_full_redraw(example_config, fonts, since, later, expected):
    board = read_board(snapshot())
    seen = Highlight(("A023", "3", "2026-11-23T09:41:00.000+07:00", 0), since)
    size = (1920, 1080)
    renderer = Renderer(pygame.Surface(size), fonts)
    renderer.draw(layout(board, NOW, example_config, size, highlight=seen, measure=fonts.measure, slide="history"))
    new = layout(board, NOW + later, example_config, size, highlight=seen, measure=fonts.measure, slide="history")
    dirty = renderer.draw(new)
    assert dirty == [pygame.Rect(new.box(name).rect) for name in expected]
    fresh = Renderer(pygame.Surface(size), fonts)
    fresh.draw(new)
    assert pixels(renderer.surface) == pixels(fresh.surface)


def test_a_new_call_redraws_the_changed_parts_the_same_as_a_full_redraw(example_config, fonts):
    size = (1080, 1920)
    renderer = Renderer(pygame.Surface(size), fonts)
    renderer.draw(layout(read_board(snapshot()), NOW, example_config, size, measure=fonts.measure))
    calls = [{"ticket": "C007", "counter": "5", "counter_name": "Quầy 5", "service": "C",
              "at": "2026-11-23T09:41:10.000+07:00", "recall": 0}] + snapshot()["calls"]
    new = layout(read_board(snapshot(calls=calls, waiting={"C": 1})), NOW, example_config, size,
                 measure=fonts.measure)
    assert renderer.draw(new)
    fresh = Renderer(pygame.Surface(size), fonts)
    fresh.draw(new)
    assert pixels(renderer.surface) == pixels(fresh.surface)


def test_render_on_the_dummy_video_driver(example_config, fonts, tmp_path):
    pygame.display.init()
    try:
        assert pygame.display.get_driver() == "dummy"
        screen = pygame.display.set_mode((1280, 720))
        renderer = Renderer(screen, fonts)
        lay = layout(sample_board(example_config, NOW), NOW, example_config, (1280, 720), measure=fonts.measure)
        pygame.display.update(renderer.draw(lay))
        assert renderer.frames == 1
        assert PALETTE["label"] in colours_in(screen, lay.box("calling.label").rect)
        assert renderer.save_png(tmp_path / "screen.png").stat().st_size > 10_000
    finally:
        pygame.display.quit()
