"""The load test's traffic and bookkeeping: who sends what, when, and what came back.

Commands arrive as a Poisson process at the asked rate (seeded `random.Random`), each a
`take` (half of them) or a counter `next` (the other half), so the queue neither drains nor
grows without bound. A take goes to a random kiosk: a real kiosk process is pressed through
its simulation topic if it is free (no press in flight, its cooldown over), else the take is
sent by a protocol kiosk. A `next` goes to a counter with no command in flight (a keypad sends
one at a time): the first free one from a random place in the list; none free, it is skipped.

What is recorded, and what "lost" means:
- every command id gets exactly one reply with that id (`replies_missing`, `replies_duplicate`);
- every real-kiosk press gets an ok reply on that kiosk's reply topic and one ticket file;
- every display client receives every `events` seq the database holds for the run
  (`events_missing`: seqs absent at a display, summed over displays) and every `board`
  message the reference observer received (`boards_missing`), and ends on the board whose
  seq is the database's last seq (`board_final_wrong`). The board is retained and
  latest-only, but each publish is delivered at QoS 1 to every connected subscriber, so a
  live display must see them all;
- next → board: from the `next` publish to the first board whose `calls` hold that ticket at
  that counter, per display; "seen by all" is the latest of the displays. A call that never
  appears on some display's board (pushed out of the ten newest before a snapshot showed it)
  is counted in `calls_never_shown`.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

from scale_clients import Client, Hub  # noqa: E402 (bench/ is on the path)

COMMAND_ENCODE = {"separators": (",", ":")}
KIOSK_FREE_AFTER_S = 3.0  # a real kiosk is pressed at most this often ...
KIOSK_REST_S = 3.0  # ... and this long after its reply: its cooldown (2 s) runs from the printed ticket


@dataclass
class Command:
    kind: str  # take | next | press (a real kiosk's simulated button)
    device: str
    t0: float
    segment: int
    reply_at: float | None = None
    replies: int = 0
    ok: bool = False
    key: tuple[str, str] | None = None  # (label, counter) a next called


@dataclass
class DisplayLog:
    """What one protocol display received."""
    events: set[int] = field(default_factory=set)
    boards: int = 0
    last_board_seq: int = -1


class Load:
    """The protocol clients, their handlers and the run's records; drive with `run_segment`."""

    def __init__(self, hub: Hub, topics: Any, passwords: dict[str, str], *, counters: list[str],
                 kiosks: list[str], displays: list[str], real_kiosks: list[str], services: list[str],
                 counter_states: bool, seed: int) -> None:
        self.hub = hub
        self.topics = topics
        self.rng = random.Random(seed)
        self.services = services
        self.counters = counters
        self.real_kiosks = real_kiosks
        self.protocol_kiosks = [k for k in kiosks if k not in real_kiosks]
        self.commands: dict[str, Command] = {}
        self.in_flight: set[str] = set()  # devices with a command unanswered
        self.busy_until: dict[str, float] = {}  # real kiosk -> when it may be pressed again
        self.press_of: dict[str, str] = {}  # real kiosk -> id of its press in flight (ours)
        self.kiosk_reply_ids: dict[str, set[str]] = {k: set() for k in real_kiosks}
        self.stray_replies = 0
        self.display_logs = [DisplayLog() for _ in displays]
        self.first_seen: dict[tuple[str, str], list[float | None]] = {}
        self.observer_boards = 0
        self.observer_last_seq = -1
        self.observer_last_board_wall = 0.0  # time.time() the last board reached the observer
        self.online: set[str] = set()  # clients whose retained status says online
        self.skipped = 0  # takes not sent: every kiosk is real and busy
        self.skipped_next = 0  # nexts not sent: every counter was waiting for a reply
        self._count = 0
        self._open: dict[int, int] = {}  # segment -> commands sent and not answered yet
        self.segment = 0
        self.lag_ms: list[float] = []  # how late each command left against its scheduled time

        self.kiosk_clients = {k: Client(f"kiosk-{k}", f"kiosk-{k}", passwords[f"kiosk-{k}"],
                                        [topics.kiosk_reply(k)], self._on_reply) for k in self.protocol_kiosks}
        self.counter_clients = {
            c: Client(f"counter-{c}", f"counter-{c}", passwords[f"counter-{c}"],
                      [topics.counter_reply(c)] + ([topics.counter_state(c)] if counter_states else []),
                      self._on_reply) for c in counters}
        self.display_clients = [Client(f"display-{d}", f"display-{d}", passwords[f"display-{d}"],
                                       [topics.board(), topics.events()], self._display_handler(i))
                                for i, d in enumerate(displays)]
        # a tool account (the server's rights) reads everything: the reference board stream and the
        # real kiosks' replies; not the server's own, which the broker binds to the server's client id
        self.observer = Client("tool-bench-observer", "tool-bench-observer", passwords["tool-bench-observer"],
                               [topics.board(), f"{topics.root}/{topics.site}/status/+"] + [topics.kiosk_reply(k) for k in real_kiosks],
                               self._on_observed)

    def clients(self) -> list[Client]:
        return [self.observer, *self.display_clients, *self.kiosk_clients.values(), *self.counter_clients.values()]

    # --- handlers (the hub's thread) -------------------------------------------------------------

    def _on_reply(self, at: float, topic: str, payload: bytes) -> None:
        if topic.endswith("/state"):
            return
        body = json.loads(payload)
        cmd = self.commands.get(body.get("id"))
        if cmd is None:
            self.stray_replies += 1
            return
        cmd.replies += 1
        if cmd.replies > 1:
            return
        self._answered(cmd)
        cmd.reply_at = at
        cmd.ok = bool(body.get("ok"))
        self.in_flight.discard(cmd.device)
        ticket = body.get("ticket")
        if cmd.kind == "next" and isinstance(ticket, dict):
            cmd.key = (ticket["label"], cmd.device)

    def _display_handler(self, index: int) -> Any:
        log = self.display_logs[index]
        n = len(self.display_logs)

        def handle(at: float, topic: str, payload: bytes) -> None:
            body = json.loads(payload)
            if topic.endswith("/events"):
                log.events.add(body["seq"])
                return
            log.boards += 1
            log.last_board_seq = body["seq"]
            for call in body.get("calls", ()):
                if call.get("recall"):
                    continue
                seen = self.first_seen.setdefault((call["ticket"], call["counter"]), [None] * n)
                if seen[index] is None:
                    seen[index] = at
        return handle

    def _on_observed(self, at: float, topic: str, payload: bytes) -> None:
        if topic == self.topics.board():
            self.observer_boards += 1
            self.observer_last_board_wall = time.time()
            self.observer_last_seq = json.loads(payload)["seq"]
            return
        if "/status/" in topic:
            name = topic.rsplit("/", 1)[1]
            (self.online.add if payload == b"online" else self.online.discard)(name)
            return
        kiosk = topic.split("/")[-2]
        body = json.loads(payload)
        if body.get("id") in self.kiosk_reply_ids[kiosk]:
            return  # the kiosk sent its request again and got the first reply again
        self.kiosk_reply_ids[kiosk].add(body.get("id"))
        ours = self.press_of.pop(kiosk, None)
        cmd = self.commands.get(ours) if ours else None
        if cmd is None:
            self.stray_replies += 1
            return
        cmd.replies += 1
        self._answered(cmd)
        cmd.reply_at = at
        cmd.ok = bool(body.get("ok"))
        self.in_flight.discard(kiosk)
        self.busy_until[kiosk] = max(self.busy_until.get(kiosk, 0.0), at + KIOSK_REST_S)

    # --- sending ----------------------------------------------------------------------------------

    def _new_id(self, kind: str) -> str:
        self._count += 1
        return f"{kind[0]}{self.segment}-{self._count}"

    def take(self, service: str | None = None, *, allow_real: bool = True) -> None:
        service = service or self.rng.choice(self.services)
        kiosk = self.rng.choice(self.real_kiosks + self.protocol_kiosks) if allow_real else None
        now = time.perf_counter()
        if kiosk in self.real_kiosks and kiosk not in self.in_flight and self.busy_until.get(kiosk, 0) <= now:
            cid = self._new_id("press")
            t0 = self.observer.publish(f"{self.topics.root}/{self.topics.site}/kiosk/{kiosk}/simulate",
                                       service.lower().encode())
            self._sent(cid, Command("press", kiosk, t0, self.segment))
            self.press_of[kiosk] = cid
            self.in_flight.add(kiosk)
            self.busy_until[kiosk] = t0 + KIOSK_FREE_AFTER_S
            return
        if not self.protocol_kiosks:
            self.skipped += 1
            return
        kiosk = self.rng.choice(self.protocol_kiosks)
        cid = self._new_id("take")
        payload = json.dumps({"id": cid, "service": service, "priority": False}, **COMMAND_ENCODE).encode()
        t0 = self.kiosk_clients[kiosk].publish(self.topics.kiosk_take(kiosk), payload)
        self._sent(cid, Command("take", kiosk, t0, self.segment))

    def next(self) -> None:
        start = self.rng.randrange(len(self.counters))
        for i in range(len(self.counters)):
            counter = self.counters[(start + i) % len(self.counters)]
            if counter not in self.in_flight:
                break
        else:
            self.skipped_next += 1  # every counter waits for a reply (an overloaded server)
            return
        cid = self._new_id("next")
        payload = json.dumps({"id": cid, "action": "next"}, **COMMAND_ENCODE).encode()
        t0 = self.counter_clients[counter].publish(self.topics.counter_command(counter), payload)
        self._sent(cid, Command("next", counter, t0, self.segment))
        self.in_flight.add(counter)

    def prefill(self, tickets: int, deadline: float) -> None:
        """Issue `tickets` tickets through the protocol kiosks (evenly over the services), ten at a
        time, and wait for their replies: the queue the run starts from. Not measured."""
        self.segment = -1
        for i in range(tickets):
            self.take(self.services[i % len(self.services)], allow_real=False)
            while self.unanswered(-1) >= 10 and time.monotonic() < deadline:
                self.hub.poll(0.05)
        while self.unanswered(-1) and time.monotonic() < deadline:
            self.hub.poll(0.05)

    def unanswered(self, segment: int) -> int:
        return self._open.get(segment, 0)

    def _sent(self, cid: str, cmd: Command) -> None:
        self.commands[cid] = cmd
        self._open[cmd.segment] = self._open.get(cmd.segment, 0) + 1

    def _answered(self, cmd: Command) -> None:
        self._open[cmd.segment] -= 1

    def run_segment(self, segment: int, rate: float, seconds: float, tick: Any = None) -> None:
        """Send commands at `rate` per second (Poisson arrivals) for `seconds`; `tick()` about once a second."""
        self.segment = segment
        start = time.perf_counter()
        end = start + seconds
        due = start + self.rng.expovariate(rate)
        next_tick = start + 1.0
        while True:
            now = time.perf_counter()
            if now >= next_tick:
                next_tick += 1.0
                if tick is not None:
                    tick()
            if now >= due:
                if due >= end:
                    break
                self.lag_ms.append((now - due) * 1000)
                self.take() if self.rng.random() < 0.5 else self.next()
                due += self.rng.expovariate(rate)
                continue
            self.hub.poll(min(due, next_tick) - now)

    def drain(self, segment: int, idle_s: float, cap_s: float) -> None:
        """Poll until every command of `segment` is answered, or no reply came for `idle_s`, or
        `cap_s` passed: an overloaded server works through its backlog before anything is called lost."""
        end = time.monotonic() + cap_s
        left = self.unanswered(segment)
        quiet_until = time.monotonic() + idle_s
        while left and time.monotonic() < min(end, quiet_until):
            self.hub.poll(0.05)
            now_left = self.unanswered(segment)
            if now_left < left:
                left, quiet_until = now_left, time.monotonic() + idle_s

    def settle(self, last_seq: int, idle_s: float) -> None:
        """Poll until every display and the observer hold board `last_seq`, or `idle_s` passed
        with no display receiving anything."""
        def received() -> int:
            return self.observer.received + sum(c.received for c in self.display_clients)
        quiet_until, before = time.monotonic() + idle_s, received()
        while time.monotonic() < quiet_until:
            if self.observer_last_seq >= last_seq and all(d.last_board_seq >= last_seq and last_seq in d.events
                                                          for d in self.display_logs):
                # a little longer, so boards still on the wire are counted before comparing counts
                end = time.monotonic() + 0.3
                while time.monotonic() < end:
                    self.hub.poll(0.05)
                return
            self.hub.poll(0.05)
            if received() != before:
                quiet_until, before = time.monotonic() + idle_s, received()
