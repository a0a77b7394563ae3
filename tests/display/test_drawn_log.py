"""`queuebox display --drawn-log FILE`: one JSON line per frame drawn, saying which board is on
the screen and when (display/main.py `DrawnLog`, `DisplayApp(on_drawn=...)`)."""

from __future__ import annotations

import json
import queue
import time

import pygame
import pytest

from display.app import DisplayApp
from display.main import DrawnLog
from display.render import Fonts, Renderer
from queuebox.bus import Message
from queuebox.protocol import Topics
from tests.display.test_board import NOW, snapshot


@pytest.fixture
def app_and_log(example_config, tmp_path):
    fonts = Fonts(example_config.display.font_path, example_config.display.font_bold_path)
    topics = Topics(example_config.mqtt.root, example_config.site.id)
    inbox: queue.Queue = queue.Queue()
    log = DrawnLog(tmp_path / "drawn.jsonl")
    app = DisplayApp(example_config, Renderer(pygame.Surface((640, 360)), fonts), inbox, connected=lambda: True,
                     topics=topics, clock=lambda: NOW, on_drawn=log)

    def send(payload):
        inbox.put(Message(topics.board(), json.dumps(payload, ensure_ascii=False).encode(), True))

    def lines():
        return [json.loads(line) for line in (tmp_path / "drawn.jsonl").read_text(encoding="utf-8").splitlines()]
    yield app, send, lines
    log.close()


def test_each_frame_drawn_is_logged_with_its_board(app_and_log):
    app, send, lines = app_and_log
    before = time.monotonic()
    app.step()  # the empty board before any message
    send(snapshot())
    app.step()
    first, second = lines()
    assert first["seq"] == -1 and first["calls"] == [] and first["offline"] is False
    assert second["seq"] == 57
    assert second["calls"] == [["A023", "3", 0], ["B015", "2", 0], ["A022", "1", 1]]
    assert before <= first["mono"] <= second["mono"] <= time.monotonic()


def test_a_new_board_that_changes_no_pixel_is_still_logged(app_and_log):
    app, send, lines = app_and_log
    send(snapshot())
    app.step()
    send(snapshot(seq=58))  # e.g. a ticket started: the board's seq moves, nothing on it changes
    app.step()
    assert [line["seq"] for line in lines()] == [57, 58]


def test_nothing_is_logged_while_nothing_is_drawn(app_and_log):
    app, send, lines = app_and_log
    send(snapshot())
    app.step()
    app.step()
    app.step()
    assert len(lines()) == 1


def test_the_option_is_in_the_command_help():
    from queuebox.cli import build_parser

    args = build_parser().parse_args(["display", "--screenshot", "b.png", "--follow", "--drawn-log", "d.jsonl"])
    assert args.drawn_log == "d.jsonl"
