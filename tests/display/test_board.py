"""The board layout (display/board.py): pure, so tested with a fixed clock and the estimated font widths."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from display.board import (CLIP, MAX_CALLS, Board, Call, Highlight, blinking, clean, follow, newest_key, next_change,
                           read_board, sample_board)
from display.boxes import estimate_width, fit
from display.layout import layout
from tests.display.layout_checks import problems
from tests.factories import MONDAY_9AM

SIZES = [(1920, 1080), (1280, 720), (1080, 1920)]
NOW = MONDAY_9AM + timedelta(minutes=41, seconds=12)  # 09:41:12 in Ho Chi Minh City


def snapshot(**fields):
    """A valid board payload as the server sends it (newest call first)."""
    payload = {
        "seq": 57, "at": "2026-11-23T09:41:00.000+07:00",
        "calls": [
            {"ticket": "A023", "counter": "3", "counter_name": "Quầy 3", "service": "A",
             "at": "2026-11-23T09:41:00.000+07:00", "recall": 0},
            {"ticket": "B015", "counter": "2", "counter_name": "Quầy 2", "service": "B",
             "at": "2026-11-23T09:39:00.000+07:00", "recall": 0},
            {"ticket": "A022", "counter": "1", "counter_name": "Quầy 1", "service": "A",
             "at": "2026-11-23T09:35:00.000+07:00", "recall": 1},
        ],
        "waiting": {"A": 4, "B": 0, "C": 2, "D": 0, "E": 11},
        "message": "",
    }
    payload.update(fields)
    return payload


def with_display(config, **changes):
    return dataclasses.replace(config, display=dataclasses.replace(config.display, **changes))


def with_site(config, **changes):
    return dataclasses.replace(config, site=dataclasses.replace(config.site, **changes))


def text_of(lay, name):
    box = lay.box(name)
    return box.text if box else None


# --- reading the snapshot ---------------------------------------------------------------------

def test_read_board_keeps_a_valid_snapshot():
    board = read_board(snapshot())
    assert board.seq == 57
    assert board.calls[0] == Call("A023", "3", "Quầy 3", "A", "2026-11-23T09:41:00.000+07:00", 0)
    assert [c.ticket for c in board.calls] == ["A023", "B015", "A022"]
    assert board.count("E") == 11 and board.count("Z") is None


@pytest.mark.parametrize("raw", [None, [], "board", 7, {}, {"calls": "many", "waiting": [1, 2], "seq": "x"}])
def test_read_board_of_nonsense_is_an_empty_board(raw):
    board = read_board(raw)
    assert board.calls == () and board.waiting == () and board.seq == -1 and board.message == ""


def test_read_board_clips_absurd_values():
    calls = [{"ticket": f"A{i:03d}", "counter": "3", "counter_name": "Q" * 300, "service": "A",
              "at": "2026-11-23T09:00:00+07:00", "recall": -4} for i in range(500)]
    board = read_board(snapshot(calls=calls, waiting={"A": -3, "B": 10**12, "C": True, "D": 2.7, "E": "9"},
                                message="x" * 5000))
    assert len(board.calls) == MAX_CALLS
    assert len(board.calls[0].counter_name) == CLIP["counter_name"] and board.calls[0].counter_name.endswith("…")
    assert board.calls[0].recall == 0
    assert dict(board.waiting) == {"A": 0, "B": 99_999, "C": 0, "D": 2, "E": 0}
    assert len(board.message) == CLIP["message"]


def test_read_board_skips_calls_without_a_ticket_and_names_a_counter_by_its_id():
    board = read_board(snapshot(calls=[{"counter": "3"}, "A001", {"ticket": "A002", "counter": "4"}]))
    assert board.calls == (Call("A002", "4", "4"),)


@pytest.mark.parametrize("raw,expected", [
    ("Quầy\n3\t ", "Quầy 3"),
    ("Quầy 3\u202e\u200b", "Quầy 3"),  # direction overrides and zero-width characters
    ("Qua\u0302\u0300y 3", "Quầy 3"),  # decomposed (NFD) diacritics become one glyph each
    (42, ""),
])
def test_clean_text(raw, expected):
    assert clean(raw, 40) == expected


# --- fitting text -------------------------------------------------------------------------------

def test_fit_keeps_text_that_fits():
    assert fit("A023", 1000, 100, 10, True, estimate_width) == ("A023", 100)


def test_fit_shrinks_then_cuts():
    text, size = fit("Lao động - Thương binh - Xã hội", 800, 60, 40, False, estimate_width)
    assert 40 < size < 60 and text == "Lao động - Thương binh - Xã hội"
    text, size = fit("Q" * 300, 600, 60, 40, False, estimate_width)
    assert size == 40 and text.endswith("…") and estimate_width(text, 40, False) <= 600


def test_fit_gives_nothing_when_not_even_an_ellipsis_fits():
    assert fit("A023", 2, 40, 30, False, estimate_width) == ("", 0)


# --- the layout -----------------------------------------------------------------------------------

@pytest.mark.parametrize("size", SIZES)
def test_layout_is_sane_at_each_resolution(example_config, size):
    lay = layout(read_board(snapshot()), NOW, example_config, size, offline=True)
    assert problems(lay) == []
    assert (lay.width, lay.height) == size


@pytest.mark.parametrize("size", SIZES)
def test_layout_shows_header_newest_call_history_waiting_and_footer(example_config, size):
    lay = layout(read_board(snapshot()), NOW, example_config, size, slide="history")
    assert text_of(lay, "header.name") == "Bộ phận Một cửa UBND xã An Phú"
    assert text_of(lay, "header.date") == "Thứ Hai, 23/11/2026"
    assert text_of(lay, "header.clock") == "09:41"
    assert text_of(lay, "calling.title") == "MỜI SỐ"
    assert (text_of(lay, "calling.label"), text_of(lay, "calling.counter")) == ("A023", "Quầy 3")
    assert [(text_of(lay, f"history.{i}.label"), text_of(lay, f"history.{i}.counter")) for i in range(2)] == [
        ("B015", "Quầy 2"), ("A022", "Quầy 1")]
    assert lay.box("history.2.label") is None
    assert text_of(lay, "waiting.A.name") == "Đất đai" and text_of(lay, "waiting.A.count") == "4"
    assert text_of(lay, "waiting.E.name") == "Trả kết quả" and text_of(lay, "waiting.E.count") == "11"
    assert text_of(lay, "footer.message") == "Vui lòng giữ phiếu số thứ tự và theo dõi màn hình"
    assert text_of(lay, "footer.hotline") == "Đường dây nóng: 0274 3 123 456"
    assert lay.box("header.offline") is None


@pytest.mark.parametrize("size", SIZES)
def test_the_calls_and_counts_are_big_enough_to_read_from_10_m(example_config, size):
    """Capital height ≈ distance / 300: 33 mm at 10 m ≈ a 0.07 × short-side font on a 55" screen."""
    lay = layout(read_board(snapshot()), NOW, example_config, size, slide="history")
    u = min(size)
    assert lay.box("calling.label").size >= 0.15 * u
    assert lay.box("calling.counter").size >= 0.1 * u
    for name in ("history.0.label", "waiting.A.count"):
        assert lay.box(name).size >= 0.065 * u, name


def test_a_long_service_name_goes_on_two_lines_at_a_separator(example_config):
    """Not inside "Thương binh" (one word of two syllables): after a " - "."""
    lay = layout(read_board(snapshot()), NOW, example_config, (1920, 1080))
    lines = [text_of(lay, "waiting.D.name"), text_of(lay, "waiting.D.name.line2")]
    assert lines == ["Lao động -", "Thương binh - Xã hội"]
    assert lay.box("waiting.D.name").size >= 0.04 * 1080


def test_waiting_rows_follow_the_config_and_add_unknown_codes(example_config):
    lay = layout(read_board(snapshot(waiting={"E": 3, "Z": 8})), NOW, example_config, (1920, 1080))
    names = [b.text for b in lay.boxes if b.name.startswith("waiting.") and b.name.endswith(".name")]
    assert names == ["Đất đai", "Hộ tịch - Chứng thực", "Đăng ký kinh doanh", "Lao động -", "Trả kết quả",
                     "Z"]
    assert text_of(lay, "waiting.A.count") == "0" and text_of(lay, "waiting.Z.count") == "8"


def test_english_is_the_second_language_and_optional(example_config):
    board = read_board(snapshot())
    both = layout(board, NOW, example_config, (1920, 1080)).texts()
    assert {"Now calling", "Waiting", "Land", "đến / to"} <= set(both)
    vi_only = layout(board, NOW, with_site(example_config, languages=("vi",)), (1920, 1080)).texts()
    assert "MỜI SỐ" in vi_only and "đến" in vi_only
    assert not {"Now calling", "Waiting", "Land", "Called before"} & set(vi_only)


def test_english_first_when_configured_so(example_config):
    lay = layout(read_board(snapshot()), NOW, with_site(example_config, languages=("en", "vi")), (1920, 1080))
    assert text_of(lay, "calling.title") == "Now calling" and text_of(lay, "calling.title2") == "MỜI SỐ"
    assert text_of(lay, "waiting.A.name") == "Land" and text_of(lay, "waiting.A.name2") == "Đất đai"
    assert text_of(lay, "header.date") == "Monday 23 Nov 2026"


def test_history_length_follows_the_config(example_config):
    board = sample_board(example_config, NOW)
    assert len(board.calls) == 7
    for history, shown in ((0, 0), (2, 2), (6, 6), (40, 6)):
        lay = layout(board, NOW, with_display(example_config, history=history), (1920, 1080), slide="history")
        assert sum(1 for b in lay.boxes if b.name.endswith(".label") and b.name.startswith("history.")) == shown


def test_footer_prefers_the_board_message_and_can_be_empty(example_config):
    lay = layout(read_board(snapshot(message="Hôm nay nghỉ lúc 16:00")), NOW, example_config, (1920, 1080))
    assert text_of(lay, "footer.message") == "Hôm nay nghỉ lúc 16:00"
    bare = with_site(with_display(example_config, message=""), hotline="")
    lay = layout(read_board(snapshot()), NOW, bare, (1920, 1080))
    assert lay.box("footer.message") is None and lay.box("footer.hotline") is None and lay.box("footer")


def test_no_call_yet(example_config):
    lay = layout(read_board(snapshot(calls=[])), NOW, example_config, (1920, 1080))
    assert text_of(lay, "calling.none") == "Chưa gọi số nào"
    assert lay.box("calling.label") is None and lay.box("history.title") is None


def test_a_recall_is_marked(example_config):
    calls = snapshot()["calls"]
    calls[0] = {**calls[0], "recall": 2}
    lay = layout(read_board(snapshot(calls=calls)), NOW, example_config, (1920, 1080))
    assert text_of(lay, "calling.recall") == "Gọi lần 3"


def test_offline_mark_keeps_the_board(example_config):
    board = read_board(snapshot())
    online = layout(board, NOW, example_config, (1920, 1080))
    offline = layout(board, NOW, example_config, (1920, 1080), offline=True)
    assert text_of(offline, "header.offline") == "Mất kết nối máy chủ"
    assert text_of(offline, "calling.label") == text_of(online, "calling.label") == "A023"


def test_the_clock_is_local_time_of_the_site(example_config):
    lay = layout(read_board(snapshot()), datetime(2026, 11, 23, 17, 5, tzinfo=timezone.utc), example_config,
                 (1920, 1080))
    assert (text_of(lay, "header.clock"), text_of(lay, "header.date")) == ("00:05", "Thứ Ba, 24/11/2026")


def test_absurd_snapshot_is_clipped_and_sane(example_config):
    calls = [{"ticket": "A" * 40, "counter": "9", "counter_name": "Quầy " + "rất dài " * 40, "service": "A",
              "at": "yesterday", "recall": 10**9} for _ in range(500)]
    raw = snapshot(calls=calls, waiting={f"S{i}": -i for i in range(300)}, message="Thông báo " * 100)
    for size in SIZES:
        lay = layout(read_board(raw), NOW, example_config, size, offline=True)
        assert problems(lay) == []
        assert text_of(lay, "calling.label").startswith("A")
        assert all(b.text in ("0", "") for b in lay.boxes if b.name.endswith(".count"))


# --- the highlighted newest call ------------------------------------------------------------------

def test_a_new_call_blinks_for_highlight_s_then_stays(example_config):
    board = read_board(snapshot())
    seen = follow(Highlight(), board, NOW)  # a display already running sees a new call
    assert seen.since == NOW
    phases = [blinking(seen, NOW + timedelta(seconds=s), 10) for s in (0, 0.4, 0.5, 1.0, 9.9, 10, 60)]
    assert phases == [True, True, False, True, False, None, None]
    fills = [layout(board, NOW + timedelta(seconds=s), example_config, (1920, 1080), highlight=seen)
             .box("calling.panel").fill for s in (0, 0.5, 11)]
    assert fills == ["highlight", "panel", "panel"]


def test_the_same_call_keeps_its_highlight_and_a_recall_starts_a_new_one():
    board = read_board(snapshot())
    first = follow(Highlight(), board, NOW)
    assert follow(first, board, NOW + timedelta(seconds=3)) is first
    calls = snapshot()["calls"]
    calls[0] = {**calls[0], "recall": 1}
    again = follow(first, read_board(snapshot(calls=calls)), NOW + timedelta(seconds=30))
    assert again.since == NOW + timedelta(seconds=30) and again.key != first.key


def test_after_a_restart_an_old_call_does_not_blink():
    board = read_board(snapshot())  # newest call at 09:41:00, now 09:41:12
    assert follow(None, board, NOW).since == datetime.fromisoformat("2026-11-23T09:41:00.000+07:00")
    assert blinking(follow(None, board, NOW + timedelta(minutes=5)), NOW + timedelta(minutes=5), 10) is None
    assert blinking(follow(None, board, NOW), NOW, 15) is True
    unparseable = read_board(snapshot(calls=[{"ticket": "A1", "counter": "1", "at": "soon"}]))
    assert follow(None, unparseable, NOW) == Highlight(newest_key(unparseable), None)


def test_next_change_is_the_next_minute_or_the_next_blink(example_config):
    assert next_change(NOW, None, example_config) == MONDAY_9AM + timedelta(minutes=42)
    seen = Highlight(("A023", "3", "", 0), NOW)
    assert next_change(NOW + timedelta(seconds=0.2), seen, example_config) == NOW + timedelta(seconds=0.5)
    assert next_change(NOW + timedelta(seconds=9.7), seen, example_config) == NOW + timedelta(seconds=10)
    assert next_change(NOW + timedelta(seconds=20), seen, example_config) == MONDAY_9AM + timedelta(minutes=42)


def test_layout_is_equal_until_something_visible_changes(example_config):
    board = read_board(snapshot())
    config = with_display(example_config, slides=("history",))
    a = layout(board, NOW, config, (1920, 1080))
    assert not a.rotating
    assert layout(board, NOW + timedelta(seconds=40), config, (1920, 1080)) == a
    assert layout(board, NOW + timedelta(seconds=48), config, (1920, 1080)) != a  # 09:42
    assert layout(read_board(snapshot(waiting={"A": 5})), NOW, config, (1920, 1080)) != a


# --- anything the broker might hand over -----------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers(-10**15, 10**15) | st.floats() | st.text(max_size=400)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(
    st.text(max_size=10), inner, max_size=5), max_leaves=20)
call_dicts = st.fixed_dictionaries({}, optional={
    "ticket": st.text(max_size=300) | json_values, "counter": st.text(max_size=40) | json_values,
    "counter_name": st.text(max_size=300) | json_values, "service": st.text(max_size=5),
    "at": st.text(max_size=40) | st.just("2026-11-23T09:40:00+07:00"), "recall": st.integers(-5, 10**6) | json_values,
    "group": st.sampled_from(["CT", "KT", "TE12", "ZZZZ"]) | json_values})
boards = st.fixed_dictionaries({}, optional={
    "seq": st.integers(-10, 10**9) | json_values, "at": json_values,
    "calls": st.lists(call_dicts | json_values, max_size=40) | json_values,
    "waiting": st.dictionaries(st.text(max_size=12), st.integers(-10**9, 10**12) | json_values, max_size=40)
    | json_values,
    "message": st.text(max_size=600) | json_values,
}) | json_values


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=boards, size=st.sampled_from(SIZES) | st.tuples(st.integers(1, 3000), st.integers(1, 3000)),
       seconds=st.floats(0, 100_000), history=st.integers(0, 50), languages=st.sampled_from(
           [("vi",), ("vi", "en"), ("en", "vi"), ("en",), ()]), offline=st.booleans())
def test_any_payload_gives_a_sane_layout(example_config, raw, size, seconds, history, languages, offline):
    config = with_site(with_display(example_config, history=history), languages=languages)
    now = NOW + timedelta(seconds=seconds)
    board = read_board(raw)
    assert isinstance(board, Board)
    seen = follow(None, board, now)
    lay = layout(board, now, config, size, highlight=seen, offline=offline)
    assert problems(lay) == []
    assert next_change(now, seen, config) > now


# --- priority groups --------------------------------------------------------------------------------

def grouped_snapshot():
    """The example board with the newest call of the elderly group and a previous one of the disabled."""
    calls = snapshot()["calls"]
    return snapshot(calls=[{**calls[0], "group": "CT"}, {**calls[1], "group": "KT"}, {**calls[2], "group": None}])


@pytest.mark.parametrize("group, expected", [("CT", "CT"), ("KT1", "KT1"), (None, ""), ("ct", ""), (7, ""),
                                             ("CTXYZ", ""), ("C\u200bT", "")])
def test_read_board_keeps_a_group_code_and_drops_anything_else(group, expected):
    calls = snapshot()["calls"]
    assert read_board(snapshot(calls=[{**calls[0], "group": group}])).calls[0].group == expected


@pytest.mark.parametrize("size", SIZES)
def test_a_priority_call_shows_its_group_beside_the_number_without_shrinking_it(example_config, size):
    plain = layout(read_board(snapshot()), NOW, example_config, size, slide="history")
    grouped = layout(read_board(grouped_snapshot()), NOW, example_config, size, slide="history")
    u = min(size)
    assert problems(grouped) == []
    assert text_of(grouped, "calling.badge") == "ƯU TIÊN · CT"
    assert grouped.box("calling.badge").size >= 0.065 * u  # read from 10 m, as the calls
    assert grouped.box("calling.badge.fill").fill == "badge"
    assert grouped.box("calling.label").size == plain.box("calling.label").size
    assert (text_of(grouped, "history.0.badge"), text_of(grouped, "history.0.counter")) == ("KT", "Quầy 2")
    assert grouped.box("history.0.badge").size >= 0.045 * u
    assert grouped.box("history.0.label").size == plain.box("history.0.label").size
    assert grouped.box("history.1.badge") is None and plain.box("calling.badge") is None


def test_the_badge_speaks_the_first_language(example_config):
    english = with_site(example_config, languages=("en", "vi"))
    lay = layout(read_board(grouped_snapshot()), NOW, english, (1920, 1080))
    assert text_of(lay, "calling.badge") == "Priority · CT"
