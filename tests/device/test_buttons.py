"""Press rules (pure), the gpiozero panel on MockFactory pins, the LEDs."""

from __future__ import annotations

import pytest

from device.buttons import PRIORITY, ButtonEvent, Light, Panel, PressRules, group_button
from gpiozero import Button
from queuebox.config_devices import KioskConfig

KIOSK = KioskConfig(buttons={"A": 5, "B": 6}, priority_button=21, led_ready=17, led_busy=27, led_fault=22,
                    cooldown_s=2.0, priority_window_s=5.0)


def rules(**kw) -> PressRules:
    return PressRules(cooldown_s=kw.get("cooldown_s", 2.0), priority_window_s=kw.get("window", 5.0))


def press(button: str, at: float) -> ButtonEvent:
    return ButtonEvent(button, True, at)


def release(button: str, at: float) -> ButtonEvent:
    return ButtonEvent(button, False, at)


def takes(r: PressRules, events: list[ButtonEvent], finish_after: float | None = None) -> list[tuple[str, bool, float]]:
    """Feed events; each accepted press is finished `finish_after` s later (never, if None)."""
    taken = []
    for event in events:
        decision = r.on_event(event)
        if decision.take:
            taken.append((decision.service, decision.priority, event.at))
            if finish_after is not None:
                r.finish(decision.service, event.at + finish_after)
    return taken


# --- press rules --------------------------------------------------------------------------

def test_one_press_asks_for_one_ticket():
    r = rules()
    assert r.on_event(press("A", 10.0)).take and r.busy
    assert r.on_event(release("A", 10.1)).reason == "release"


def test_a_button_held_down_gives_one_ticket():
    r = rules()
    # held for a minute: gpiozero reports one press edge; the ticket is done after 1 s
    assert takes(r, [press("A", 10.0), release("A", 70.0)], finish_after=1.0) == [("A", False, 10.0)]


def test_twenty_presses_in_a_second_give_one_ticket():
    r = rules()
    events = [e for i in range(20) for e in (press("A", 10 + i * 0.05), release("A", 10.025 + i * 0.05))]
    assert takes(r, events, finish_after=0.3) == [("A", False, 10.0)]


def test_twenty_presses_in_a_second_give_one_ticket_even_when_no_ticket_ends():
    r = rules()
    events = [e for i in range(20) for e in (press("A", 10 + i * 0.05), release("A", 10.025 + i * 0.05))]
    assert takes(r, events) == [("A", False, 10.0)]


def test_two_services_pressed_at_once_give_one_ticket_the_first():
    r = rules()
    assert takes(r, [press("A", 10.0), press("B", 10.0), release("A", 10.1), release("B", 10.1)],
                 finish_after=0.5) == [("A", False, 10.0)]


def test_presses_made_while_busy_are_ignored_even_when_read_after_the_ticket():
    r = rules()
    assert r.on_event(press("A", 10.0)).take
    r.finish("A", 12.0)  # the ticket came out at 12.0; a press of B at 11.0 is read only now
    assert r.on_event(press("B", 11.0)).reason == "busy"
    assert r.on_event(press("B", 12.5)).take


@pytest.mark.parametrize("gap, counts", [(0.001, False), (0.03, False), (0.049, False), (0.06, True)])
def test_contact_bounce_is_ignored(gap, counts):
    r = rules(cooldown_s=0.01)
    r.on_event(press("A", 10.0))
    r.finish("A", 10.0)
    r.on_event(release("A", 10.5))
    assert r.on_event(press("A", 10.5 + gap)).take is counts


def test_bounce_keeps_extending_the_quiet_time():
    r = rules(cooldown_s=0.01)
    r.on_event(press("A", 10.0))
    r.finish("A", 10.0)
    edges = [release("A", 11.0), press("A", 11.03), release("A", 11.06), press("A", 11.09)]
    assert [r.on_event(e).reason for e in edges] == ["release", "bounce", "release", "bounce"]


def test_cooldown_runs_from_the_press_and_again_from_the_ticket():
    r = rules(cooldown_s=2.0)
    assert r.on_event(press("A", 10.0)).take
    r.finish("A", 13.0)
    assert r.on_event(press("A", 14.9)).reason == "cooldown"
    assert r.on_event(press("B", 14.9)).take  # another button is not cooling down
    r.finish("B", 15.0)
    assert r.on_event(press("A", 15.1)).take


def test_priority_then_a_service_within_the_window_is_a_priority_ticket():
    r = rules(window=5.0)
    assert r.on_event(press(PRIORITY, 10.0)).reason == "priority_armed"
    assert r.armed(14.0) and r.armed_until() == 15.0
    decision = r.on_event(press("A", 14.0))
    assert decision.take and decision.priority
    r.finish("A", 14.5)
    assert not r.armed(14.6)  # used up
    assert not r.on_event(press("B", 20.0)).priority


def test_a_group_button_then_a_service_is_a_priority_ticket_of_that_group():
    r = rules(window=5.0)
    assert r.on_event(press(group_button("CT"), 10.0)).reason == "priority_armed"
    decision = r.on_event(press("A", 12.0))
    assert (decision.take, decision.priority, decision.group) == (True, True, "CT")
    r.finish("A", 12.5)
    later = r.on_event(press("B", 20.0))  # used up
    assert (later.priority, later.group) == (False, None)


@pytest.mark.parametrize("buttons, group", [
    ([group_button("CT"), group_button("KT")], "KT"),  # the last one pressed counts
    ([group_button("CT"), PRIORITY], None),  # the plain priority button: priority of no group
    ([PRIORITY, group_button("MT")], "MT"),
])
def test_the_last_priority_or_group_button_pressed_decides_the_group(buttons, group):
    r = rules(window=5.0)
    for i, button in enumerate(buttons):
        r.on_event(press(button, 10.0 + i))
    decision = r.on_event(press("A", 13.0))
    assert (decision.priority, decision.group) == (True, group)


def test_a_group_expires_with_the_priority_window():
    r = rules(window=5.0)
    r.on_event(press(group_button("CT"), 10.0))
    decision = r.on_event(press("A", 15.5))
    assert decision.take and (decision.priority, decision.group) == (False, None)


def test_priority_expires_after_the_window():
    r = rules(window=5.0)
    r.on_event(press(PRIORITY, 10.0))
    decision = r.on_event(press("A", 15.5))
    assert decision.take and not decision.priority


def test_the_priority_button_does_not_arm_while_busy():
    r = rules()
    r.on_event(press("A", 10.0))
    assert r.on_event(press(PRIORITY, 10.5)).reason == "busy"
    r.finish("A", 11.0)
    assert not r.on_event(press("B", 11.5)).priority


# --- the panel on MockFactory pins ----------------------------------------------------------

@pytest.fixture
def panel(mock_factory):
    events = []
    clock = iter(float(i) for i in range(100, 1000))
    p = Panel(KIOSK, mock_factory, events.append, clock=lambda: next(clock))
    p.events = events
    yield p
    p.close()


def test_pins_pulled_low_and_released_become_events(panel, mock_factory):
    mock_factory.pin(5).drive_low()
    mock_factory.pin(5).drive_high()
    mock_factory.pin(21).drive_low()
    mock_factory.pin(6).drive_low()
    assert panel.events == [ButtonEvent("A", True, 100.0), ButtonEvent("A", False, 101.0),
                            ButtonEvent(PRIORITY, True, 102.0), ButtonEvent("B", True, 103.0)]


def test_a_held_pin_gives_one_press_event(panel, mock_factory):
    for _ in range(5):
        mock_factory.pin(5).drive_low()
    assert [e.pressed for e in panel.events] == [True]


@pytest.mark.parametrize("light, ready, busy, fault", [
    (Light.READY, True, False, False),
    (Light.BUSY, False, True, False),
    (Light.FAULT, False, False, True),
    (Light.OFF, False, False, False),
])
def test_steady_lights_drive_the_led_pins(panel, mock_factory, light, ready, busy, fault):
    panel.lights.show(light)
    assert panel.lights.shown is light
    assert [bool(mock_factory.pin(p).state) for p in (17, 27, 22)] == [ready, busy, fault]


@pytest.mark.parametrize("light, blinking", [(Light.PRIORITY, 0), (Light.REFUSED, 2), (Light.NO_SERVER, 2)])
def test_blinking_lights_blink_one_led_and_turn_the_others_off(panel, mock_factory, light, blinking):
    panel.lights.show(Light.BUSY)
    panel.lights.show(light)
    leds = panel.lights.leds
    assert [led._blink_thread is not None for led in leds] == [i == blinking for i in range(3)]
    assert mock_factory.pin(27).state == 0
    panel.lights.show(Light.READY)
    assert [led._blink_thread is None for led in leds] == [True] * 3


def test_closing_the_panel_frees_its_pins(mock_factory):
    p = Panel(KIOSK, mock_factory, lambda e: None)
    p.close()
    again = Button(5, pin_factory=mock_factory)  # would raise GPIOPinInUse if still reserved
    again.close()


def test_a_panel_that_fails_half_way_frees_what_it_took(mock_factory):
    taken = Button(22, pin_factory=mock_factory)  # the fault LED's pin is in use
    try:
        with pytest.raises(Exception, match="22|in use"):
            Panel(KIOSK, mock_factory, lambda e: None)
        Button(5, pin_factory=mock_factory).close()
    finally:
        taken.close()


def test_lights_without_leds_fitted_do_nothing():
    panel_less = KioskConfig(buttons={"A": 5})
    from device.buttons import Lights
    lights = Lights()
    lights.show(Light.FAULT)
    assert lights.shown is Light.FAULT and panel_less.led_fault == 0
