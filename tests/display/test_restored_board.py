"""A board received with the retain flag after (re)connecting may be the one the broker restored
from its file after a power cut (display/app.py): it never replaces a newer board on the screen,
its newest call does not blink until the server sends a board live, and the calls made while
the broker was away are still read out once it does. tests/chaos/test_power_blip.py checks the
same through the real processes."""

from __future__ import annotations

import pytest

from queuebox.bus import Connected
from tests.display.test_app import Harness
from tests.display.test_board import snapshot

JUST_NOW = "2026-11-23T09:41:12.000+07:00"  # the harness's wall clock: a call made now blinks at once


def newest(ticket: str, at: str = JUST_NOW) -> list[dict]:
    return [{"ticket": ticket, "counter": "3", "counter_name": "Quầy 3", "service": "A", "at": at, "recall": 0},
            *snapshot()["calls"]]


@pytest.fixture
def h(example_config):
    from display.render import Fonts
    return Harness(example_config, Fonts(example_config.display.font_path, example_config.display.font_bold_path))


def bright(h: Harness) -> bool:
    box = h.app.drawn.box("calling.label") if h.app.drawn else None
    return box is not None and box.colour == "highlight_text"


def test_a_restored_board_older_than_the_one_shown_is_not_drawn(h):
    h.send("board", snapshot(seq=60, calls=newest("A024")))
    h.app.step()
    h.inbox.put(Connected(session_present=True))
    h.send("board", snapshot(seq=57), retain=True)  # what the broker's file held
    h.app.step()
    assert h.text("calling.label") == "A024"


def test_a_retained_board_does_not_blink_until_the_server_sends_it_live(h):
    h.inbox.put(Connected(session_present=False))
    h.send("board", snapshot(seq=60, calls=newest("A024")), retain=True)
    h.app.step()
    assert h.text("calling.label") == "A024" and not bright(h) and not h.app.confirmed
    h.send("board", snapshot(seq=60, calls=newest("A024")))  # the server republished it
    h.app.step()
    assert bright(h) and h.app.confirmed


def test_calls_made_while_the_broker_was_away_are_read_out_when_the_server_is_back(h):
    h.send("board", snapshot(seq=57))
    h.app.step()
    h.inbox.put(Connected(session_present=True))
    h.send("board", snapshot(seq=55), retain=True)  # restored from the broker's file: older
    h.send("events", {"seq": 58, "at": JUST_NOW, "type": "called", "ticket": "A024", "counter": "3"})
    h.send("board", snapshot(seq=58, calls=newest("A024")))
    h.run_announcements(10)
    assert h.spoken() == ["Mời công dân có số thứ tự a hai mươi tư đến quầy số ba"]
