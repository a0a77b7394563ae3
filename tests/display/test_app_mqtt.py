"""The display against a real mosquitto and a real server (engine + bus + bridge, as
`queuebox server` wires them): a counter's `next` shows on the display's next frame and is
announced; the broker going away and coming back."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pygame
import pytest

from display.announce import Announcer
from display.app import DisplayApp, display_client_id
from display.main import display_subscriptions
from display.board import Board
from display.layout import layout
from display.render import Fonts, Renderer
from queuebox.bus import Bus
from queuebox.protocol import Topics
from tests.display.fakes import FakePlayer, FakeSynth, fake_wav
from tests.factories import FakeClock, make_config
from tests.integration.test_server_mqtt import WAIT_S, Client, Server, config, server  # noqa: F401 (fixtures)


class Display:
    """The display as `queuebox display` wires it, drawing off-screen, with a fake audio player."""

    def __init__(self, config, fonts) -> None:
        self.topics = Topics(config.mqtt.root, config.site.id)
        self.bus = Bus(config.mqtt, self.topics, display_client_id(config),
                       subscriptions=display_subscriptions(self.topics))
        self.player = FakePlayer(time.monotonic)
        announcer = Announcer(config, self.player, FakeSynth(seconds=0.05), chime=fake_wav(0.05), threaded=False)
        self.app = DisplayApp(config, Renderer(pygame.Surface((1280, 720)), fonts), self.bus.inbox,
                              connected=self.bus.connected.is_set, topics=self.topics, announcer=announcer,
                              offline_after_s=0.5)
        self.bus.start()

    def run_until(self, predicate, what, timeout=WAIT_S):
        """Turn the display's loop (in this thread, as its only user) until `predicate()` holds."""
        deadline = time.monotonic() + timeout
        wait = 0.0
        while time.monotonic() < deadline:
            wait = min(self.app.step(wait), 0.05)
            if predicate():
                return
        drawn = self.app.drawn.texts() if self.app.drawn else None
        raise AssertionError(f"the display never showed {what} in {timeout}s; it shows {drawn}")

    def shows(self, name, text):
        box = self.app.drawn.box(name) if self.app.drawn else None
        return box is not None and box.text == text

    def spoken(self):
        return [c.text for _, c in self.player.started if c.kind == "vi"]

    def stop(self):
        self.bus.stop()


@pytest.fixture(scope="module")
def fonts(example_config):
    return Fonts(example_config.display.font_path, example_config.display.font_bold_path)


@pytest.fixture
def display(config, fonts, server):
    d = Display(config, fonts)
    yield d
    d.stop()


@pytest.fixture
def client(broker):
    c = Client(broker, [])
    yield c
    c.close()


def test_counter_next_shows_on_the_next_frame_and_is_announced(display, client, config):
    topics = display.topics
    display.run_until(lambda: display.shows("calling.none", "Chưa gọi số nào"), "the retained empty board")
    client.publish(topics.kiosk_take("kiosk1"), {"id": "t-1", "service": "A"})
    display.run_until(lambda: display.shows("waiting.A.count", "1"), "one ticket waiting in A")
    frames = display.app.renderer.frames

    client.publish(topics.counter_command("2"), {"id": "n-1", "action": "next"})
    display.run_until(lambda: display.shows("calling.label", "A001"), "A001 called")
    assert display.shows("calling.counter", "Quầy 2") and display.shows("waiting.A.count", "0")
    assert display.app.renderer.frames > frames  # a frame was drawn with it
    display.run_until(lambda: display.spoken(), "the call spoken")
    assert display.spoken() == ["Mời công dân có số thứ tự a một đến quầy số hai"]


def test_broker_going_away_and_coming_back(display, client, broker, server):
    topics = display.topics
    client.publish(topics.kiosk_take("kiosk1"), {"id": "t-1", "service": "A"})
    client.publish(topics.counter_command("1"), {"id": "n-1", "action": "next"})
    display.run_until(lambda: display.shows("calling.label", "A001"), "A001 called")

    broker.stop()
    display.run_until(lambda: display.shows("header.offline", "Mất kết nối máy chủ"), "the offline mark")
    assert display.shows("calling.label", "A001")  # the last board stays

    broker.start()
    display.run_until(lambda: display.app.drawn.box("header.offline") is None, "the mark gone after reconnecting",
                      timeout=3 * WAIT_S)
    assert display.shows("calling.label", "A001")
    assert server.bus.wait_connected(3 * WAIT_S), "the server did not reconnect"
    again = Client(broker, [])
    try:
        again.publish(topics.kiosk_take("kiosk1"), {"id": "t-2", "service": "A"})
        again.publish(topics.counter_command("1"), {"id": "n-2", "action": "next"})
        display.run_until(lambda: display.shows("calling.label", "A002"), "A002 called after the broker came back",
                          timeout=3 * WAIT_S)
    finally:
        again.close()
    assert display.shows("history.0.label", "A001")


def test_screenshot_of_the_retained_board(config, server, broker, tmp_path):
    from display.main import run_display

    topics = Topics(config.mqtt.root, config.site.id)
    counter = Client(broker, [topics.counter_reply("3")])
    try:
        counter.publish(topics.kiosk_take("kiosk1"), {"id": "t-1", "service": "B"})
        counter.publish(topics.counter_command("3"), {"id": "n-1", "action": "next"})
        assert counter.reply(topics.counter_reply("3"), "n-1")["ticket"]["label"] == "B001"
    finally:
        counter.close()
    out = tmp_path / "board.png"
    assert run_display(config, screenshot=str(out), size=(1280, 720), wait_s=WAIT_S) == 0
    image = pygame.image.load(str(out))
    assert image.get_size() == (1280, 720)
    yellow = (255, 214, 10)  # the label colour: B001 is drawn in the now-calling panel
    assert any(tuple(image.get_at((x, y)))[:3] == yellow for x in range(30, 400, 3) for y in range(160, 380, 3))


def test_screenshot_without_a_board_is_a_clear_error(config, tmp_path):
    from display.main import run_display
    from queuebox.errors import QueueboxError

    with pytest.raises(QueueboxError, match="no board from the broker"):
        run_display(config, screenshot=str(tmp_path / "none.png"), wait_s=0.5)


def label_drawn(png, panel):
    """Whether the ticket label's yellow shows inside the now-calling panel of the PNG."""
    from display.render import PALETTE

    image = pygame.image.load(str(png))
    return any(tuple(image.get_at((x, y)))[:3] == PALETTE["label"]
               for x in range(panel.x, panel.right, 2) for y in range(panel.y, panel.bottom, 2))


def test_follow_keeps_a_headless_screenshot_up_to_date(config, server, broker, tmp_path):
    """`queuebox display --screenshot PNG --follow` as its own process: the PNG appears, follows
    a call, and SIGTERM stops the process cleanly."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from queuebox.config import to_toml

    root = Path(__file__).resolve().parents[2]
    config_path = tmp_path / "display.toml"
    config_path.write_text(to_toml(config), encoding="utf-8")
    out = tmp_path / "live.png"
    env = {**os.environ, "SDL_AUDIODRIVER": "dummy"}
    with open(tmp_path / "display.log", "wb") as log:
        child = subprocess.Popen([sys.executable, "-m", "queuebox.cli", "display", "--config", str(config_path),
                                  "--screenshot", str(out), "--follow", "--size", "640x360"], cwd=root, env=env,
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 3 * WAIT_S
            while not out.exists() and time.monotonic() < deadline and child.poll() is None:
                time.sleep(0.05)  # polling another process's output file
            assert out.exists(), (tmp_path / "display.log").read_text()
            panel = pygame.Rect(layout(Board(), datetime.now(timezone.utc), config, (640, 360))
                                .box("calling.panel").rect)
            assert not label_drawn(out, panel)
            topics = Topics(config.mqtt.root, config.site.id)
            counter = Client(broker, [])
            try:
                counter.publish(topics.kiosk_take("kiosk1"), {"id": "t-1", "service": "A"})
                counter.publish(topics.counter_command("1"), {"id": "n-1", "action": "next"})
            finally:
                counter.close()
            while not label_drawn(out, panel) and time.monotonic() < deadline:
                time.sleep(0.05)  # polling another process's output file
            assert label_drawn(out, panel), "the screenshot did not follow the call"
            assert pygame.image.load(str(out)).get_size() == (640, 360)
        finally:
            child.send_signal(signal.SIGTERM)
            code = child.wait(timeout=WAIT_S)
    assert code == 0, (tmp_path / "display.log").read_text()
    assert not list(tmp_path.glob(".live.partial*"))


def test_a_display_configured_without_services_shows_the_centre_as_the_server_knows_it(config, fonts, server):
    """Names, new services and closing come from the server's retained `services`, not the display's file."""
    import dataclasses

    from server.settings import raw_config
    bare = dataclasses.replace(config, services=(), counters=())
    display = Display(bare, fonts)
    try:
        display.run_until(lambda: display.shows("waiting.A.name", "Đất đai"), "the server's service A")
        services = raw_config(server.engine.config)["services"]
        services[0] = {**services[0], "name_vi": "Đất đai - Nhà ở"}
        services[1] = {**services[1], "override": "closed"}
        services.append({**services[2], "code": "F", "name_vi": "Trả kết quả", "name_en": "Results"})
        server.engine.reconfigure({"services": services}, "manager")
        display.run_until(lambda: display.shows("waiting.F.name", "Trả kết quả"), "the service added on the web")
        lay = display.app.drawn
        shown_a = " ".join(b.text for b in (lay.box("waiting.A.name"), lay.box("waiting.A.name.line2")) if b)
        assert shown_a == "Đất đai - Nhà ở"
        assert lay.box("waiting.B.name").colour == "muted" and lay.box("waiting.A.name").colour == "text"
    finally:
        display.stop()


def procedures_summary(*names, service="B"):
    return {"seq": 9, "service": service, "more": 0, "procedures": [
        {"id": i, "code": None, "name_vi": name, "name_en": "", "processing_time": "Trong ngày", "fee": "Miễn phí",
         "on_the_spot": False} for i, name in enumerate(names, 1)]}


def test_slides_come_from_the_retained_summaries_and_lookup_address(config, fonts, broker):
    """A display configured with only its MQTT account: the procedures published (retained) before it
    started are shown, a changed summary changes the slide, an empty payload removes it; the QR slide
    follows `lookup_url` of the services snapshot."""
    import dataclasses

    bare = dataclasses.replace(config, services=(), counters=(), display=dataclasses.replace(
        config.display, slides=("procedures", "lookup"), slide_s=4))
    topics = Topics(config.mqtt.root, config.site.id)
    server = Client(broker, [])
    try:
        server.publish(topics.services(), {"seq": 1, "services": [
            {"code": "B", "name_vi": "Hộ tịch - Chứng thực", "name_en": "Civil status", "open": True}],
            "lookup_url": "http://192.168.1.10:8081/procedures"}, retain=True)
        server.publish(topics.procedures("B"), procedures_summary("Đăng ký khai sinh", "Đăng ký kết hôn"), retain=True)
        server.publish(topics.board(), {"seq": 3, "at": "2026-11-23T09:00:00.000+07:00", "calls": [],
                                         "waiting": {"B": 2}, "message": ""}, retain=True)
        display = Display(bare, fonts)
        try:
            def slide(name):
                return lambda: display.app.drawn is not None and display.app.drawn.slide == name

            display.run_until(slide("procedures/B/0"), "the procedures published before it started",
                              timeout=3 * WAIT_S)
            assert display.shows("procedures.0.name", "Đăng ký khai sinh")
            assert display.app.drawn.box("procedures.title").text.endswith("Hộ tịch - Chứng thực")
            display.run_until(slide("lookup"), "the QR code of the lookup page", timeout=3 * WAIT_S)

            server.publish(topics.procedures("B"), procedures_summary("Chứng thực chữ ký"), retain=True)
            display.run_until(lambda: display.shows("procedures.0.name", "Chứng thực chữ ký"), "the changed summary",
                              timeout=3 * WAIT_S)

            server.publish(topics.procedures("B"), b"", retain=True)
            display.run_until(lambda: display.app.sources.field("B") is None, "the summary removed")
            display.run_until(slide("lookup"), "the QR slide alone")
            assert not display.app.drawn.rotating  # one slide left: nothing turns

            server.publish(topics.services(), {"seq": 2, "services": [
                {"code": "B", "name_vi": "Hộ tịch - Chứng thực", "name_en": "", "open": True}]}, retain=True)
            display.run_until(slide("history"), "nothing left to show but the (empty) previous calls")
        finally:
            display.stop()
    finally:
        server.publish(topics.procedures("B"), b"", retain=True)
        server.close()
