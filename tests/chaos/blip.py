"""A power blip against the real processes: Mosquitto and `queuebox server` killed together
(SIGKILL, as a power cut does) and started again together after an outage, as systemd does at
boot, and how long everything takes to be right again.

The site (site.py) is one simulated kiosk, the rating keypad of counter 1, two displays drawing
headless and a second counter driven by the test. Before each blip the broker's persistence
file is made stale on purpose: the broker is stopped cleanly (it saves its file) and started
again, then a citizen takes tickets and counter 2 calls one, so the retained board in the file
is older than the database, as after a real power cut (Mosquitto saves every 60 s). Then the
broker, the server and display d2 (a display on the same Pi) are killed; display d1, the kiosk
and the keypad (other Pis) keep running (or, `power_cut` False, the broker alone is killed).
After `outage_s` the broker, the server and d2 are started again; at that moment (`back`, when the broker accepts connections) the test presses
the kiosk's button (through the simulation topic) and the keypad's Next (on its standard
input), then measures, each in seconds after `back`:

- `displays`: when each display first drew the database's head as a *confirmed* board (the
  drawn log's ``confirmed``; a log line without it, from an older display, counts as
  confirmed), and `stale_shown`: frames drawn after the kill that presented an older board
  as confirmed (must be none);
- `ticket_issued` / `ticket_printed`: the kiosk's ticket committed, and its file printed;
- `keypad`: the keypad's Next committed;
- `restored_seq`: the seq of the first board a client connecting at `back` got: after a power
  cut, the one the broker restored (less than `head`: the blip really had a stale board to get
  wrong); with the broker alone down, the server may have republished it first.
"""

from __future__ import annotations

import json
import queue
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from queuebox.bus import Bus, Message
from tests.chaos import checks
from tests.chaos.actors import OBSERVER_ID
from tests.chaos.harness import head_seq
from tests.chaos.site import KEYPAD, Plan, Site, wait_until

TARGET_S = 2.0  # DESIGN §7: correct board and first ticket within 2 s of the broker being back
READY_S = 30.0
KIOSK = "k1"
KEPT, RESTARTED = "d1", "d2"  # the display on another Pi, the display on the server's Pi


def blip_plan(seed: int = 1) -> Plan:
    """One kiosk, two counters (1: the keypad's, serving every service; 2: the test's), two displays."""
    return Plan(seed=seed, kiosks=1, counters=2, displays=2)


@dataclass
class Blip:
    """The measures of one blip (see the module docstring); times in s after `back`, None if never."""
    outage_s: float
    power_cut: bool
    head: int
    restored_seq: int | None
    displays: dict[str, float | None]
    stale_shown: dict[str, list[dict[str, Any]]]
    ticket_issued: float | None
    ticket_printed: float | None
    keypad: float | None

    def summary(self) -> dict[str, Any]:
        def r(x: float | None) -> float | None:
            return None if x is None else round(x, 3)
        return {"outage_s": self.outage_s, "killed": "broker, server, d2" if self.power_cut else "broker",
                "head": self.head, "restored_seq": self.restored_seq,
                "displays_s": {d: r(t) for d, t in self.displays.items()},
                "stale_frames_shown_as_current": {d: len(f) for d, f in self.stale_shown.items()},
                "ticket_issued_s": r(self.ticket_issued), "ticket_printed_s": r(self.ticket_printed),
                "keypad_s": r(self.keypad)}


class Tool:
    """The test's MQTT client (the site's tool account): presses, commands, the retained board."""

    def __init__(self, site: Site) -> None:
        self.site = site
        t = site.topics
        self.bus = Bus(site.account(OBSERVER_ID).mqtt, t, OBSERVER_ID,
                       subscriptions=[t.board(), f"{t.root}/{t.site}/counter/+/reply", f"{t.root}/{t.site}/status/+"])
        self.bus.start()
        self.messages: list[Message] = []

    def drain(self) -> list[Message]:
        while True:
            try:
                item = self.bus.inbox.get_nowait()
            except queue.Empty:
                return self.messages
            if isinstance(item, Message):
                self.messages.append(item)

    def first_board(self, timeout_s: float) -> dict[str, Any] | None:
        found = wait_until(lambda: next((m for m in self.drain() if m.topic == self.site.topics.board()), None),
                           timeout_s)
        return json.loads(found.payload) if isinstance(found, Message) else None

    def press(self, text: str) -> None:
        self.bus.publish(self.site.topics.kiosk_simulate(KIOSK), text.encode())

    def command(self, counter: str, action: str) -> dict[str, Any]:
        """Send a counter command and return its reply (AssertionError after READY_S)."""
        command_id = f"blip-{time.monotonic_ns()}"
        topic = self.site.topics.counter_reply(counter)
        self.bus.publish(self.site.topics.counter_command(counter), {"id": command_id, "action": action})
        found = wait_until(lambda: next((m for m in self.drain() if m.topic == topic
                                         and json.loads(m.payload).get("id") == command_id), None), READY_S)
        assert isinstance(found, Message), f"no reply to {action} at counter {counter}"
        return json.loads(found.payload)

    def close(self) -> None:
        self.bus.stop()


def confirmed_at(site: Site, display: str, since: float, head: int) -> float | None:
    """Monotonic time of the first frame of `display` from `since` on showing `head` (or newer) confirmed."""
    return next((f["mono"] for f in checks.read_drawn(site.drawn_log(display))
                 if f["mono"] >= since and f["seq"] >= head and f.get("confirmed", True)), None)


def stale_frames(site: Site, display: str, since: float, head: int) -> list[dict[str, Any]]:
    """Frames of `display` from `since` on that presented a board older than `head` as confirmed."""
    return [f for f in checks.read_drawn(site.drawn_log(display))
            if f["mono"] >= since and 0 <= f["seq"] < head and f.get("confirmed", True)]


def ready(site: Site, since: float) -> bool:
    """Every display drew the head confirmed, after `since`."""
    head = head_seq(site.db_path)
    return all(confirmed_at(site, d, since, head) is not None for d in site.displays)


def wall_after(iso: str, wall: float) -> float:
    """Seconds from the time.time() `wall` to the ISO time `iso` (negative: before)."""
    return datetime.fromisoformat(iso).timestamp() - wall


def count(db_path: Path, sql: str) -> int:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


def last_ticket_wall(db_path: Path) -> float:
    """time.time() of the last ticket issued; 0 if none."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        last = conn.execute("SELECT max(issued_at) FROM tickets").fetchone()[0]
    finally:
        conn.close()
    return datetime.fromisoformat(last).timestamp() if last else 0.0


def first_row_after(db_path: Path, sql: str, wall: float) -> float | None:
    """Seconds after `wall` of the first ISO time `sql` returns that is at or after `wall`."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        times = [wall_after(row[0], wall) for row in conn.execute(sql)]
    finally:
        conn.close()
    return min((t for t in times if t >= -0.001), default=None)


def start_site(folder: Path, plan: Plan) -> tuple[Site, Tool]:
    """Start the site; return once every display drew the database's head and the kiosk and
    the keypad said "online" (the broker then keeps their sessions), with the test's Tool."""
    site = Site(folder, plan)
    site.start()
    tool = Tool(site)

    def online(client: str) -> bool:
        topic = site.topics.status(client)
        return any(m.topic == topic and m.payload == b"online" for m in tool.drain())
    if not wait_until(lambda: ready(site, 0.0) and online(f"kiosk-{KIOSK}") and online(f"counter-{KEYPAD.counter}"),
                      READY_S):
        tool.close()
        site.stop()
        raise AssertionError(f"the site did not come up in {READY_S:g} s; logs in {folder}")
    return site, tool


def press_codes(site: Site, turn: int = 0) -> list[str]:
    """Three service buttons: one counter 2 serves, another, and the one pressed after the blip
    of this `turn`, a different one each turn (the kiosk ignores a button for `cooldown_s` after
    a ticket, and a short blip comes back sooner than that)."""
    served = site.config.counter("2")
    assert served is not None
    first = next(iter(served.services))
    others = [s.code for s in site.config.services if s.code != first]
    after = others[1:]
    return [c.lower() for c in (first, others[0], after[turn % len(after)])]


def stale_file(site: Site, tool_box: list[Tool]) -> int:
    """Make the broker's file older than the database (see the module docstring); the database's head."""
    tool_box[0].close()
    site.broker.stop()  # SIGTERM: Mosquitto saves its file
    site.start_broker()
    since = time.monotonic()
    tool = tool_box[0] = Tool(site)
    assert tool.command("probe", "next").get("ok") is False  # the server is back: answers an unknown counter
    assert wait_until(lambda: ready(site, since), READY_S), "the displays did not come back after a clean restart"
    codes = press_codes(site)
    # the kiosk ignores a button for cooldown_s after it gave a ticket: a short blip before came back sooner
    cooldown_s = site.config.kiosk.cooldown_s
    assert wait_until(lambda: time.time() - last_ticket_wall(site.db_path) > cooldown_s, cooldown_s + 1)
    for code in codes[:2]:  # two: counter 2 calls one, the other waits for the keypad's Next after the blip
        issued = count(site.db_path, "SELECT count(*) FROM tickets")
        tool.press(code)  # one at a time; two buttons: a button is ignored for a while after a ticket
        assert wait_until(lambda: count(site.db_path, "SELECT count(*) FROM tickets") > issued, READY_S)
    waiting = wait_until(lambda: tool.command("2", "next").get("ticket"), READY_S, step_s=0.3)
    assert waiting, "counter 2 found no ticket to call"
    head = head_seq(site.db_path)
    assert wait_until(lambda: all(confirmed_at(site, d, since, head) for d in site.displays), READY_S)
    return head


def run_blip(site: Site, outage_s: float, tool_box: list[Tool], *, power_cut: bool = True, turn: int = 0,
             log: Callable[[str], None] = lambda text: None) -> Blip:
    """One blip of `outage_s` on a running site (see the module docstring); `power_cut` False:
    the broker alone is killed (the server and every device keep running). `tool_box` holds the
    test's Tool, replaced when the broker restarts; `turn`: the how-manieth blip on this site."""
    head = stale_file(site, tool_box)
    printed_before = set(site.tickets(KIOSK).glob("*.bin"))
    tool_box[0].close()
    killed_at = time.monotonic()
    killed = [site.server, site.broker, site.displays[RESTARTED]] if power_cut else [site.broker]
    for proc in killed:
        proc.kill()
    time.sleep(outage_s)  # the outage: the test's input, not a wait for the system
    site.start_broker()
    back, back_wall = time.monotonic(), time.time()
    if power_cut:  # as systemd at boot: the broker, the server, then the display
        site.server.start()
        site.displays[RESTARTED].start()
    tool = tool_box[0] = Tool(site)
    tool.press(press_codes(site, turn)[2])
    site.keypad.write("n")
    restored = tool.first_board(TARGET_S)
    log(f"{'power cut' if power_cut else 'broker'} outage {outage_s:g} s: broker back; restored board seq {restored and restored.get('seq')}, head {head}")

    def settled() -> bool:
        return (all(confirmed_at(site, d, back, head) for d in site.displays)
                and any(p.stat().st_mtime >= back_wall for p in set(site.tickets(KIOSK).glob("*.bin")) - printed_before))
    wait_until(settled, READY_S)
    displays = {}
    for d in site.displays:
        at = confirmed_at(site, d, back, head)
        displays[d] = None if at is None else at - back
    printed = sorted(t for p in set(site.tickets(KIOSK).glob("*.bin")) - printed_before
                     if (t := p.stat().st_mtime) >= back_wall)
    return Blip(
        outage_s=outage_s, power_cut=power_cut, head=head, restored_seq=restored.get("seq") if restored else None,
        displays=displays, stale_shown={d: stale_frames(site, d, killed_at, head) for d in site.displays},
        ticket_issued=first_row_after(site.db_path, f"SELECT issued_at FROM tickets WHERE kiosk = '{KIOSK}'",
                                      back_wall),
        ticket_printed=printed[0] - back_wall if printed else None,
        keypad=first_row_after(site.db_path, f"SELECT at FROM events WHERE counter = '{KEYPAD.counter}'",
                               back_wall))
