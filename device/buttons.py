"""The kiosk's panel: service buttons, the priority button and three LEDs, with gpiozero.

`PressRules` decides which presses count. It is pure (times come in with the events) and
is the only debounce there is: gpiozero's MockFactory pins do not debounce, and a rule in
code behaves the same on every pin library.

- Debounce: an edge within `debounce_s` of the previous edge of the same button is contact
  bounce and is ignored (and extends the quiet time needed).
- One ticket per press: a press is one edge; holding a button down gives no more presses.
- Cooldown: after a press was accepted, and again after it gave its ticket, that button is
  ignored for `cooldown_s` (a citizen pressing again because the printer is slow).
- One request at a time: any press made while a ticket is being asked for or printed is
  ignored, even if it is read after the ticket came out; so two services pressed at once
  give one ticket, the first.
- Priority: the priority button arms priority for `priority_window_s`; the next accepted
  service press within that window asks for a priority ticket and disarms it. A group button
  (`group_buttons`) does the same for a priority ticket of its group; the last of them pressed
  counts.

`Panel` builds the gpiozero devices on an injected pin factory; its callbacks (gpiozero's
threads) only hand a `ButtonEvent` to a sink, normally a queue.put. `Lights` drives the LEDs.
"""

from __future__ import annotations

import enum
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from queuebox.config_devices import KioskConfig

logger = logging.getLogger(__name__)

PRIORITY = "priority"  # the name of the priority button in events
GROUP_PREFIX = "group:"  # a group button's name in events is this and the group code: "group:CT"
DEBOUNCE_S = 0.05


def group_button(code: str) -> str:
    """The name in events of the button of priority group `code`."""
    return GROUP_PREFIX + code


@dataclass(frozen=True)
class ButtonEvent:
    """A button went down (`pressed`) or up, at `at` seconds of the monotonic clock."""
    button: str  # a service code, PRIORITY, or a group button (`group_button`)
    pressed: bool
    at: float


@dataclass(frozen=True)
class Decision:
    """What a button event means: `take` a ticket of `service` (with `priority`, of `group`), or not, and why."""
    take: bool
    reason: str  # take, release, bounce, cooldown, busy, priority_armed
    service: str | None = None
    priority: bool = False
    group: str | None = None  # a priority group code, when a group button armed priority


class PressRules:
    """Which presses ask for a ticket; see the module docstring. Pure: no clock, no I/O."""

    def __init__(self, *, cooldown_s: float, priority_window_s: float, debounce_s: float = DEBOUNCE_S) -> None:
        self.cooldown_s = cooldown_s
        self.priority_window_s = priority_window_s
        self.debounce_s = debounce_s
        self.busy = False
        self._idle_since = -math.inf
        self._last_edge: dict[str, float] = {}
        self._cooldown_until: dict[str, float] = {}
        self._armed_at: float | None = None
        self._armed_group: str | None = None

    def on_event(self, event: ButtonEvent) -> Decision:
        """Judge one event; a `take` decision makes the rules busy until `finish`."""
        previous = self._last_edge.get(event.button, -math.inf)
        self._last_edge[event.button] = event.at
        if not event.pressed:
            return Decision(False, "release")
        if event.at - previous < self.debounce_s:
            return Decision(False, "bounce")
        if self.busy or event.at < self._idle_since:
            return Decision(False, "busy")
        if event.button == PRIORITY or event.button.startswith(GROUP_PREFIX):
            self._armed_at = event.at
            self._armed_group = event.button[len(GROUP_PREFIX):] if event.button != PRIORITY else None
            return Decision(False, "priority_armed")
        if event.at < self._cooldown_until.get(event.button, -math.inf):
            return Decision(False, "cooldown")
        priority = self.armed(event.at)
        group = self._armed_group if priority else None
        self._armed_at = self._armed_group = None
        self._cooldown_until[event.button] = event.at + self.cooldown_s
        self.busy = True
        return Decision(True, "take", event.button, priority, group)

    def finish(self, service: str, at: float) -> None:
        """The request of `service`'s button ended at `at` (a ticket, a refusal or a fault):
        presses made before `at` stay ignored, and the button cools down from `at`."""
        self.busy = False
        self._idle_since = max(self._idle_since, at)
        self._cooldown_until[service] = max(self._cooldown_until.get(service, -math.inf), at + self.cooldown_s)

    def armed(self, at: float) -> bool:
        """Whether a service press at `at` would be a priority one."""
        return self._armed_at is not None and at - self._armed_at <= self.priority_window_s

    def armed_until(self) -> float | None:
        """When the priority window closes, or None if it is not armed."""
        return None if self._armed_at is None else self._armed_at + self.priority_window_s


class Light(enum.Enum):
    """What the LEDs show (green ready, yellow busy, red fault)."""
    READY = "ready"  # green on: press a button
    BUSY = "busy"  # yellow on: asking for the ticket, printing
    PRIORITY = "priority"  # green blinking: priority armed, now press a service
    REFUSED = "refused"  # red blinking slowly: that service gives no tickets now (closed, daily limit)
    NO_SERVER = "no_server"  # red blinking fast: the server did not answer; nothing printed
    FAULT = "fault"  # red on: the printer needs attention (paper, cover, cable)
    OFF = "off"


# (ready, busy, fault): None off, "on", or (on_s, off_s) blinking
_PATTERNS: dict[Light, tuple[Any, Any, Any]] = {
    Light.READY: ("on", None, None),
    Light.BUSY: (None, "on", None),
    Light.PRIORITY: ((0.25, 0.25), None, None),
    Light.REFUSED: (None, None, (0.6, 0.6)),
    Light.NO_SERVER: (None, None, (0.15, 0.15)),
    Light.FAULT: (None, None, "on"),
    Light.OFF: (None, None, None),
}


class Lights:
    """The three LEDs (any may be None: not fitted). `shown` is what they show now."""

    def __init__(self, ready: Any = None, busy: Any = None, fault: Any = None) -> None:
        self.leds = (ready, busy, fault)
        self.shown = Light.OFF

    def show(self, light: Light) -> None:
        if light is self.shown:
            return
        for led, pattern in zip(self.leds, _PATTERNS[light]):
            if led is None:
                continue
            if pattern is None:
                led.off()
            elif pattern == "on":
                led.on()
            else:
                led.blink(on_time=pattern[0], off_time=pattern[1])
        self.shown = light

    def close(self) -> None:
        for led in self.leds:
            if led is not None:
                led.close()


class Panel:
    """The gpiozero devices of `config` on `pin_factory`: a Button per service (pin to
    ground, internal pull-up), the optional priority and group buttons and LEDs. Every edge goes to
    `sink` as a ButtonEvent stamped with `clock()`; nothing else runs on gpiozero's threads."""

    def __init__(self, config: KioskConfig, pin_factory: Any, sink: Callable[[ButtonEvent], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        from gpiozero import LED, Button

        self._devices: list[Any] = []
        try:
            self.buttons: dict[str, Any] = {}
            wanted = dict(config.buttons)
            if config.priority_button:
                wanted[PRIORITY] = config.priority_button
            wanted.update((group_button(code), pin) for code, pin in config.group_buttons.items())
            for name, pin in wanted.items():
                # hold_time: `when_held` is not used; a short one lets close() return soon
                # when a button is held down (gpiozero's hold thread waits that long).
                button = self._add(Button(pin, pull_up=True, bounce_time=None, hold_time=0.1,
                                          pin_factory=pin_factory))
                button.when_pressed = _edge(sink, clock, name, True)
                button.when_released = _edge(sink, clock, name, False)
                self.buttons[name] = button
            leds = [self._add(LED(pin, pin_factory=pin_factory)) if pin else None
                    for pin in (config.led_ready, config.led_busy, config.led_fault)]
            self.lights = Lights(*leds)
        except BaseException:
            self.close()
            raise

    def _add(self, device: Any) -> Any:
        self._devices.append(device)
        return device

    def close(self) -> None:
        """Close every device (frees the pins). In parallel: a gpiozero Button takes up to
        0.1 s to stop its hold thread, a pressed one up to its hold time (1 s)."""
        closers = [threading.Thread(target=device.close, name="gpio-close") for device in self._devices]
        for closer in closers:
            closer.start()
        for closer in closers:
            closer.join()
        self._devices.clear()


def _edge(sink: Callable[[ButtonEvent], None], clock: Callable[[], float], name: str,
          pressed: bool) -> Callable[[], None]:
    def callback() -> None:
        sink(ButtonEvent(name, pressed, clock()))
    return callback
