"""The counter keypad: staff and rating buttons in, `command` and `rating` over MQTT, LEDs
from the counter's retained state.

It speaks the public protocol like any third-party device (README, "MQTT protocol"): it
publishes ``counter/<id>/command`` (``next``, ``recall``, ``no_show``, ``done``) and
``counter/<id>/rating`` (``score`` 1 very satisfied … 4 dissatisfied), reads
``counter/<id>/reply`` and the retained ``counter/<id>/state``, as MQTT user and client id
``counter-<id>``.

One loop (`Keypad.run`) owns everything: it reads the bus's inbox, where paho puts messages
and gpiozero's callbacks put `ButtonEvent`s, and it alone drives the LEDs. A press goes:

1. `PressRules` (the kiosk's) accept it: debounce, and `cooldown_s` per button (a double
   press of Next would skip a citizen);
2. it joins the queue of presses in order (a button already in the queue is not added
   again) and the first is sent, with a fresh id; the same id is sent again every
   `retry_every_s` until its reply, so the server applies it once. Presses are sent one at
   a time, in order: a rating pressed right after Done goes out after Done's reply, so it
   rates the ticket Done finished, never the one before;
3. the reply: a refusal makes the button's LED flicker for `NOTICE_S` (logged; a rating
   refused because the window closed or the ticket was rated is only INFO); no reply within
   `reply_timeout_s` (counted from the press) the same, logged as an error, and a reply
   that comes later is logged as applied late.

While the broker is unreachable nothing is handed to paho (it would send it whenever the
connection comes back); the first press in the queue is sent on reconnection if its time
has not run out, and publishes expire with it (MQTT v5 message expiry).

LEDs (see docs/keypad.md) follow the retained state, which the server publishes after
every change and again on each (re)connection:

- idle: Next lit if someone waits for this counter's services; paused: all off;
- calling: Next blinks (`blink_s`), Recall, No-show and Done lit;
- serving: Next and Done lit;
- not connected, or no state from the server yet: the four staff LEDs flicker;
- the rating LEDs are lit until the state's ``rating_until`` (by this Pi's clock, at most
  `queue.rating_window_s` ahead); after a rating counted only its LED stays lit, `THANKS_S`.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Mapping, Union

from device import loop
from device.buttons import ButtonEvent, PressRules
from queuebox.bus import Connected, Message
from queuebox.clock import utc_now
from queuebox.config_devices import KeypadConfig
from queuebox.protocol import RATING_SCORES, ProtocolError, parse_moment
from queuebox.protocol_messages import parse_counter_state, parse_reply

logger = logging.getLogger(__name__)

STAFF = ("next", "recall", "no_show", "done")  # staff buttons, named by their protocol action
SCORES = tuple(str(score) for score in RATING_SCORES)  # rating buttons, named by their score "1" … "4"
NOTICE_S = 2.0  # a refused or unanswered press: its LED flickers this long
THANKS_S = 3.0  # a rating that counted: its LED stays lit this long
MAX_WAIT_S = 0.5  # the loop wakes at least this often (a lost connection shows within that)
ABANDONED_KEPT = 64  # ids given up on, remembered to recognise a late reply
CLOCK_SLACK_S = 5.0  # a rating window further ahead than the configured one means our clock is behind

ON = "on"
FLICKER = (0.1, 0.1)
Pattern = Union[None, str, tuple[float, float]]  # off, ON, or (on_s, off_s) blinking


def keypad_client_id(counter: str) -> str:
    """The keypad's MQTT client id and account name: the counter's (see `queuebox mqtt-credentials`)."""
    return f"counter-{counter}"


def button_pins(config: KeypadConfig) -> dict[str, int]:
    """Button name ("next" … "done", "1" … "4") -> GPIO pin, for the buttons fitted."""
    pins = {name: getattr(config, f"button_{name}") for name in STAFF}
    pins.update(zip(SCORES, config.rating_buttons))
    return {name: pin for name, pin in pins.items() if pin}


def led_pins(config: KeypadConfig) -> dict[str, int]:
    """Button name -> GPIO pin of its LED, for the LEDs fitted."""
    pins = {name: getattr(config, f"led_{name}") for name in STAFF}
    pins.update(zip(SCORES, config.rating_leds))
    return {name: pin for name, pin in pins.items() if pin}


class Leds:
    """The keypad's LEDs by button name; `leds` holds gpiozero LEDs for those fitted.

    `shown` is the pattern of every button's LED, fitted or not (the simulation prints it);
    `show` changes only LEDs whose pattern differs, so a blink is not restarted.
    `on_change(leds)` is called after a change."""

    def __init__(self, leds: Mapping[str, Any], on_change: Callable[[Leds], None] | None = None) -> None:
        self.leds = dict(leds)
        self.shown: dict[str, Pattern] = {name: None for name in (*STAFF, *SCORES)}
        self._on_change = on_change

    def show(self, patterns: Mapping[str, Pattern]) -> None:
        changed = False
        for name, pattern in patterns.items():
            if name in self.shown and self.shown[name] == pattern:
                continue
            self.shown[name] = pattern
            changed = True
            led = self.leds.get(name)
            if led is None:
                continue
            if pattern is None:
                led.off()
            elif pattern == ON:
                led.on()
            else:
                led.blink(on_time=pattern[0], off_time=pattern[1])
        if changed and self._on_change is not None:
            self._on_change(self)

    def describe(self) -> str:
        """One line: ``next=blink recall=on no_show=on done=on | rating 1=off 2=off 3=off 4=off``."""
        def word(pattern: Pattern) -> str:
            return "off" if pattern is None else pattern if isinstance(pattern, str) else \
                "flicker" if pattern == FLICKER else "blink"
        staff = " ".join(f"{name}={word(self.shown[name])}" for name in STAFF)
        return f"{staff} | rating " + " ".join(f"{name}={word(self.shown[name])}" for name in SCORES)

    def close(self) -> None:
        for led in self.leds.values():
            led.close()


@dataclass
class Request:
    """A press on its way to the server."""
    id: str
    button: str
    topic: str
    payload: dict[str, Any]
    pressed_at: float
    deadline: float
    next_send: float = 0.0
    sends: int = 0

    @property
    def is_rating(self) -> bool:
        return self.button in SCORES


@dataclass(frozen=True)
class Result:
    """How a press ended: `result` is "ok", "refused" (detail: the error code) or "no_reply";
    `detail` of an ok command is the called ticket's label (or ""), of a rating the rated one."""
    button: str
    request_id: str
    result: str
    detail: str


def id_maker(counter: str) -> Callable[[], str]:
    """Fresh command ids: ``kp<counter>-<random token of this process>-<count>``, at most 37
    characters, unique across restarts."""
    token = secrets.token_hex(4)
    count = 0

    def new_id() -> str:
        nonlocal count
        count += 1
        return f"kp{counter}-{token}-{count:06d}"
    return new_id


class Keypad:
    """The keypad's loop and state; see the module docstring.

    `clock` is the monotonic clock button events are stamped with; `wall` this Pi's clock,
    read only to turn the state's ``rating_until`` into a time left. `rating_window_s` (the
    config's `queue.rating_window_s`) bounds that time. `on_result` is called (on the loop)
    at the end of every press that was sent. `handle` and `tick` are the loop's two steps;
    tests call them directly.
    """

    def __init__(self, config: KeypadConfig, counter: str, bus: loop.DeviceBus, leds: Leds, *, rating_window_s: float,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], datetime] = utc_now,
                 new_id: Callable[[], str] | None = None,
                 on_result: Callable[[Result], None] | None = None) -> None:
        self.config = config
        self.counter = counter
        self.bus = bus
        self.leds = leds
        self.rating_window_s = rating_window_s
        self.clock = clock
        self.wall = wall
        self.inbox = bus.inbox
        self.rules = PressRules(cooldown_s=config.cooldown_s, priority_window_s=0.0)
        self.requests: deque[Request] = deque()  # the first is in flight
        self.state: dict[str, Any] | None = None  # the counter's last state from the server
        self.rating_ends: float | None = None  # (clock) when the rating LEDs go off
        self.notices: dict[str, tuple[Pattern, float]] = {}  # button -> (pattern, until)
        self._new_id = new_id or id_maker(counter)
        self._on_result = on_result
        self._reply_topic = bus.topics.counter_reply(counter)
        self._state_topic = bus.topics.counter_state(counter)
        self._command_topic = bus.topics.counter_command(counter)
        self._rating_topic = bus.topics.counter_rating(counter)
        self._abandoned: dict[str, str] = {}  # id -> button
        self._warned_clock = False
        self._rating_until: str | None = None  # the state's rating_until that set rating_ends

    # --- the loop -------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Handle events and timers until `stop` is set. Nothing that happens stops the loop."""
        loop.serve(self.inbox, self.handle, self.tick, self._wait_s, stop, "keypad")

    def handle(self, item: ButtonEvent | Message | Connected) -> None:
        """One item of the inbox."""
        if isinstance(item, ButtonEvent):
            self._on_button(item)
        elif isinstance(item, Message):
            if item.topic == self._reply_topic:
                self._on_reply(item)
            elif item.topic == self._state_topic:
                self._on_state(item)
            else:
                logger.warning("dropped a message on unexpected topic %r", item.topic)
        elif isinstance(item, Connected) and self.requests:
            self._send(self.requests[0], self.clock())
        self._refresh_lights()

    def tick(self) -> None:
        """Timers: resend or give up the press in flight, end notices and the rating window."""
        now = self.clock()
        if self.requests:
            head = self.requests[0]
            if now >= head.deadline:
                self._give_up(now)
                self._advance(now)
            elif now >= head.next_send:
                self._send(head, now)
        for button, (_, until) in list(self.notices.items()):
            if now >= until:
                del self.notices[button]
        if self.rating_ends is not None and now >= self.rating_ends:
            self.rating_ends = None
        self._refresh_lights()

    def _wait_s(self) -> float:
        now = self.clock()
        times = [until for _, until in self.notices.values()]
        if self.requests:
            times += [self.requests[0].deadline, self.requests[0].next_send]
        if self.rating_ends is not None:
            times.append(self.rating_ends)
        return min(MAX_WAIT_S, max(0.0, min(times, default=now + MAX_WAIT_S) - now))

    # --- presses ------------------------------------------------------------------------

    def _on_button(self, event: ButtonEvent) -> None:
        decision = self.rules.on_event(event)
        if not decision.take:
            if decision.reason in ("bounce", "cooldown"):
                logger.debug("ignored a press of %s: %s", event.button, decision.reason)
            return
        self.rules.finish(event.button, event.at)  # presses queue in order here, no "one at a time"
        if any(r.button == event.button for r in self.requests):
            logger.debug("ignored a press of %s: it is already on its way", event.button)
            return
        now = self.clock()
        if event.button in SCORES:
            topic, payload = self._rating_topic, {"score": int(event.button)}
        else:
            topic, payload = self._command_topic, {"action": event.button}
        request = Request(self._new_id(), event.button, topic, payload, pressed_at=event.at,
                          deadline=now + self.config.reply_timeout_s, next_send=now)
        self.requests.append(request)
        if len(self.requests) == 1:
            self._send(request, now)

    def _send(self, request: Request, now: float) -> None:
        request.next_send = now + self.config.retry_every_s
        if not self.bus.connected.is_set():  # paho would keep it and send it late, maybe after the deadline
            logger.debug("%s %s waits for the broker", request.button, request.id)
            return
        self.bus.publish(request.topic, {"id": request.id, **request.payload},
                         expiry_s=max(1.0, request.deadline - now))
        request.sends += 1
        if request.sends > 1:
            logger.info("no answer yet to %s %s: sent it again (%d)", request.button, request.id, request.sends)

    def _give_up(self, now: float) -> None:
        request = self.requests.popleft()
        self._abandoned[request.id] = request.button
        while len(self._abandoned) > ABANDONED_KEPT:
            del self._abandoned[next(iter(self._abandoned))]
        logger.error("no answer from the server to %s %s within %g s (%d sends)", _what(request.button),
                     request.id, self.config.reply_timeout_s, request.sends)
        self._end(request, "no_reply", f"{request.sends} sends", FLICKER, NOTICE_S, now)

    def _end(self, request: Request, result: str, detail: str, notice: Pattern, notice_s: float, now: float) -> None:
        """A press ended (it has left the queue): show its notice, report it."""
        if notice_s > 0:
            self.notices[request.button] = (notice, now + notice_s)
        if self._on_result is not None:
            self._on_result(Result(request.button, request.id, result, detail))

    def _advance(self, now: float) -> None:
        """Send the next press of the queue; those whose time ran out while they waited are given up."""
        while self.requests and now >= self.requests[0].deadline:
            self._give_up(now)
        if self.requests:
            self._send(self.requests[0], now)

    # --- messages -------------------------------------------------------------------------

    def _on_reply(self, message: Message) -> None:
        try:
            reply = parse_reply(message.payload)
        except ProtocolError as exc:
            logger.warning("dropped a bad reply: %s", exc.message)
            return
        head = self.requests[0] if self.requests else None
        if head is None or reply.get("id") != head.id:
            self._stray(reply)
            return
        self.requests.popleft()
        now = self.clock()
        if not reply["ok"]:
            error = reply["error"]
            level = logging.INFO if error["code"] in ("no_ticket", "already_rated") else logging.WARNING
            logger.log(level, "counter %s: %s refused: %s: %s", self.counter, _what(head.button), error["code"],
                       error["message"])
            self._end(head, "refused", error["code"], FLICKER, NOTICE_S, now)
            self._advance(now)
            return
        if head.is_rating:
            label = str(reply.get("ticket") or "")
            logger.info("counter %s: rating %s (%s) recorded for %s", self.counter, head.button,
                        RATING_SCORES[int(head.button)][1].lower(), label)
            self.rating_ends = None  # rated: the other rating LEDs go off now
            self._end(head, "ok", label, ON, THANKS_S, now)
            self._advance(now)
            return
        ticket = reply.get("ticket") or {}
        label = ticket.get("label", "") if isinstance(ticket, dict) else ""
        logger.info("counter %s: %s → %s", self.counter, head.button, label or "no ticket")
        self._end(head, "ok", label, None, 0.0, now)
        self._advance(now)

    def _stray(self, reply: dict[str, Any]) -> None:
        reply_id = reply.get("id")
        button = self._abandoned.pop(reply_id, None) if isinstance(reply_id, str) else None
        if button is not None and reply.get("ok"):
            logger.warning("the server applied %s %s after this keypad stopped waiting", _what(button), reply_id)
        else:
            logger.debug("ignored a reply to another request (%s)", reply_id)

    def _on_state(self, message: Message) -> None:
        if not message.payload:  # the retained state was cleared
            self.state = None
            return
        try:
            state = parse_counter_state(message.payload)
        except ProtocolError as exc:
            logger.warning("dropped a bad counter state: %s", exc.message)
            return
        self.state = state
        self._rating_window(state.get("rating_until"))

    def _rating_window(self, until_text: str | None) -> None:
        """Light the rating LEDs until `until_text`, by this Pi's clock, at most the configured window.
        The same value again (every commit republishes every state) changes nothing: with a clock
        that is behind, recomputing would stretch the window each time."""
        if until_text == self._rating_until:
            return
        self._rating_until = until_text
        if until_text is None:
            self.rating_ends = None
            return
        left = (parse_moment(until_text) - self.wall()).total_seconds()
        if left > self.rating_window_s + CLOCK_SLACK_S and not self._warned_clock:
            logger.warning("this Pi's clock seems %.0f s behind the server's (rating window ends %s): "
                           "check its time synchronisation", left - self.rating_window_s, until_text)
            self._warned_clock = True
        left = min(left, self.rating_window_s)
        self.rating_ends = self.clock() + left if left > 0 else None

    # --- LEDs -----------------------------------------------------------------------------

    def _refresh_lights(self) -> None:
        now = self.clock()
        patterns: dict[str, Pattern] = dict.fromkeys(STAFF)
        state = self.state
        if not self.bus.connected.is_set() or state is None:
            patterns.update(dict.fromkeys(STAFF, FLICKER))
        elif state["state"] == "idle":
            patterns["next"] = ON if any(state["waiting"].values()) else None
        elif state["state"] == "calling":
            patterns.update(next=(self.config.blink_s, self.config.blink_s), recall=ON, no_show=ON, done=ON)
        elif state["state"] == "serving":
            patterns.update(next=ON, done=ON)
        rating = ON if self.rating_ends is not None and now < self.rating_ends else None
        patterns.update(dict.fromkeys(SCORES, rating))
        patterns.update((button, pattern) for button, (pattern, _) in self.notices.items())
        self.leds.show(patterns)


def _what(button: str) -> str:
    return f"rating {button}" if button in SCORES else button
