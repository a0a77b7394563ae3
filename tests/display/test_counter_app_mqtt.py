"""A counter display against a real mosquitto and a real server (engine + bus + bridge, as
`queuebox server` wires them): its counter's calls, recalls, pause and resume on the next frame;
bad states, a removed counter, the broker going away; a power cut's stale retained state."""

from __future__ import annotations

import dataclasses
import json
import logging
import time

import pygame
import pytest

from display.app import display_client_id
from display.counter_app import CounterApp, counter_subscriptions
from display.render import Fonts, Renderer
from queuebox.bus import Bus, Message
from queuebox.protocol import Topics
from server.settings import raw_config
from tests.integration.test_server_mqtt import WAIT_S, Client, Server, config, server  # noqa: F401 (fixtures)


class CounterDisplay:
    """A counter display as `queuebox display --counter ID` wires it, drawing off-screen."""

    def __init__(self, config, fonts, counter="1", size=(800, 480)) -> None:
        self.topics = Topics(config.mqtt.root, config.site.id)
        self.bus = Bus(config.mqtt, self.topics, display_client_id(config),
                       subscriptions=counter_subscriptions(self.topics, counter))
        self.app = CounterApp(config, counter, Renderer(pygame.Surface(size), fonts), self.bus.inbox,
                              connected=self.bus.connected.is_set, topics=self.topics, offline_after_s=0.5)
        self.bus.start()

    def run_until(self, predicate, what, timeout=WAIT_S):
        deadline = time.monotonic() + timeout
        wait = 0.0
        while time.monotonic() < deadline:
            wait = min(self.app.step(wait), 0.05)
            if predicate():
                return
        drawn = self.app.drawn.texts() if self.app.drawn else None
        raise AssertionError(f"the counter display never showed {what} in {timeout}s; it shows {drawn}")

    def shows(self, name, text):
        box = self.app.drawn.box(name) if self.app.drawn else None
        return box is not None and box.text == text

    def fill(self):
        box = self.app.drawn.box("counter.panel") if self.app.drawn else None
        return box.fill if box else None

    def stop(self):
        self.bus.stop()


@pytest.fixture(scope="module")
def fonts(example_config):
    return Fonts(example_config.display.font_path, example_config.display.font_bold_path)


@pytest.fixture
def display(config, fonts, server):
    d = CounterDisplay(config, fonts)
    yield d
    d.stop()


@pytest.fixture
def client(broker):
    c = Client(broker, [])
    yield c
    c.close()


def take_and_call(client, topics, n, counter="1"):
    client.publish(topics.kiosk_take("kiosk1"), {"id": f"t-{n}", "service": "A"})
    client.publish(topics.counter_command(counter), {"id": f"n-{n}", "action": "next"})


def test_a_call_shows_blinking_and_a_recall_blinks_again(display, client, config):
    topics = display.topics
    display.run_until(lambda: display.shows("counter.state", "Mời số tiếp theo"), "the free counter")
    assert display.shows("counter.name", "Quầy 1")
    take_and_call(client, topics, 1)
    display.run_until(lambda: display.shows("counter.ticket", "A001"), "A001 called")
    display.run_until(lambda: display.fill() == "highlight", "A001 blinking")
    assert display.app.drawn.box("counter.recall") is None

    client.publish(topics.counter_command("1"), {"id": "r-1", "action": "recall"})
    display.run_until(lambda: display.shows("counter.recall", "Gọi lần 2  ·  Call 2"), "the recall")
    display.run_until(lambda: display.fill() == "highlight", "the recall blinking")

    client.publish(topics.counter_command("1"), {"id": "s-1", "action": "start"})
    display.run_until(lambda: display.shows("counter.caption", "ĐANG PHỤC VỤ  ·  Now serving"), "serving A001")
    assert display.shows("counter.ticket", "A001")


def test_another_counters_call_changes_nothing(display, client):
    topics = display.topics
    display.run_until(lambda: display.shows("counter.state", "Mời số tiếp theo"), "the free counter")
    take_and_call(client, topics, 1, counter="2")
    display.run_until(lambda: display.app.board.calls and display.app.board.calls[0].ticket == "A001",
                      "the board with counter 2's call")
    display.app.step(0)
    assert display.shows("counter.state", "Mời số tiếp theo") and display.app.drawn.box("counter.ticket") is None


def test_paused_with_its_reason_then_resumed(display, client):
    topics = display.topics
    display.run_until(lambda: display.shows("counter.state", "Mời số tiếp theo"), "the free counter")
    client.publish(topics.counter_command("1"), {"id": "p-1", "action": "pause", "reason": "Họp giao ban"})
    display.run_until(lambda: display.shows("counter.state", "Tạm dừng"), "paused")
    assert display.shows("counter.reason", "Họp giao ban")
    client.publish(topics.counter_command("1"), {"id": "p-2", "action": "resume"})
    display.run_until(lambda: display.shows("counter.state", "Mời số tiếp theo"), "open again")


def test_a_bad_state_is_dropped_with_one_warning_and_the_last_good_one_stays(display, client, caplog):
    topics = display.topics
    take_and_call(client, topics, 1)
    display.run_until(lambda: display.shows("counter.ticket", "A001"), "A001 called")
    with caplog.at_level(logging.WARNING, logger="display.counter_app"):
        for bad in (b"not json", json.dumps({"seq": 99, "state": "dancing", "ticket": "Z9", "waiting": {}}),
                    json.dumps({"seq": 100, "state": "calling", "waiting": {}})):
            client.publish(topics.counter_state("1"), bad)
        client.publish(topics.counter_state("2"), b"{}")  # a fence: the display does not read counter 2's
        display.run_until(lambda: display.app.inbox.empty(), "the bad states handled")
        display.app.step(0.2)
    assert display.shows("counter.ticket", "A001")
    assert len([r for r in caplog.records if "bad state" in r.getMessage()]) == 1


def test_a_removed_counter_says_it_is_not_in_use(config, fonts, server, client):
    display = CounterDisplay(config, fonts, counter="3")
    try:
        display.run_until(lambda: display.shows("counter.state", "Mời số tiếp theo"), "counter 3 free")
        counters = [c for c in raw_config(server.engine.config)["counters"] if c["id"] != "3"]
        server.engine.reconfigure({"counters": counters}, "manager")
        display.run_until(lambda: display.shows("counter.state", "Quầy không hoạt động"), "counter 3 gone")
        assert display.shows("counter.name", "Quầy 3")  # the name from the config file stays
    finally:
        display.stop()
    fresh = CounterDisplay(config, fonts, counter="3")  # started after: the broker holds no state of it
    try:
        # the retained board comes after any retained state (one subscription, the state's filter first)
        fresh.run_until(lambda: fresh.app.board.seq >= 0, "the retained board")
        assert fresh.shows("counter.state", "Đang chờ máy chủ…")
    finally:
        fresh.stop()


def test_names_come_from_the_server_when_the_display_has_none(config, fonts, server, client):
    bare = dataclasses.replace(config, counters=(), services=())
    display = CounterDisplay(bare, fonts, counter="2", size=(1280, 720))
    try:
        display.run_until(lambda: display.shows("counter.name", "Quầy 2"), "the server's name of counter 2")
        counters = raw_config(server.engine.config)["counters"]
        counters[1] = {**counters[1], "name": "Quầy 2 - Hộ tịch, chứng thực"}
        server.engine.reconfigure({"counters": counters}, "manager")
        display.run_until(lambda: display.shows("counter.detail", "Hộ tịch, chứng thực"), "the new name")
    finally:
        display.stop()


def test_broker_going_away_and_coming_back(display, client, broker, server):
    topics = display.topics
    take_and_call(client, topics, 1)
    display.run_until(lambda: display.shows("counter.ticket", "A001"), "A001 called")
    broker.stop()
    display.run_until(lambda: display.app.drawn.box("counter.offline") is not None, "the offline mark")
    assert display.shows("counter.ticket", "A001")  # the last state stays
    broker.start()
    display.run_until(lambda: display.app.drawn.box("counter.offline") is None, "the mark gone",
                      timeout=3 * WAIT_S)
    assert server.bus.wait_connected(3 * WAIT_S)
    again = Client(broker, [])
    try:
        take_and_call(again, topics, 2)
        display.run_until(lambda: display.shows("counter.ticket", "A002"), "A002 after the broker came back",
                          timeout=3 * WAIT_S)
    finally:
        again.close()


def test_a_stale_retained_state_never_replaces_a_newer_one_nor_blinks(config, fonts):
    """What a power cut does: the broker restores an older state from its file (the retain flag set)."""
    topics = Topics(config.mqtt.root, config.site.id)
    app = CounterApp(config, "1", Renderer(pygame.Surface((800, 480)), fonts), None, connected=lambda: True,
                     topics=topics)
    state = {"seq": 10, "state": "calling", "ticket": "A005", "waiting": {}, "rating_until": None}
    app.handle(Message(topics.counter_state("1"), json.dumps(state).encode(), retain=False))
    older = {**state, "seq": 8, "ticket": "A004"}
    app.handle(Message(topics.counter_state("1"), json.dumps(older).encode(), retain=True))
    assert app.screen.ticket == "A005"
    board = {"seq": 10, "at": "2026-11-23T09:00:00+07:00", "message": "", "waiting": {},
             "calls": [{"ticket": "A005", "counter": "1", "counter_name": "Quầy 1", "service": "A",
                        "at": app.clock().isoformat(), "recall": 0}]}
    app.handle(Message(topics.board(), json.dumps(board).encode(), retain=True))  # restored: unconfirmed
    app.redraw()
    assert app.drawn.box("counter.panel").fill == "panel"  # drawn, not blinking
    app.handle(Message(topics.board(), json.dumps(board).encode(), retain=False))  # live from the server
    app.redraw()
    assert app.drawn.box("counter.panel").fill == "highlight"
