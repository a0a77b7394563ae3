"""`queuebox keypad`: the composition root of the counter keypad process.

`KeypadApp` wires the parts from the config: the MQTT bus (client id and account
``counter-<id>``, subscribed to the counter's reply and retained state), the buttons on a
pin factory (the kiosk's `Panel`: pull-ups, edges handed to the inbox), the LEDs and the
`Keypad` loop on its own thread. `run_keypad` builds the real ones, or with ``--simulate``
MockFactory pins pressed from the keyboard with the LEDs printed, and runs until SIGTERM,
Ctrl-C or (simulating) ``q``.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from typing import Any, Callable, TextIO

from device.buttons import Panel
from device.keypad import SCORES, Keypad, Leds, Result, button_pins, keypad_client_id, led_pins
from device.loop import DeviceBus
from queuebox import notify
from queuebox.bus import Bus
from queuebox.config import Config
from queuebox.config_devices import KioskConfig
from queuebox.errors import QueueboxError
from queuebox.protocol import ACTION_KEYS, Topics

logger = logging.getLogger(__name__)

STOP_TIMEOUT_S = 5.0
# What the simulation's keyboard presses: a word, or each letter of a word ("d1": done, then 1).
# The letters are the counter console's (ACTION_KEYS: v is no-show there too).
BUTTONS = ("next", "recall", "no_show", "done")
KEYS = {**{ACTION_KEYS[name].lower(): name for name in BUTTONS}, **{name: name for name in BUTTONS},
        "no-show": "no_show", "noshow": "no_show", **{score: score for score in SCORES}}


class KeypadError(QueueboxError, RuntimeError):
    """The keypad cannot start: no buttons configured, no GPIO here, or a bad counter id."""


class KeypadApp:
    """The keypad's parts, wired; `start` connects and starts the loop, `stop` ends both.

    `counter` overrides `keypad.counter`; `bus` defaults to a real `Bus`."""

    def __init__(self, config: Config, *, pin_factory: Any, counter: str | None = None,
                 bus: DeviceBus | None = None, on_result: Callable[[Result], None] | None = None,
                 on_leds: Callable[[Leds], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, **keypad_options: Any) -> None:
        from gpiozero import LED

        kp = config.keypad
        self.counter = counter or kp.counter
        try:
            topics = Topics(config.mqtt.root, config.site.id)
            topics.counter_command(self.counter)
        except ValueError as exc:
            raise KeypadError(str(exc)) from None
        self.config = config
        self.bus: Any = bus or Bus(config.mqtt, topics, keypad_client_id(self.counter),
                                   subscriptions=[topics.counter_reply(self.counter), topics.counter_state(self.counter)])
        # The kiosk's panel makes the buttons (pull-up, no gpiozero debounce: PressRules does it).
        self.panel = Panel(KioskConfig(id=self.counter, buttons=button_pins(kp)), pin_factory, self.bus.inbox.put,
                           clock=clock)
        leds: dict[str, Any] = {}
        try:
            for name, pin in led_pins(kp).items():
                leds[name] = LED(pin, pin_factory=pin_factory)
        except BaseException:
            for led in leds.values():
                led.close()
            self.panel.close()
            raise
        self.leds = Leds(leds, on_change=on_leds)
        self.keypad = Keypad(kp, self.counter, self.bus, self.leds, rating_window_s=config.queue.rating_window_s,
                             clock=clock, on_result=on_result, **keypad_options)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.keypad.run, args=(self._stop,), name="keypad", daemon=True)

    def start(self) -> None:
        self.bus.start()
        self._thread.start()

    def stop(self) -> None:
        """Stop the loop, say "offline", release the pins."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(STOP_TIMEOUT_S)
        try:
            self.bus.stop()
        finally:
            self.panel.close()
            self.leds.close()


class Simulator:
    """Presses MockFactory pins for the buttons a text names: ``n`` next, ``r`` recall,
    ``s`` (or ``x``) no-show, ``d`` done, ``1`` … ``4`` a rating, or the words; several at once
    (``d1``: done, then rating 1)."""

    def __init__(self, config: Config, pin_factory: Any) -> None:
        self.factory = pin_factory
        self.pins = button_pins(config.keypad)

    def press_text(self, text: str) -> list[str]:
        """Press what `text` names, in order; returns the buttons pressed."""
        names: list[str] = []
        for word in text.strip().lower().split():
            if word in KEYS:
                names.append(KEYS[word])
            else:
                names += [KEYS.get(ch, ch) for ch in word]
        pressed = []
        for name in names:
            pin = self.pins.get(name)
            if pin is None:
                logger.warning("no button %r (buttons: %s)", name, ", ".join(self.pins))
                continue
            self.factory.pin(pin).drive_low()
            self.factory.pin(pin).drive_high()
            pressed.append(name)
        return pressed

    def read_keyboard(self, stream: TextIO, stop: threading.Event) -> None:
        """Press buttons for each line read from `stream`; `q` sets `stop`. At the end of the
        input (no terminal) the keypad keeps running, showing the counter's state, until stopped."""
        for line in stream:
            if line.strip().lower() in ("q", "quit", "exit"):
                stop.set()
                return
            self.press_text(line)
        logger.info("no more keyboard input; the keypad keeps showing the counter's state (Ctrl-C stops it)")


def run_keypad(config: Config, *, counter: str | None = None, simulate: bool = False,
               stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """The keypad process: run until SIGTERM, Ctrl-C (or, simulating, `q` typed)."""
    kp = config.keypad
    counter = counter or kp.counter
    if not button_pins(kp):
        raise KeypadError("the keypad has no buttons: set keypad.button_next … and keypad.rating_buttons "
                          "in the configuration")
    if config.counter(counter) is None:
        logger.warning("counter %r is not one of the configured counters (%s): the server will refuse its commands",
                       counter, ", ".join(c.id for c in config.counters))
    if config.mqtt.username and config.mqtt.username != keypad_client_id(counter):
        logger.warning("mqtt.username is %r, but the broker's ACL lets only %r use this counter's topics",
                       config.mqtt.username, keypad_client_id(counter))
    out = stdout or sys.stdout
    stop = threading.Event()
    on_leds: Callable[[Leds], None] | None = None
    if simulate:
        from gpiozero.pins.mock import MockFactory

        pin_factory: Any = MockFactory()
        simulator = Simulator(config, pin_factory)

        def print_leds(leds: Leds) -> None:
            print(f"LEDs: {leds.describe()}", file=out, flush=True)
        on_leds = print_leds
    else:
        pin_factory = None  # gpiozero's default for this board (lgpio on a Pi 5, …)
    try:
        app = KeypadApp(config, pin_factory=pin_factory, counter=counter, on_leds=on_leds)
    except QueueboxError:
        raise
    except Exception as exc:  # gpiozero: BadPinFactory on a PC, GPIOPinInUse, no permission on /dev/gpiochip*
        raise KeypadError(f"cannot set up the buttons and LEDs: {type(exc).__name__}: {exc} "
                          "(no GPIO here? try --simulate)") from exc

    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    app.start()
    watchdog = notify.ready(f"keypad of counter {counter}")  # systemd Type=notify
    logger.info("keypad of counter %s at %s: buttons %s, MQTT %s:%d", counter, config.site.name,
                ", ".join(f"{name}=GPIO{pin}" for name, pin in button_pins(kp).items()),
                config.mqtt.host, config.mqtt.port)
    if simulate:
        keys = [ACTION_KEYS[name].lower() for name in BUTTONS if name in simulator.pins] + \
            [s for s in SCORES if s in simulator.pins]
        print(f"Simulated keypad of counter {counter}: type {', '.join(keys)} (next, recall, no-show, done, "
              "ratings 1 very satisfied … 4 dissatisfied) and Enter to press; q to quit.", file=out, flush=True)
        threading.Thread(target=simulator.read_keyboard, args=(stdin or sys.stdin, stop), name="keyboard",
                         daemon=True).start()
    try:
        while not stop.wait(0.5):
            watchdog.ping()
    except KeyboardInterrupt:
        pass
    finally:
        notify.stopping()
        signal.signal(signal.SIGTERM, previous)
        app.stop()
    return 0
