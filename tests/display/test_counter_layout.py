"""A counter display's picture (display/counter_layout.py, queuebox/counter_screen.py): pure layouts
checked box by box, then drawn with pygame (dummy driver) at every size to PNGs that are looked at
(tests/artifacts/counter-display/)."""

from __future__ import annotations

import unicodedata
from datetime import timedelta
from pathlib import Path

import pygame
import pytest

from display.board import Board, Call, Highlight, follow
from display.counter_layout import call_highlight, counter_fixed_texts, counter_layout
from display.render import Fonts, Renderer, check_glyphs
from queuebox.counter_screen import REMOVED, counter_call, screen_of
from tests.display.layout_checks import problems
from tests.factories import MONDAY_9AM, make_config

NOW = MONDAY_9AM + timedelta(minutes=41, seconds=12)
SIZES = [(800, 480), (1280, 720), (1920, 1080), (1080, 1920)]
SIZE_IDS = ["800x480", "1280x720", "1920x1080", "1080x1920"]
# 40 characters, every Vietnamese tone: ngang (đai), huyền (ầ), sắc (ấ), hỏi (ủ), ngã (ỗ), nặng (ợ ụ ộ ị)
LONG_NAME = "Quầy 12 - Hỗ trợ thủ tục đất đai hộ tịch"
REASON = "Đi lấy hồ sơ ở kho lưu trữ, quay lại ngay"
CONFIG = make_config(counters=[{"id": "12", "name": LONG_NAME, "services": {"A": 1}},
                               {"id": "2", "name": "Quầy 2", "services": {"A": 1}}],
                     site={"id": "test", "name": "Trung tâm thử", "languages": ["vi", "en"]})
PNG_DIR = Path(__file__).resolve().parents[1] / "artifacts" / "counter-display"  # kept after the run, not committed


def state(**fields):
    return {"seq": 7, "state": "calling", "ticket": "A023", "waiting": {"A": 3}, "rating_until": None,
            "name": LONG_NAME, **fields}


SCREENS = {
    "calling": screen_of("12", state()),
    "serving": screen_of("12", state(state="serving")),
    "paused": screen_of("12", state(state="paused", ticket=None, reason=REASON)),
    "idle": screen_of("12", state(state="idle", ticket=None)),
    "removed": screen_of("12", REMOVED, LONG_NAME),
    "unknown": screen_of("12", None, LONG_NAME),
}


@pytest.fixture(scope="module")
def fonts():
    return Fonts(CONFIG.display.font_path, CONFIG.display.font_bold_path)


def texts(lay):
    return {b.name: b.text for b in lay.boxes if b.text}


@pytest.mark.parametrize("raw,phase,ticket,reason", [
    (state(), "calling", "A023", ""),
    (state(state="serving"), "serving", "A023", ""),
    (state(state="calling", ticket=None), "idle", "", ""),  # holds nothing: free
    (state(state="paused", ticket=None, reason="Họp"), "paused", "", "Họp"),
    (state(state="paused", ticket=None), "paused", "", ""),  # an older server sends no reason
    (state(state="idle", ticket=None, reason="stale"), "idle", "", ""),  # a reason only while paused
    (None, "unknown", "", ""),
    (REMOVED, "removed", "", ""),
])
def test_screen_of_a_state(raw, phase, ticket, reason):
    screen = screen_of("12", raw, "Quầy 12")
    assert (screen.phase, screen.ticket, screen.reason) == (phase, ticket, reason)


def test_the_name_comes_from_the_state_else_the_config():
    assert screen_of("12", state(name="Quầy mới"), "Quầy 12").name == "Quầy mới"
    assert screen_of("12", {k: v for k, v in state().items() if k != "name"}, "Quầy 12").name == "Quầy 12"


def test_the_counters_newest_call_on_a_board():
    calls = [{"ticket": "B001", "counter": "3"}, {"ticket": "A023", "counter": "12", "recall": 1},
             {"ticket": "A020", "counter": "12"}]
    assert counter_call(calls, "12") == calls[1]
    assert counter_call(calls, "9") is None


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
@pytest.mark.parametrize("phase", list(SCREENS))
def test_every_picture_is_sane_at_every_size(phase, size, fonts):
    lay = counter_layout(SCREENS[phase], NOW, CONFIG, size, offline=True, measure=fonts.measure)
    assert problems(lay, fonts.measure) == []
    shown = texts(lay)
    assert shown["counter.name"] == "Quầy 12" and "đất đai" in " ".join(v for k, v in shown.items() if "detail" in k)
    assert shown["counter.offline"] == "Mất kết nối máy chủ  ·  Server offline"


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_the_number_is_the_largest_text(size, fonts):
    lay = counter_layout(SCREENS["calling"], NOW, CONFIG, size, measure=fonts.measure)
    ticket = lay.box("counter.ticket")
    assert ticket is not None and ticket.text == "A023"
    assert ticket.size == max(b.size for b in lay.boxes if b.text)
    assert ticket.size >= 0.3 * min(size)  # readable across the hall from a small screen


def test_paused_shows_the_reason_in_both_languages(fonts):
    shown = texts(counter_layout(SCREENS["paused"], NOW, CONFIG, (1280, 720), measure=fonts.measure))
    assert shown["counter.state"] == "Tạm dừng" and shown["counter.state2"] == "Paused"
    assert REASON.startswith(shown["counter.reason"]) or "counter.reason.line2" in shown
    assert "counter.ticket" not in shown


def test_idle_invites_the_next_number(fonts):
    shown = texts(counter_layout(SCREENS["idle"], NOW, CONFIG, (800, 480), measure=fonts.measure))
    assert (shown["counter.state"], shown["counter.state2"]) == ("Mời số tiếp theo", "Next number, please")


def board_with(*calls):
    return Board(seq=9, calls=tuple(Call(t, c, "", "A", at, r) for t, c, at, r in calls))


def test_a_call_blinks_then_stops_and_a_recall_blinks_again():
    screen = SCREENS["calling"]
    first = follow(None, board_with(("A020", "12", "2026-11-23T09:30:00+07:00", 0)), NOW)
    called = follow(first, board_with(("A023", "12", "2026-11-23T09:41:12+07:00", 0)), NOW)
    hl = call_highlight(screen, called)
    assert counter_layout(screen, NOW, CONFIG, (800, 480), highlight=hl).box("counter.panel").fill == "highlight"
    dark = NOW + timedelta(seconds=0.5)  # the other phase of the blinking
    assert counter_layout(screen, dark, CONFIG, (800, 480), highlight=hl).box("counter.panel").fill == "panel"
    later = NOW + timedelta(seconds=CONFIG.display.highlight_s)
    assert counter_layout(screen, later, CONFIG, (800, 480), highlight=hl).box("counter.panel").fill == "panel"
    recalled = follow(called, board_with(("A023", "12", "2026-11-23T09:41:12+07:00", 1)), later)
    lay = counter_layout(screen, later, CONFIG, (800, 480), highlight=call_highlight(screen, recalled))
    assert lay.box("counter.panel").fill == "highlight"
    assert lay.box("counter.recall").text == "Gọi lần 2  ·  Call 2"


def test_an_old_call_or_another_tickets_call_does_not_blink():
    screen = SCREENS["calling"]
    restarted = follow(None, board_with(("A023", "12", "2026-11-23T09:30:00+07:00", 0)), NOW)  # 11 min ago
    lay = counter_layout(screen, NOW, CONFIG, (800, 480), highlight=call_highlight(screen, restarted))
    assert lay.box("counter.panel").fill == "panel"
    other = Highlight(("A099", "12", "", 0), NOW)
    assert call_highlight(screen, other) is None
    assert call_highlight(SCREENS["paused"], Highlight(("A023", "12", "", 0), NOW)) is None


def test_every_text_is_nfc_and_has_its_glyphs(fonts):
    every = counter_fixed_texts(CONFIG) + [REASON]
    assert LONG_NAME in every and all(t == unicodedata.normalize("NFC", t) for t in every)
    assert check_glyphs(fonts, every) == {}


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_render_pngs(size, fonts):
    """Every phase drawn at every size, saved for people to look at; the number's pixels are drawn."""
    called = Highlight(("A023", "12", "", 1), NOW)
    for phase, screen in SCREENS.items():
        renderer = Renderer(pygame.Surface(size), fonts)
        lay = counter_layout(screen, NOW, CONFIG, size, highlight=call_highlight(screen, called),
                             offline=phase == "unknown", measure=fonts.measure)
        assert renderer.draw(lay)
        path = renderer.save_png(PNG_DIR / f"{phase}-{size[0]}x{size[1]}.png")
        assert path.stat().st_size > 1000
        if phase == "calling":
            box = lay.box("counter.ticket")
            area = renderer.surface.subsurface(pygame.Rect(box.rect))
            colours = {tuple(area.get_at((x, area.get_height() // 2)))[:3] for x in range(area.get_width())}
            assert len(colours) > 2  # the label's glyphs, not an empty panel
