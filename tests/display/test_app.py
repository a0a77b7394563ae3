"""The display's loop (display/app.py) without a broker: messages are put in its inbox as the
bus would, clocks are fake, drawing is off-screen."""

from __future__ import annotations

import json
import logging
import queue
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pygame
import pytest

from display.announce import Announcer
from display.app import IDLE_WAKE_S, DisplayApp
from display.main import parse_size, render_screenshot, screen_size
from display.board import sample_board
from display.render import Fonts, Renderer
from queuebox.bus import Connected, Message
from queuebox.protocol import Topics
from tests.display.fakes import Clock, FakePlayer, FakeSynth, fake_wav
from tests.display.test_board import NOW, snapshot, with_display

ROOT = Path(__file__).resolve().parents[2]


class Wall:
    """A settable wall clock (aware datetimes)."""

    def __init__(self, start=NOW) -> None:
        self.now = start

    def __call__(self):
        return self.now


class Harness:
    """A DisplayApp on an off-screen 1280x720 surface with fake clocks, a fake player and a switchable connection."""

    def __init__(self, config, fonts, announce=True) -> None:
        self.topics = Topics(config.mqtt.root, config.site.id)
        self.inbox: queue.Queue = queue.Queue()
        self.online = True
        self.wall = Wall()
        self.mono = Clock()
        self.player = FakePlayer(self.mono)
        self.synth = FakeSynth()
        self.announcer = Announcer(config, self.player, self.synth, chime=fake_wav(1.0), monotonic=self.mono,
                                   threaded=False) if announce else None
        self.presented: list = []
        self.app = DisplayApp(config, Renderer(pygame.Surface((1280, 720)), fonts), self.inbox,
                              connected=lambda: self.online, topics=self.topics, announcer=self.announcer,
                              present=self.presented.append, clock=self.wall, monotonic=self.mono,
                              offline_after_s=5)

    def send(self, kind, payload, retain=False):
        topic = self.topics.board() if kind == "board" else self.topics.events()
        data = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
        self.inbox.put(Message(topic, data, retain))

    def text(self, name):
        box = self.app.drawn.box(name) if self.app.drawn else None
        return box.text if box else None

    def spoken(self):
        return [c.text for _, c in self.player.started if c.kind == "vi"]

    def run_announcements(self, seconds=60.0):
        end = self.mono.now + seconds
        while self.mono.now < end:
            wait = self.app.step()
            self.mono.now += max(wait, 0.01)
            self.wall.now += timedelta(seconds=max(wait, 0.01))


@pytest.fixture(scope="module")
def fonts(example_config):
    return Fonts(example_config.display.font_path, example_config.display.font_bold_path)


@pytest.fixture
def h(example_config, fonts):
    return Harness(example_config, fonts)


def test_the_retained_board_is_drawn_at_once(h):
    h.inbox.put(Connected(session_present=True))
    h.send("board", snapshot(), retain=True)
    h.app.step()
    assert (h.text("calling.label"), h.text("calling.counter")) == ("A023", "Quầy 3")
    assert h.app.renderer.frames == 1 and h.presented == [[pygame.Rect(0, 0, 1280, 720)]]


def test_nothing_is_drawn_again_while_nothing_changes(example_config, fonts):
    h = Harness(with_display(example_config, slides=("history",)), fonts)
    h.send("board", snapshot())
    h.app.step()
    for _ in range(5):
        h.wall.now += timedelta(seconds=5)
        h.app.step()
    assert h.app.renderer.frames == 1


def test_a_new_call_redraws_only_what_changed(h):
    h.send("board", snapshot())
    h.app.step()
    calls = [{"ticket": "B016", "counter": "2", "counter_name": "Quầy 2", "service": "B",
              "at": "2026-11-23T09:41:12.000+07:00", "recall": 0}] + snapshot()["calls"]
    h.send("board", snapshot(seq=58, calls=calls))
    h.app.step()
    assert h.text("calling.label") == "B016" and h.text("history.0.label") == "A023"
    assert h.app.renderer.frames == 2
    assert sum(r.w * r.h for r in h.presented[-1]) < 1280 * 720  # not the whole screen


def test_the_loop_sleeps_until_the_next_change(h):
    h.send("board", snapshot())
    assert h.app.step() <= IDLE_WAKE_S
    calls = [{**snapshot()["calls"][0], "ticket": "A024", "at": "2026-11-23T09:41:12.000+07:00"}]
    h.send("board", snapshot(seq=60, calls=calls))
    h.app.step()
    h.wall.now += timedelta(seconds=0.2)
    assert h.app.step() == pytest.approx(0.3, abs=0.01)  # the next blink of the new call


def test_the_clock_set_back_redraws_at_once(h):
    h.send("board", snapshot())
    h.app.step()
    h.wall.now -= timedelta(hours=2)  # NTP corrects a clock that booted ahead
    h.app.step()
    assert h.text("header.clock") == "07:41"


def test_a_nonconforming_board_is_drawn_clipped_with_one_warning(h, caplog):
    calls = [{**snapshot()["calls"][0], "counter_name": "Quầy " + "rất dài " * 40}]
    with caplog.at_level(logging.WARNING, logger="display.app"):
        for _ in range(3):
            h.send("board", snapshot(calls=calls, waiting={"A": -5}))
            h.app.step()
    assert h.text("waiting.A.count") == "0" and h.text("calling.counter").startswith("Quầy rất")
    assert len([r for r in caplog.records if "does not follow the protocol" in r.message]) == 1


def test_unreadable_payloads_are_dropped_and_the_last_board_stays(h, caplog):
    h.send("board", snapshot())
    h.app.step()
    with caplog.at_level(logging.WARNING, logger="display.app"):
        for payload in (b"\xff\xfe", b"[1, 2]", b"{not json"):
            h.send("board", payload)
            h.send("events", payload)
        h.app.step()
    assert h.text("calling.label") == "A023"
    assert len([r for r in caplog.records if "not a JSON object" in r.message]) == 1
    assert len([r for r in caplog.records if "bad event" in r.message]) == 1


def test_a_call_event_is_announced_once_and_a_recall_again(h):
    h.send("board", snapshot())  # seq 57
    h.app.step()
    event = {"seq": 58, "at": "2026-11-23T09:41:30.000+07:00", "type": "called", "ticket": "C007", "counter": "5",
             "service": "C", "queue": "C"}
    h.send("events", event)
    h.send("events", event)  # redelivered
    h.send("events", {**event, "seq": 59, "type": "recalled", "call_count": 2})
    h.send("events", {**event, "seq": 50, "ticket": "C001"})  # older than the board
    h.run_announcements()
    assert h.spoken() == ["Mời công dân có số thứ tự xê bảy đến quầy số năm"] * 2


def test_events_queued_while_away_are_not_read_out_after_a_reconnection(h):
    h.send("board", snapshot())  # seq 57
    h.app.step()
    h.inbox.put(Connected(session_present=True))
    for seq in (58, 59):  # missed while away, delivered before the retained board
        h.send("events", {"seq": seq, "at": "2026-11-23T09:45:00.000+07:00", "type": "called", "ticket": f"A0{seq}",
                          "counter": "1"})
    h.send("board", snapshot(seq=59), retain=True)
    h.send("events", {"seq": 60, "at": "2026-11-23T09:46:00.000+07:00", "type": "called", "ticket": "A060",
                      "counter": "1"})
    h.run_announcements()
    assert h.spoken() == ["Mời công dân có số thứ tự a sáu mươi đến quầy số một"]


def test_offline_mark_after_a_few_seconds_keeps_the_last_board(h):
    h.send("board", snapshot())
    h.app.step()
    h.online = False
    h.mono.now += 1
    h.app.step()
    assert h.text("header.offline") is None  # a blip is not worth a mark
    h.mono.now += 5.5  # more than 5 s since the loop noticed
    h.app.step()
    assert h.text("header.offline") == "Mất kết nối máy chủ" and h.text("calling.label") == "A023"
    h.online = True
    h.app.step()
    assert h.text("header.offline") is None


def test_no_announcer_still_draws(example_config, fonts):
    h = Harness(example_config, fonts, announce=False)
    h.send("events", {"seq": 1, "at": "2026-11-23T09:41:00.000+07:00", "type": "called", "ticket": "A001",
                      "counter": "1"})
    h.send("board", snapshot())
    h.app.step()
    assert h.text("calling.label") == "A023"


def test_run_stops_when_the_window_closes_or_stop_is_set(h):
    stop = threading.Event()
    turns = []

    def pump():
        turns.append(1)
        return len(turns) < 3
    h.app.run(stop, pump)
    assert len(turns) == 3
    stop.set()
    h.app.run(stop, lambda: pytest.fail("pumped after stop"))


def test_screenshot_of_the_sample_board(example_config, tmp_path):
    path = render_screenshot(example_config, tmp_path / "board.png", (1280, 720), sample_board(example_config, NOW),
                             now=NOW)
    assert pygame.image.load(str(path)).get_size() == (1280, 720)


def test_cli_screenshot_with_sample(tmp_path):
    out = tmp_path / "shot.png"
    result = subprocess.run([sys.executable, "-m", "queuebox.cli", "display", "--config",
                             str(ROOT / "config" / "queuebox.example.toml"), "--screenshot", str(out), "--sample",
                             "--size", "1080x1920"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"wrote {out} (1080x1920)\n"
    assert pygame.image.load(str(out)).get_size() == (1080, 1920)


def test_cli_rejects_a_bad_size(tmp_path):
    result = subprocess.run([sys.executable, "-m", "queuebox.cli", "display", "--config",
                             str(ROOT / "config" / "queuebox.example.toml"), "--screenshot", str(tmp_path / "x.png"),
                             "--sample", "--size", "big"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "WIDTHxHEIGHT" in result.stderr


@pytest.mark.parametrize("text,size", [("1920x1080", (1920, 1080)), ("1080X1920", (1080, 1920))])
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("windowed,size,expected", [
    (False, None, ((0, 0), True)),  # full screen at the screen's own size
    (True, None, ((1280, 720), False)),
    (False, (800, 600), ((800, 600), False)),
])
def test_screen_size(example_config, windowed, size, expected):
    assert screen_size(example_config, windowed, size) == expected


def test_a_screen_that_cannot_open_names_the_missing_libraries():
    from display.main import SCREEN_LIBRARIES, missing_screen_libraries
    assert missing_screen_libraries(lambda name: None) == list(SCREEN_LIBRARIES)
    present = {"drm": "libdrm.so.2", "EGL": "libEGL.so.1"}
    assert missing_screen_libraries(present.get) == ["libgbm.so.1", "libGLESv2.so.2"]
    assert set(SCREEN_LIBRARIES.values()) == {"libdrm2", "libgbm1", "libegl1", "libgles2"}


# --- information slides --------------------------------------------------------------------------------

URL = "http://192.168.1.10:8081/procedures"


def put(h, topic, payload, retain=True):
    data = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
    h.inbox.put(Message(topic, data, retain))


def summary(service="B", *names):
    return {"seq": 4, "service": service, "more": 0, "procedures": [
        {"id": i, "code": None, "name_vi": name, "name_en": "", "processing_time": "Trong ngày", "fee": "Miễn phí",
         "on_the_spot": i == 0} for i, name in enumerate(names or ("Đăng ký khai sinh",))]}


@pytest.fixture
def slides(example_config, fonts):
    """A display turning the previous calls, the procedures and the QR code, 12 s each."""
    h = Harness(with_display(example_config, slides=("history", "procedures", "lookup"), slide_s=12), fonts)
    put(h, h.topics.services(), {"seq": 1, "services": [{"code": "B", "name_vi": "Hộ tịch - Chứng thực",
                                                         "name_en": "", "open": True}], "lookup_url": URL})
    put(h, h.topics.procedures("B"), summary())
    h.send("board", snapshot())  # its newest call is 12 s old at NOW: nothing highlighted
    h.wall.now = NOW + timedelta(seconds=2)
    h.app.step()
    return h


def run_for(h, seconds, step=0.25):
    """Turn the loop for `seconds` of fake time; returns the slides drawn, in order, each once."""
    shown = []
    end = h.wall.now + timedelta(seconds=seconds)
    while h.wall.now < end:
        h.app.step()
        if not shown or shown[-1] != h.app.drawn.slide:
            shown.append(h.app.drawn.slide)
        h.wall.now += timedelta(seconds=step)
        h.mono.now += step
    return shown


def test_slides_take_turns_and_are_drawn_only_when_they_change(slides):
    frames = slides.app.renderer.frames
    shown = run_for(slides, 36)
    assert set(shown) == {"history", "procedures/B/0", "lookup"}
    assert slides.app.renderer.frames - frames <= len(shown) + 1  # a frame a turn (and the minute at 09:42)
    assert slides.app.drawn.rotating


def test_a_call_arriving_mid_slide_shows_the_previous_calls_at_once_then_the_turn_goes_on(slides):
    run_for(slides, 36)
    while slides.app.drawn.slide == "history":
        run_for(slides, 1)
    calls = [{"ticket": "B016", "counter": "2", "counter_name": "Quầy 2", "service": "B",
              "at": slides.wall.now.isoformat(), "recall": 0}] + snapshot()["calls"]
    slides.send("board", snapshot(seq=58, calls=calls))
    slides.app.step()  # the very next frame
    assert slides.app.drawn.slide == "history" and slides.text("calling.label") == "B016"
    assert slides.text("history.0.label") == "A023"
    assert run_for(slides, 9.5) == ["history"]  # for highlight_s (10 s)
    assert run_for(slides, 1) == ["history", "procedures/B/0"]


def test_procedures_come_change_and_go_with_their_retained_summary(slides):
    run_for(slides, 36)
    while slides.app.drawn.slide != "procedures/B/0":
        run_for(slides, 1)
    assert slides.text("procedures.0.name") == "Đăng ký khai sinh"
    put(slides, slides.topics.procedures("B"), summary("B", "Đăng ký kết hôn"))
    slides.app.step()
    assert slides.text("procedures.0.name") == "Đăng ký kết hôn"
    put(slides, slides.topics.procedures("B"), b"")  # the field has none any more
    slides.app.step()
    assert slides.app.drawn.slide in ("history", "lookup") and slides.text("procedures.0.name") is None
    assert not any(name.startswith("procedures") for name in run_for(slides, 40))


def test_a_bad_summary_is_dropped_with_one_warning_and_the_last_one_stays(slides, caplog):
    for bad in (b"{not json", json.dumps(summary("A")).encode(), b'{"seq": 1, "service": "B"}'):
        with caplog.at_level(logging.WARNING, logger="display.app"):
            put(slides, slides.topics.procedures("B"), bad)
            slides.app.step()
    assert slides.app.sources.field("B").procedures[0].name_vi == "Đăng ký khai sinh"
    assert len([r for r in caplog.records if "procedures summary" in r.getMessage()]) == 1


def test_without_a_lookup_address_there_is_no_qr_slide(slides):
    put(slides, slides.topics.services(), {"seq": 2, "services": [{"code": "B", "name_vi": "Hộ tịch",
                                                                   "name_en": "", "open": True}]})
    slides.app.step()
    assert "lookup" not in run_for(slides, 60)
