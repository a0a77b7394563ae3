"""The counter keypad's loop on MockFactory pins with a recording bus and hand-moved clocks:
every step (`handle`, `tick`) is driven by the test, no sleeps. Also its config section,
the keyboard simulator and the start-up checks."""

from __future__ import annotations

import io
import logging
import threading
import time
from datetime import timedelta
from typing import Any

import pytest

from device.keypad import FLICKER, MAX_WAIT_S, NOTICE_S, ON, SCORES, STAFF, THANKS_S, id_maker, keypad_client_id
from device.keypad_main import KeypadApp, KeypadError, Simulator, run_keypad
from queuebox.bus import Connected, Message
from queuebox.clock import iso
from queuebox.config import load_config
from queuebox.errors import ConfigError
from queuebox.protocol import Topics, encode
from tests.conftest import EXAMPLE_CONFIG
from tests.device.fakes import FakeBus, FakeMonotonic
from tests.factories import FakeClock, make_config

PINS = {"next": 5, "recall": 6, "no_show": 13, "done": 19, "1": 16, "2": 20, "3": 21, "4": 26}
LEDS = {"next": 17, "recall": 27, "no_show": 22, "done": 12, "1": 18, "2": 23, "3": 24, "4": 25}
KEYPAD = {"counter": "3", "button_next": 5, "button_recall": 6, "button_no_show": 13, "button_done": 19,
          "led_next": 17, "led_recall": 27, "led_no_show": 22, "led_done": 12,
          "rating_buttons": [16, 20, 21, 26], "rating_leds": [18, 23, 24, 25],
          "blink_s": 0.5, "cooldown_s": 1.0, "reply_timeout_s": 5.0, "retry_every_s": 1.0}
CONFIG = make_config(keypad=KEYPAD, queue={"rating_window_s": 60})
TOPICS = Topics("t", "site")
BLINK = (0.5, 0.5)


class Rig:
    """A KeypadApp on MockFactory pins and a FakeBus, never started: the test drives its loop."""

    def __init__(self, factory: Any, config: Any = CONFIG, connected: bool = True) -> None:
        self.factory = factory
        self.clock = FakeMonotonic()
        self.wall = FakeClock()
        self.bus = FakeBus(TOPICS, keypad_client_id("3"))
        if not connected:
            self.bus.connected.clear()
        self.results: list[Any] = []
        ids = iter(f"kp3-test-{i:03d}" for i in range(1, 1000))
        self.app = KeypadApp(config, pin_factory=factory, bus=self.bus, clock=self.clock, wall=self.wall,
                             new_id=lambda: next(ids), on_result=self.results.append)
        self.keypad = self.app.keypad
        self.keypad.tick()

    # --- driving -------------------------------------------------------------------
    def press(self, *buttons: str, hold_s: float = 0.05) -> None:
        for b in buttons:
            self.factory.pin(PINS[b]).drive_low()
            self.clock.advance(hold_s)
            self.factory.pin(PINS[b]).drive_high()
            self.clock.advance(0.01)
        self.drain()

    def drain(self) -> None:
        while not self.bus.inbox.empty():
            self.keypad.handle(self.bus.inbox.get_nowait())
        self.keypad.tick()

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.wall.advance(seconds=seconds)
        self.keypad.tick()

    def state(self, state: str = "idle", ticket: str | None = None, waiting: dict | None = None,
              rating_in_s: float | None = None) -> None:
        until = iso(self.wall.now + timedelta(seconds=rating_in_s), CONFIG.zone) if rating_in_s is not None else None
        payload = {"seq": 1, "state": state, "ticket": ticket, "waiting": {"B": 0, "C": 0} if waiting is None
                   else waiting, "rating_until": until}
        self.message(TOPICS.counter_state("3"), encode(payload), retain=True)

    def reply(self, command_id: str, **body: Any) -> None:
        self.message(TOPICS.counter_reply("3"), encode({"id": command_id, "ok": True, **body}))

    def refuse(self, command_id: str, code: str) -> None:
        self.message(TOPICS.counter_reply("3"), encode({"id": command_id, "ok": False,
                                                        "error": {"code": code, "message": f"because {code}"}}))

    def message(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.keypad.handle(Message(topic, payload, retain))
        self.keypad.tick()

    # --- reading -------------------------------------------------------------------
    def sent(self) -> list[tuple[str, dict]]:
        return [(topic.rsplit("/", 1)[1], msg) for topic, msg, _ in self.bus.published]

    def shown(self, *names: str) -> tuple:
        return tuple(self.app.leds.shown[n] for n in names)

    def lit(self, name: str) -> bool:
        return bool(self.factory.pin(LEDS[name]).state)

    def close(self) -> None:
        self.app.panel.close()
        self.app.leds.close()


@pytest.fixture
def rig(mock_factory):
    r = Rig(mock_factory)
    r.state("idle", waiting={"B": 2, "C": 0})
    yield r
    r.close()


# --- presses go out as protocol commands ------------------------------------------------------

@pytest.mark.parametrize("button, leaf, body", [
    ("next", "command", {"action": "next"}), ("recall", "command", {"action": "recall"}),
    ("no_show", "command", {"action": "no_show"}), ("done", "command", {"action": "done"}),
    ("1", "rating", {"score": 1}), ("4", "rating", {"score": 4}),
])
def test_a_press_publishes_its_command(rig, button, leaf, body):
    rig.press(button)
    assert rig.sent() == [(leaf, {"id": "kp3-test-001", **body})]
    assert rig.bus.published[0][0] == f"t/site/counter/3/{leaf}"


def test_a_double_press_within_the_cooldown_is_one_command(rig):
    rig.press("next")
    rig.reply("kp3-test-001", ticket={"label": "B001"})
    rig.press("next")  # 0.06 s later: a finger pressing twice
    rig.advance(0.5)
    rig.press("next")
    assert [m["action"] for _, m in rig.sent()] == ["next"]
    rig.advance(1.0)
    rig.press("next")
    assert [m["action"] for _, m in rig.sent()] == ["next", "next"]


def test_contact_bounce_is_one_press(rig):
    for _ in range(3):
        rig.factory.pin(PINS["done"]).drive_low()
        rig.clock.advance(0.005)
        rig.factory.pin(PINS["done"]).drive_high()
        rig.clock.advance(0.005)
    rig.drain()
    assert len(rig.sent()) == 1


def test_no_answer_resends_the_same_id_then_gives_up(rig, caplog):
    rig.press("next")
    for _ in range(4):
        rig.advance(1.0)
    assert [m["id"] for _, m in rig.sent()] == ["kp3-test-001"] * 5
    with caplog.at_level(logging.ERROR, "device.keypad"):
        rig.advance(1.0)
    assert "no answer from the server to next kp3-test-001 within 5 s (5 sends)" in caplog.text
    assert [(r.button, r.result) for r in rig.results] == [("next", "no_reply")]
    assert rig.shown("next") == (FLICKER,)
    rig.advance(NOTICE_S)
    assert rig.shown("next") == (ON,)  # idle with citizens waiting
    with caplog.at_level(logging.WARNING, "device.keypad"):
        rig.reply("kp3-test-001", ticket={"label": "B001"})
    assert "the server applied next kp3-test-001 after this keypad stopped waiting" in caplog.text


def test_presses_are_sent_one_at_a_time_in_order(rig):
    rig.state("calling", "B001")
    rig.press("done", "1")
    assert rig.sent() == [("command", {"id": "kp3-test-001", "action": "done"})]
    rig.reply("kp3-test-001", ticket={"label": "B001"})
    assert rig.sent()[1] == ("rating", {"id": "kp3-test-002", "score": 1})


def test_a_button_already_on_its_way_is_not_queued_again(rig):
    rig.press("done", "1")
    rig.advance(1.5)  # past the cooldown of "1", still queued behind done
    rig.press("1")
    rig.reply("kp3-test-001")
    rig.reply("kp3-test-002", ticket="B001", score=1)
    rig.advance(1.0)
    assert [m.get("action") or m.get("score") for _, m in rig.sent()] == ["done", "done", 1]


def test_a_queued_press_whose_time_ran_out_is_given_up_not_sent(rig):
    rig.press("done", "1")
    rig.advance(5.0)  # done gives up; the rating was pressed 0.06 s after it: its time ran out too
    assert [(r.button, r.result) for r in rig.results] == [("done", "no_reply"), ("1", "no_reply")]
    assert all(m.get("action") == "done" for _, m in rig.sent())


def test_a_refusal_flickers_the_buttons_led_and_is_logged(rig, caplog):
    rig.state("idle", waiting={"B": 0, "C": 0})
    with caplog.at_level(logging.WARNING, "device.keypad"):
        rig.press("recall")
        rig.refuse("kp3-test-001", "not_allowed")
    assert "counter 3: recall refused: not_allowed: because not_allowed" in caplog.text
    assert rig.shown("recall") == (FLICKER,)
    assert [(r.result, r.detail) for r in rig.results] == [("refused", "not_allowed")]
    rig.advance(NOTICE_S)
    assert rig.shown("recall") == (None,)


@pytest.mark.parametrize("code", ["no_ticket", "already_rated"])
def test_a_rating_refused_by_the_window_is_only_info(rig, caplog, code):
    with caplog.at_level(logging.INFO, "device.keypad"):
        rig.press("2")
        rig.refuse("kp3-test-001", code)
    [record] = [r for r in caplog.records if "refused" in r.getMessage()]
    assert record.levelno == logging.INFO and f"rating 2 refused: {code}" in record.getMessage()


def test_replies_to_other_commands_are_ignored(rig):
    rig.press("next")
    rig.reply("someone-else", ticket={"label": "B009"})
    assert rig.keypad.requests and rig.results == []


def test_a_press_while_the_broker_is_away_waits_and_goes_on_reconnection(mock_factory):
    rig = Rig(mock_factory, connected=False)
    try:
        rig.press("next")
        rig.advance(2.0)
        assert rig.sent() == []
        rig.bus.connected.set()
        rig.keypad.handle(Connected(session_present=True))
        assert rig.sent() == [("command", {"id": "kp3-test-001", "action": "next"})]
    finally:
        rig.close()


# --- LEDs from the counter's state -----------------------------------------------------------

@pytest.mark.parametrize("state, waiting, expected", [
    ("idle", {"B": 2}, (ON, None, None, None)),
    ("idle", {"B": 0, "C": 0}, (None, None, None, None)),
    ("calling", {"B": 0}, (BLINK, ON, ON, ON)),
    ("serving", {"B": 0}, (ON, None, None, ON)),
    ("paused", {"B": 5}, (None, None, None, None)),
])
def test_staff_leds_follow_the_counter_state(rig, state, waiting, expected):
    rig.state(state, "B001" if state in ("calling", "serving") else None, waiting)
    assert rig.shown(*STAFF) == expected
    for name, pattern in zip(STAFF, expected):
        if pattern != BLINK:
            assert rig.lit(name) == (pattern == ON), name


def test_the_next_led_really_blinks_while_calling(rig):
    rig.state("calling", "B001")
    pin = rig.factory.pin(LEDS["next"])
    pin.clear_states()
    seen, deadline = set(), time.monotonic() + 5
    while len(seen) < 2 and time.monotonic() < deadline:  # gpiozero blinks on its own thread
        seen.add(bool(pin.state))
        time.sleep(0.05)
    assert seen == {True, False}


def test_without_broker_or_state_the_staff_leds_flicker(mock_factory):
    rig = Rig(mock_factory)
    try:
        assert rig.shown(*STAFF) == (FLICKER,) * 4  # connected, but no state from the server yet
        rig.state("idle")
        assert rig.shown(*STAFF) == (None,) * 4
        rig.bus.connected.clear()
        rig.advance(MAX_WAIT_S)
        assert rig.shown(*STAFF) == (FLICKER,) * 4
        rig.message(TOPICS.counter_state("3"), b"", retain=True)  # retained state removed
        rig.bus.connected.set()
        rig.advance(MAX_WAIT_S)
        assert rig.shown(*STAFF) == (FLICKER,) * 4
    finally:
        rig.close()


def test_rating_leds_are_lit_until_rating_until(rig):
    rig.state("idle", rating_in_s=40)
    assert rig.shown(*SCORES) == (ON,) * 4 and all(rig.lit(s) for s in SCORES)
    rig.advance(39.9)
    assert rig.shown(*SCORES) == (ON,) * 4
    rig.advance(0.2)
    assert rig.shown(*SCORES) == (None,) * 4 and not any(rig.lit(s) for s in SCORES)


@pytest.mark.parametrize("rating_in_s", [None, -1.0, 0.0])
def test_rating_leds_are_off_without_a_window(rig, rating_in_s):
    rig.state("idle", rating_in_s=rating_in_s)
    assert rig.shown(*SCORES) == (None,) * 4


def test_a_clock_behind_the_servers_lights_the_ratings_at_most_the_window_and_warns_once(rig, caplog):
    with caplog.at_level(logging.WARNING, "device.keypad"):
        rig.state("idle", rating_in_s=3600)
        rig.state("idle", rating_in_s=3600)
    assert caplog.text.count("clock seems") == 1
    rig.advance(59.9)
    assert rig.shown("1") == (ON,)
    rig.advance(0.2)
    assert rig.shown("1") == (None,)


def test_the_same_window_republished_does_not_stretch_it(rig):
    rig.state("idle", rating_in_s=3600)  # this Pi's clock is an hour behind
    rig.advance(50)
    rig.wall.advance(seconds=-50)  # ... and the same rating_until comes again, with another commit
    rig.state("idle", rating_in_s=3600)
    rig.advance(10.1)
    assert rig.shown("1") == (None,)


def test_a_rating_that_counted_keeps_only_its_led_lit_for_a_while(rig):
    rig.state("idle", rating_in_s=50)
    rig.press("2")
    rig.reply("kp3-test-001", ticket="B001", score=2)
    assert rig.shown(*SCORES) == (None, ON, None, None)
    assert [(r.button, r.result, r.detail) for r in rig.results] == [("2", "ok", "B001")]
    rig.advance(THANKS_S)
    assert rig.shown(*SCORES) == (None,) * 4


def test_bad_messages_are_dropped_with_a_warning(rig, caplog):
    with caplog.at_level(logging.WARNING, "device.keypad"):
        rig.message(TOPICS.counter_state("3"), b'{"seq": 1, "state": "dancing"}')
        rig.message(TOPICS.counter_reply("3"), b"not json")
        rig.message(TOPICS.board(), b"{}")
    assert "dropped a bad counter state" in caplog.text and "dropped a bad reply" in caplog.text
    assert "unexpected topic" in caplog.text
    assert rig.keypad.state["state"] == "idle"


# --- a keypad with fewer parts -----------------------------------------------------------------

def test_a_rating_only_keypad_without_leds_works(mock_factory):
    config = make_config(keypad={"counter": "3", "rating_buttons": [16, 20, 21, 26]})
    rig = Rig(mock_factory, config)
    try:
        assert rig.app.leds.leds == {}
        rig.state("idle", rating_in_s=30)
        rig.press("3")
        assert rig.sent() == [("rating", {"id": "kp3-test-001", "score": 3})]
        assert rig.shown(*SCORES) == (ON,) * 4  # what the LEDs would show, for the simulation
    finally:
        rig.close()


def test_the_counter_option_overrides_the_config(mock_factory):
    app = KeypadApp(CONFIG, pin_factory=mock_factory, counter="5", bus=FakeBus(TOPICS, "counter-5"))
    try:
        assert app.keypad._command_topic == "t/site/counter/5/command"
    finally:
        app.panel.close()
        app.leds.close()


def test_a_bad_counter_id_is_a_clear_error(mock_factory):
    with pytest.raises(KeypadError, match="counter id 'a/b'"):
        KeypadApp(CONFIG, pin_factory=mock_factory, counter="a/b", bus=FakeBus(TOPICS, "x"))


def test_no_buttons_is_a_clear_error():
    with pytest.raises(KeypadError, match="the keypad has no buttons"):
        run_keypad(make_config(), simulate=True)


def test_ids_are_unique_and_short():
    a, b = id_maker("counter-with-16ch"), id_maker("counter-with-16ch")
    ids = {a(), a(), b()}
    assert len(ids) == 3 and all(len(i) <= 64 for i in ids)


# --- the simulator --------------------------------------------------------------------------

@pytest.mark.parametrize("text, pressed", [
    ("n", ["next"]), ("d1\n", ["done", "1"]), ("next recall", ["next", "recall"]), ("v", ["no_show"]),
    ("s", []), ("x", []), ("no-show 4", ["no_show", "4"]), ("", []),
])
def test_the_simulator_presses_what_a_text_names(rig, text, pressed):
    assert Simulator(CONFIG, rig.factory).press_text(text) == pressed
    rig.drain()
    assert [m.get("action") or str(m.get("score")) for _, m in rig.sent()][:1] == pressed[:1]


def test_the_simulator_warns_about_a_button_that_does_not_exist(rig, caplog):
    with caplog.at_level(logging.WARNING, "device.keypad_main"):
        assert Simulator(CONFIG, rig.factory).press_text("z") == []
    assert "no button 'z'" in caplog.text


def test_the_keyboard_is_read_until_q(rig):
    stop = threading.Event()
    Simulator(CONFIG, rig.factory).read_keyboard(io.StringIO("n\nq\nd\n"), stop)
    assert stop.is_set()
    rig.drain()
    assert [m["action"] for _, m in rig.sent()] == ["next"]


# --- the [keypad] config section ---------------------------------------------------------------

def test_the_example_keypad_is_valid_and_wires_sixteen_distinct_pins():
    kp = load_config(EXAMPLE_CONFIG).keypad
    assert len(set(kp.pins().values())) == 16
    assert kp.rating_buttons == (16, 20, 21, 26) and kp.counter == "1"


def test_the_default_keypad_has_nothing_wired():
    assert make_config().keypad.pins() == {}


@pytest.mark.parametrize("change, problem", [
    ({"led_done": 5}, "keypad: GPIO pin 5 is used twice (button_next, led_done)"),
    ({"button_recall": 28}, "keypad.button_recall: 28 is not a GPIO pin (1-27)"),
    ({"rating_leds": [18, 23, 24, 40]}, "keypad.rating_leds[3]: 40 is not a GPIO pin (1-27)"),
    ({"rating_buttons": [16, 20, 21]}, "keypad.rating_buttons: must list 4 pins (scores 1 to 4) or none, not 3"),
    ({"rating_buttons": [16, 0, 21, 26]}, "keypad.rating_buttons[1]: 0 is not a GPIO pin (every score needs its button)"),
    ({"rating_buttons": [], "rating_leds": [18, 23, 24, 25]}, "keypad.rating_leds: there are no rating_buttons to light"),
    ({"blink_s": 0}, "keypad.blink_s: must be more than 0"),
    ({"cooldown_s": -1.0}, "keypad.cooldown_s: must be more than 0"),
    ({"counter": "quầy 3"}, "keypad.counter: 'quầy 3' must be 1-16 letters, digits, - or _"),
    ({"rating_button": [1, 2, 3, 4]}, "keypad.rating_button: unknown key (did you mean 'rating_buttons'?)"),
])
def test_keypad_config_problems_are_reported(change, problem):
    with pytest.raises(ConfigError) as caught:
        make_config(keypad={**KEYPAD, **change})
    assert problem in caught.value.problems
