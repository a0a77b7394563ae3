"""The people of a chaos day, over MQTT like real devices, each on its own thread.

- `Observer`: the test's eyes (the server's account, which may read and write everything):
  records every reply, status, event and board with the monotonic time it arrived; presses the
  simulated kiosks' buttons (``kiosk/<id>/simulate``) and sends probe commands.
- `CounterDriver`: one counter's clerk with its own account: next, recall, no-show, start,
  transfer, done, with service times from the service's expected minutes. Each command has a
  fresh id and is sent again with the SAME id every `RETRY_S` until its reply, as a counter
  must when the server or the broker is away; the server applies it once.
- `KeypadDriver`: the clerk of the keypad's counter, pressing the keys of the real `queuebox
  keypad --simulate` process through its standard input (next, done, then the citizen's rating).
- `Presser`: citizens pressing kiosk buttons at random.

Sleeps here are the simulated people's pace (a citizen walking to the counter, being
served), never a wait for the system: those use deadlines on what was observed.
"""

from __future__ import annotations

import itertools
import json
import queue
import random
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from queuebox.bus import Bus, Message
from queuebox.config import Config
from tests.chaos.site import KEYPAD, OBSERVER_TOOL, Site

RETRY_S = 1.0  # a counter sends an unanswered command again after this long, with the same id
GIVE_UP_S = 60.0  # a command unanswered this long is a violation: the system did not recover
OBSERVER_ID = f"tool-{OBSERVER_TOOL}"  # its own account: the broker binds client ids to accounts
PROBE_COUNTER = "probe"  # not a configured counter: the server answers `unknown_counter`, changing nothing


@dataclass
class Seen:
    """One message the observer received: when (monotonic), what, and its topic's device."""
    at: float
    kind: str
    device: str | None
    payload: Any
    retain: bool


class Observer:
    """The test's own MQTT client; see the module docstring. Thread-safe reads of what it saw."""

    def __init__(self, site: Site) -> None:
        self.site = site
        t = site.topics
        subs = [f"{t.root}/{t.site}/kiosk/+/reply", f"{t.root}/{t.site}/counter/+/reply",
                f"{t.root}/{t.site}/status/+", t.events(), t.board()]
        self.bus = Bus(site.account(OBSERVER_ID).mqtt, t, OBSERVER_ID, subscriptions=subs)
        self.lock = threading.Lock()
        self.seen: list[Seen] = []
        self.kiosk_replies: queue.Queue[Seen] = queue.Queue()  # for the chaos loop's kiosk kills
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="observer", daemon=True)
        self._probe_ids = itertools.count(1)

    def start(self) -> None:
        self.bus.start()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.bus.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                item = self.bus.inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            if not isinstance(item, Message):
                continue
            route = self.site.topics.route(item.topic)
            if route is None:
                continue
            try:
                payload: Any = json.loads(item.payload)
            except ValueError:
                payload = item.payload.decode("utf-8", "replace")
            seen = Seen(time.monotonic(), route.kind, route.device, payload, item.retain)
            with self.lock:
                self.seen.append(seen)
            if route.kind == "kiosk_reply":
                self.kiosk_replies.put(seen)

    def since(self, at: float, kind: str, device: str | None = None) -> list[Seen]:
        """Messages of `kind` (and `device`) received at or after `at`, oldest first."""
        with self.lock:
            return [s for s in self.seen if s.at >= at and s.kind == kind and (device is None or s.device == device)]

    def last_board(self) -> Seen | None:
        with self.lock:
            return next((s for s in reversed(self.seen) if s.kind == "board"), None)

    def press(self, kiosk: str, text: str) -> None:
        """Press buttons of a simulated kiosk (``a``, ``pb``)."""
        self.bus.publish(self.site.topics.kiosk_simulate(kiosk), text.encode())

    def probe(self, timeout_s: float) -> float | None:
        """Send a command the server must answer (to a counter that does not exist), again every
        0.5 s with the same id, until the reply comes: the monotonic time of the reply, or None."""
        probe_id = f"probe-{secrets.token_hex(3)}-{next(self._probe_ids)}"
        start = time.monotonic()
        deadline = start + timeout_s
        next_send = start
        while time.monotonic() < deadline:
            if time.monotonic() >= next_send:
                if self.bus.connected.is_set():
                    self.bus.publish(self.site.topics.counter_command(PROBE_COUNTER),
                                     {"id": probe_id, "action": "next"})
                next_send = time.monotonic() + 0.5
            for s in self.since(start, "counter_reply", PROBE_COUNTER):
                if isinstance(s.payload, dict) and s.payload.get("id") == probe_id:
                    return s.at
            time.sleep(0.02)  # polling what was received, with a deadline
        return None


@dataclass
class Command:
    """A command a driver sent and what came of it."""
    counter: str
    id: str
    action: str
    sent_at: float
    sends: int = 0
    replied_at: float | None = None
    reply: dict[str, Any] | None = None
    args: dict[str, Any] = field(default_factory=dict)


class CounterDriver:
    """A counter's clerk (see the module docstring); `commands` is everything it sent."""

    def __init__(self, site: Site, counter_id: str, rng: random.Random, stop: threading.Event) -> None:
        self.site = site
        self.counter = site.config.counter(counter_id)
        assert self.counter is not None
        self.rng = rng
        self.stop = stop
        t = site.topics
        self.bus = Bus(site.account(f"counter-{counter_id}").mqtt, t, f"counter-{counter_id}",
                       subscriptions=[t.counter_reply(counter_id)])
        self.commands: list[Command] = []
        self.unanswered: list[Command] = []
        self._token = secrets.token_hex(3)
        self._thread = threading.Thread(target=self._run, name=f"counter-{counter_id}", daemon=True)

    def start(self) -> None:
        self.bus.start()
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)
        self.bus.stop()

    def send(self, action: str, **args: Any) -> Command:
        """Send one command and wait for its reply, resending the same id every RETRY_S."""
        cmd = Command(self.counter.id, f"c{self.counter.id}-{self._token}-{len(self.commands) + 1}", action,
                      time.monotonic(), args=args)
        self.commands.append(cmd)
        topic = self.site.topics.counter_command(self.counter.id)
        deadline = cmd.sent_at + GIVE_UP_S
        while time.monotonic() < deadline:
            if self.bus.connected.is_set():  # like the keypad: nothing handed to paho while the broker is away
                self.bus.publish(topic, {"id": cmd.id, "action": action, **args})
                cmd.sends += 1
            resend_at = time.monotonic() + RETRY_S
            while (left := resend_at - time.monotonic()) > 0:
                try:
                    item = self.bus.inbox.get(timeout=left)
                except queue.Empty:
                    break
                if isinstance(item, Message):
                    reply = json.loads(item.payload)
                    if reply.get("id") == cmd.id:
                        cmd.replied_at, cmd.reply = time.monotonic(), reply
                        return cmd
        self.unanswered.append(cmd)
        return cmd

    def _pause(self, low: float, high: float) -> bool:
        """The clerk's or citizen's own time; False when the day is over."""
        return not self.stop.wait(self.rng.uniform(low, high))

    def _service_s(self, service: str) -> float:
        svc = self.site.config.service(service)
        mean = (svc.service_min if svc else 5) * self.site.plan.minute_s
        return min(4 * mean, max(0.1, self.rng.expovariate(1 / mean)))

    def _run(self) -> None:
        if not self.bus.wait_connected(15):
            return
        codes = [s.code for s in self.site.config.services]
        holding = False
        while not self.stop.is_set():
            ticket = (self.send("next").reply or {}).get("ticket")
            holding = bool(ticket)
            if not ticket:
                self._pause(0.3, 1.2)
                continue
            if not self._pause(0.1, 0.6):  # the citizen walks to the counter
                break
            roll = self.rng.random()
            if roll < 0.1:
                self.send("recall")
                if self.rng.random() < 0.5 and self._pause(0.1, 0.4):
                    self.send("no_show")
                    holding = False
                    continue
            elif roll < 0.13:
                self.send("transfer", to=self.rng.choice([c for c in codes if c != ticket["queue"]]))
                holding = False
                continue
            self.send("start")
            if self.stop.wait(self._service_s(ticket["queue"])):
                break
            if self.rng.random() < 0.5:
                self.send("done")
                holding = False
                self._pause(0.1, 0.4)
        if holding:  # the day is over: finish the citizen at the counter
            self.send("done")


class KeypadDriver:
    """The keypad counter's clerk: presses n (next) on the real keypad and, when the keypad's
    answer (seen by the observer) called someone, serves them, presses d (done), and lets the
    citizen press a rating key."""

    def __init__(self, site: Site, observer: Observer, rng: random.Random, stop: threading.Event) -> None:
        self.site = site
        self.observer = observer
        self.rng = rng
        self.stop = stop
        self.presses: list[tuple[float, str]] = []
        self._thread = threading.Thread(target=self._run, name="keypad-driver", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _press(self, key: str) -> float:
        at = time.monotonic()
        if self.site.keypad.write(key):
            self.presses.append((at, key))
        return at

    def _called(self, since: float) -> dict[str, Any] | None:
        """The keypad's answer to next, once it came: the ticket called, or {} for none."""
        for s in self.observer.since(since, "counter_reply", KEYPAD.counter):
            reply = s.payload if isinstance(s.payload, dict) else {}
            ticket = reply.get("ticket")
            if reply.get("ok") and "score" not in reply and (ticket is None or ticket.get("status") == "called"):
                return ticket or {}
        return None

    def _run(self) -> None:
        minute_s = self.site.plan.minute_s
        while not self.stop.wait(self.rng.uniform(0.5, 1.0)):
            pressed = self._press("n")
            deadline = pressed + 5.0
            while (ticket := self._called(pressed)) is None and time.monotonic() < deadline:
                time.sleep(0.05)  # the clerk looks at the keypad's LEDs
            if not ticket:
                continue
            if self.stop.wait(self.rng.uniform(2, 12) * minute_s):  # the service
                break
            self._press("d")
            if self.rng.random() < 0.8 and not self.stop.wait(self.rng.uniform(0.4, 0.8)):
                self._press(self.rng.choice("1112234"))  # the citizen rates, mostly satisfied


class Presser:
    """Citizens at the kiosks: a press every `press_every_s` on average, on a kiosk that is up."""

    def __init__(self, observer: Observer, config: Config, press_every_s: float, rng: random.Random,
                 stop: threading.Event) -> None:
        self.observer = observer
        self.kiosks = list(config.devices.kiosks)
        self.codes = [s.code for s in config.services]
        self.weights = [5, 8, 2, 3, 6][:len(self.codes)] + [1] * max(0, len(self.codes) - 5)
        self.press_every_s = press_every_s
        self.rng = rng
        self.stop = stop
        self.down: set[str] = set()  # kiosks the chaos loop has killed and not seen back yet
        self.presses: dict[str, int] = {k: 0 for k in self.kiosks}
        self._thread = threading.Thread(target=self._run, name="presser", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self.stop.wait(self.rng.expovariate(1 / self.press_every_s)):
            up = [k for k in self.kiosks if k not in self.down]
            if not up:
                continue
            kiosk = self.rng.choice(up)
            code = self.rng.choices(self.codes, self.weights)[0]
            self.observer.press(kiosk, ("p" if self.rng.random() < 0.1 else "") + code.lower())
            self.presses[kiosk] += 1
