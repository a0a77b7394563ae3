"""A live fuzz run: random and mutated payloads from every device account, through a real
Mosquitto with the generated accounts and ACL, to a real `queuebox server` process.

On a `Site` (tests/fuzz/site.py: broker, accounts, ACL, server process), `Fuzzer` connects
one MQTT v5 client per kiosk, counter (keypad) and display account and publishes on every
topic its ACL allows and on some it does not (QoS 0/1/2, some retained): valid commands,
commands with a field broken, bytes flipped or cut, payloads past 4 KiB, invalid UTF-8,
deep nesting, huge numbers, lone surrogate escapes, null optional fields, repeated ids
(tests/fuzz/payloads.py). A monitor on its own tool account (the server's rights; the broker
binds client ids to accounts, so it cannot share the server's) reads everything under the
site, to see what the ACL let through. Every `batch` messages it waits until the server has answered a probe from each
account (so the run measures the server, not the broker's queue); a server that died is
restarted and counted. `final_checks` then proves the server is alive, answers a valid
take and next as the rules predict, logged no traceback, kept the invariants
(tests/fuzz/invariants.py), answered every command once (a refused one with bad_request),
answered repeated ids with their first reply, sent no retained command to the restarted
server, and never applied what the ACL refused. Used by tests/fuzz/test_live_mqtt.py and bench/fuzz_mqtt.py.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections import Counter
from datetime import date
from typing import Any, Callable

from queuebox.clock import business_day, utc_now
from queuebox.errors import CommandRejected
from queuebox.protocol import ProtocolError
from queuebox.protocol_messages import parse_board, parse_counter_state, parse_event, parse_reply
from server import rules, store
from server.main import server_client_id
from tests.fuzz import payloads
from tests.fuzz.invariants import check_database, recorded_replies
from tests.fuzz.site import Client, Site

NOT_AUTHORIZED = 135  # MQTT v5 reason code of a publish the ACL refuses
SYNC_TIMEOUT_S = 60.0
ALLOWED_SHARE = 0.8  # of the messages, on topics the account may write


@dataclasses.dataclass
class Plan:
    """What an account publishes: (topic, payload kind, allowed by the ACL), and where its replies come."""
    targets: list[tuple[str, str, bool]]
    command_topic: str | None = None
    reply_topic: str | None = None
    origin: str | None = None


def plans(site: Site) -> dict[str, Plan]:
    """Every device account's plan; the forbidden targets are another device's commands, what only
    the server writes, and a topic outside the site."""
    t, config = site.topics, site.config
    foreign = [(t.board(), "board", False), (t.events(), "event", False), (t.counter_state("1"), "state", False),
               (t.kiosk_reply("kiosk1"), "reply", False), (t.counter_reply("1"), "reply", False),
               (t.status("server"), "status", False), (f"elsewhere/{config.site.id}/board", "board", False)]
    result = {}
    for kiosk in config.devices.kiosks:
        other = next(k for k in config.devices.kiosks if k != kiosk)
        result[f"kiosk-{kiosk}"] = Plan(
            [(t.kiosk_take(kiosk), "take", True)] * 9 + [(t.status(f"kiosk-{kiosk}"), "status", True),
             (t.kiosk_take(other), "take", False), (t.counter_command("1"), "command", False)] + foreign,
            t.kiosk_take(kiosk), t.kiosk_reply(kiosk), f"kiosk/{kiosk}")
    for counter in config.counters:
        c, other = counter.id, "2" if counter.id == "1" else "1"
        result[f"counter-{c}"] = Plan(
            [(t.counter_command(c), "command", True)] * 6 + [(t.counter_rating(c), "rating", True)] * 3
            + [(t.status(f"counter-{c}"), "status", True), (t.counter_command(other), "command", False),
               (t.counter_rating(other), "rating", False), (t.kiosk_take("kiosk1"), "take", False)] + foreign,
            t.counter_command(c), t.counter_reply(c), f"counter/{c}")
    for display in config.devices.displays:
        result[f"display-{display}"] = Plan(
            [(t.status(f"display-{display}"), "status", True)] + [(t.kiosk_take("kiosk1"), "take", False),
                                                                       (t.counter_command("2"), "command", False)]
            + foreign)
    return result


class Fuzzer:
    """The run's clients, what they sent and what came back."""

    def __init__(self, site: Site, seed: int, log: Callable[[str], None] = lambda line: None) -> None:
        self.site, self.rng, self.log = site, random.Random(seed), log
        self.plans = plans(site)
        t = site.topics
        display = f"display-{site.config.devices.displays[0]}"
        self.clients = {account: Client(site, account, [plan.reply_topic] if plan.reply_topic else
                                        [t.board(), t.events(), f"{t.root}/{t.site}/counter/+/state"]
                                        if account == display else [])
                        for account, plan in self.plans.items()}
        # the server's account, reading everything under the site: what the ACL let through
        self.monitor = Client(site, "tool-fuzz-monitor", [f"{t.root}/{t.site}/#"])
        self.server_status = t.status(server_client_id(site.config))
        self.command_routes = {t.route(plan.command_topic) for plan in self.plans.values() if plan.command_topic} \
            | {t.route(t.counter_rating(c.id)) for c in site.config.counters}
        # allowed commands that must each get one reply (finding 13 of issue 14): every one but an
        # empty retained message, which deletes a retained one and is nobody's command
        self.expected_replies = 0
        self.published: dict[bool, set[tuple[str, int]]] = {True: set(), False: set()}  # allowed -> (topic, hash)
        self.leaked: list[str] = []
        self.sent: Counter[str] = Counter()
        self.replies: Counter[str] = Counter()
        self.server_messages: Counter[str] = Counter()
        self.board_seq = -1  # of the last board the display account read
        self.nonconforming: list[str] = []
        self.wire: list[tuple[str, dict[str, Any]]] = []  # (origin, reply)
        self.ids: dict[str, list[str]] = {account: [] for account in self.plans}
        self.restarts = 0
        self.stalls = 0
        self.crash_logs: list[str] = []
        self._syncs = 0
        self._n = 0

    def group(self, topic: str, allowed: bool) -> str:
        prefix = f"{self.site.topics.root}/{self.site.topics.site}/"
        name = topic[len(prefix):] if topic.startswith(prefix) else topic
        return name if allowed else f"denied {name}"

    def send(self, count: int, batch: int = 500, deadline: float | None = None) -> int:
        """Publish `count` fuzz messages, syncing every `batch`; stops early at `deadline` (monotonic)."""
        accounts = sorted(self.plans)
        for i in range(count):
            if deadline is not None and time.monotonic() > deadline:
                return i
            account = self.rng.choice(accounts)
            allowed = self.rng.random() < ALLOWED_SHARE
            topic, kind, allowed = self.rng.choice([t for t in self.plans[account].targets if t[2] == allowed])
            self._n += 1
            if not allowed and kind in ("take", "command", "rating"):
                command_id = f"deny-{self._n}"  # must never be applied
            elif self.ids[account] and self.rng.random() < 0.25:
                command_id = self.rng.choice(self.ids[account])  # a repeated id
            else:
                command_id = f"{account}-{self._n}" if self.rng.random() < 0.95 else payloads.text(self.rng, 70)
                self.ids[account].append(command_id)
            data = (self.rng.choice([b"online", b"offline", b"", b"\xff", payloads.garbage(self.rng)[:payloads.MAX_SENT]])
                    if kind == "status" else payloads.payload(kind, self.rng, command_id))
            qos = self.rng.choice((0, 1, 1, 2))
            retain = self.rng.random() < 0.05
            group = self.group(topic, allowed)
            self.clients[account].publish(topic, data, qos, retain, group)
            self.published[allowed].add((topic, hash(data)))
            if allowed and kind in ("take", "command", "rating") and (data or not retain):
                self.expected_replies += 1
            self.sent[group] += 1
            if (i + 1) % batch == 0:
                self.sync()
                self.log(f"sent {i + 1}/{count}, server RSS {self.site.server_rss_kb()} KiB")
        self.sync()
        return count

    def sync(self) -> None:
        """Wait until every account that commands has its probe answered (the server has handled
        what they sent before it); restart the server if it died."""
        self._syncs += 1
        probe_id = f"sync-{self._syncs}"
        settled = time.monotonic() + SYNC_TIMEOUT_S
        if not all(client.settle(settled) for client in self.clients.values()):
            self.log(f"QoS 2 handshakes did not complete within {SYNC_TIMEOUT_S:g} s")
        waiting = {account for account, plan in self.plans.items() if plan.command_topic}
        for account in waiting:
            self.clients[account].publish(self.plans[account].command_topic or "", b'{"id": "%s"}' % probe_id.encode(),
                                          1, False, "probe")
        deadline = time.monotonic() + SYNC_TIMEOUT_S
        while waiting:
            self.collect(answered := set(), probe_id)
            waiting -= answered
            if not waiting:
                break
            if not self.site.server_alive():
                self.restarts += 1
                self.crash_logs.append(self.site.server_log_text()[-4000:])
                self.log(f"the server died (exit {self.site.server.returncode}): restarting it")  # type: ignore
                self.site.start_server()
                deadline = time.monotonic() + SYNC_TIMEOUT_S
            elif time.monotonic() > deadline:
                self.stalls += 1
                self.log(f"no answer to {probe_id} from the server for {sorted(waiting)} within {SYNC_TIMEOUT_S:g} s")
                return
            time.sleep(0.01)  # polling what the network threads collected

    def collect(self, answered: set[str] | None = None, probe_id: str = "") -> None:
        """Check every message the clients received since the last call."""
        for topic, data in self.monitor.take_received():
            pair = (topic, hash(data))
            if data == b"" and self.site.topics.route(topic) in self.command_routes:
                continue  # the server clearing a command someone published retained
            if topic == self.server_status and data in (b"online", b"offline"):
                continue  # the server's own status (the devices' attempts are refused by their PUBACKs)
            if pair in self.published[False] and pair not in self.published[True]:
                self.leaked.append(f"{topic}: {data[:80]!r}")
        for account, client in self.clients.items():
            plan = self.plans[account]
            for topic, data in client.take_received():
                if topic == plan.reply_topic:
                    self._reply(account, plan, data, answered, probe_id)
                else:
                    self._server_message(topic, data)

    def _reply(self, account: str, plan: Plan, data: bytes, answered: set[str] | None, probe_id: str) -> None:
        try:
            reply = parse_reply(data)
        except ProtocolError as exc:
            self.nonconforming.append(f"{plan.reply_topic}: {exc.message}: {data[:200]!r}")
            return
        if reply.get("id") == probe_id and answered is not None:
            answered.add(account)
        if isinstance(reply.get("id"), str) and reply["id"].startswith("sync-"):
            return
        self.replies["ok" if reply["ok"] else reply["error"]["code"]] += 1
        self.wire.append((plan.origin or "", reply))

    def _server_message(self, topic: str, data: bytes) -> None:
        route = self.site.topics.route(topic)
        parser = {"board": parse_board, "events": parse_event, "state": parse_counter_state}.get(
            route.kind if route else "")
        if parser is None:
            self.nonconforming.append(f"unexpected topic {topic}")
            return
        self.server_messages[route.kind] += 1  # type: ignore[union-attr]
        try:
            message = parser(data)
        except ProtocolError as exc:
            self.nonconforming.append(f"{topic}: {exc.message}: {data[:200]!r}")
            return
        if route.kind == "board":  # type: ignore[union-attr]
            self.board_seq = message["seq"]

    def acks(self) -> dict[str, Counter[int]]:
        """PUBACK reason codes (QoS 1) by topic group."""
        found: dict[str, Counter[int]] = {}
        for client in self.clients.values():
            for (group, code), n in client.acks.items():
                found.setdefault(group, Counter())[code] += n
        return found

    def close(self) -> None:
        for client in [*self.clients.values(), self.monitor]:
            client.close()


def predict(site: Site, rule: Callable[[rules.QueueState, Any], rules.Outcome]) -> str | None:
    """The label (or None, or the refusal's code prefixed by '!') `rule` gives on the committed state."""
    db = store.open_database(site.db_path)
    try:
        state = store.load_state(db, site.config)
    finally:
        db.close()
    now = utc_now()
    day = business_day(None if state.day == date.min else state.day, now, site.config.zone)
    state = rules.open_day(state, day, now).state  # as the engine does first, should the date have moved
    try:
        outcome = rule(state, now)
    except CommandRejected as exc:
        return f"!{exc.code}"
    return outcome.ticket.label if outcome.ticket else None


def ask(fuzzer: Fuzzer, account: str, message: bytes, command_id: str) -> dict[str, Any]:
    """Send one valid command and return the server's reply to it."""
    plan = fuzzer.plans[account]
    fuzzer.clients[account].publish(plan.command_topic or "", message, 1, False, "final")
    deadline = time.monotonic() + SYNC_TIMEOUT_S
    while time.monotonic() < deadline:
        for topic, data in fuzzer.clients[account].take_received():
            if topic == plan.reply_topic:
                reply = parse_reply(data)
                if reply.get("id") == command_id:
                    return reply
        time.sleep(0.01)  # polling what the network thread collected
    raise AssertionError(f"no reply to {command_id} within {SYNC_TIMEOUT_S:g} s")


def answer(reply: dict[str, Any]) -> str | None:
    if not reply["ok"]:
        return f"!{reply['error']['code']}"
    return reply["ticket"]["label"] if reply.get("ticket") else None


def final_checks(fuzzer: Fuzzer, restart: bool = True) -> dict[str, Any]:
    """Everything that must hold after a run; see the module docstring. Violations are listed."""
    site = fuzzer.site
    violations: list[str] = []
    fuzzer.sync()
    replayed = 0
    if restart:  # a restarted server is sent no retained command (retain handling 2): nothing to answer
        seq, before = _head(site), len(fuzzer.wire)
        site.stop_server()
        site.start_server()
        fuzzer.sync()
        fuzzer.collect()
        replayed = len(fuzzer.wire) - before
        if _head(site) != seq:
            violations.append(f"a restart changed the database: events {seq} -> {_head(site)}")
    fuzzer.collect()
    answered = sum(fuzzer.replies.values())
    if answered != fuzzer.expected_replies:  # a refused command too gets its reply, bad_request
        violations.append(f"{fuzzer.expected_replies} commands sent, {answered} replies")
    log = site.server_log_text()
    for marker in ("Traceback", "failed to handle"):
        if marker in log:
            violations.append(f"server log has {log.count(marker)} x {marker!r}")
    violations += check_database(site.db_path, site.config.queue.rating_window_s)
    recorded = recorded_replies(site.db_path)
    for origin, reply in fuzzer.wire:
        key = f"{origin}:{reply['id']}"
        if (reply["ok"] or reply["error"]["code"] != "bad_request") and recorded.get(key) != reply:
            violations.append(f"reply to {key} is not the recorded first reply: {reply} != {recorded.get(key)}")
    violations += [f"command {key} came through the ACL" for key in recorded if ":deny-" in key]
    for group, codes in fuzzer.acks().items():
        refused = codes[NOT_AUTHORIZED]
        if group.startswith("denied ") and refused != sum(codes.values()):
            violations.append(f"{group}: the broker acknowledged {dict(codes)}")
        elif not group.startswith("denied ") and refused:
            violations.append(f"{group}: the broker refused {refused} allowed publishes")
    violations += [f"the broker let a refused publish through: {leak}" for leak in fuzzer.leaked[:20]]
    violations += fuzzer.nonconforming[:20]
    # a valid take and next still answered as the rules say
    take_id, next_id = f"final-take-{time.time_ns()}", f"final-next-{time.time_ns()}"
    expected_take = predict(site, lambda s, now: rules.issue_ticket(s, "A", now, token="t", kiosk="kiosk1"))
    took = answer(ask(fuzzer, "kiosk-kiosk1", b'{"id": "%s", "service": "A"}' % take_id.encode(), take_id))
    if took != expected_take:
        violations.append(f"take A answered {took}, the rules say {expected_take}")
    ask(fuzzer, "counter-2", b'{"id": "%s-r", "action": "resume"}' % next_id.encode(), f"{next_id}-r")
    expected_next = predict(site, lambda s, now: rules.counter_action(s, "2", "next", now))
    called = answer(ask(fuzzer, "counter-2", b'{"id": "%s", "action": "next"}' % next_id.encode(), next_id))
    if called != expected_next:
        violations.append(f"next at counter 2 answered {called}, the rules say {expected_next}")
    violations += check_database(site.db_path, site.config.queue.rating_window_s)
    # the retained board the displays draw is the server's, of the last commit
    head, deadline = _head(site), time.monotonic() + SYNC_TIMEOUT_S
    while fuzzer.board_seq != head and time.monotonic() < deadline:
        fuzzer.collect()
        time.sleep(0.01)  # polling what the network thread collected
    if fuzzer.board_seq != head:
        violations.append(f"the last board has seq {fuzzer.board_seq}, the last event is {head}")
    return {"alive": site.server_alive(), "violations": violations, "take": took, "next": called,
            "replayed_after_restart": replayed, "commands_answered": answered, "commands_sent": fuzzer.expected_replies}


def _head(site: Site) -> int:
    db = store.open_database(site.db_path)
    try:
        return store.head(db)[0]
    finally:
        db.close()
