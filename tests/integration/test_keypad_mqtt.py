"""The counter keypad through a real Mosquitto and the real server (engine, SQLite file, MQTT
bridge, in this process): in-process on MockFactory pins, and as the `queuebox keypad
--simulate` process typed at. Also ratings sent over MQTT by any device."""

from __future__ import annotations

import dataclasses
import queue
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from device.keypad import FLICKER, ON, SCORES, STAFF
from device.keypad_main import KeypadApp
from queuebox.config import to_toml
from queuebox.protocol import Topics
from server.credentials import read_secrets, write_credentials
from tests.factories import FakeClock, make_config
from tests.integration.test_server_mqtt import WAIT_S, Client, Server
from tests.mqtt_broker import Broker

ROOT = Path(__file__).resolve().parents[2]
PINS = {"next": 5, "recall": 6, "no_show": 13, "done": 19, "1": 16, "2": 20, "3": 21, "4": 26}
BLINK = (0.5, 0.5)


@pytest.fixture
def config(broker, mqtt_root):
    return make_config(mqtt={"host": broker.host, "port": broker.port, "root": mqtt_root},
                       queue={"rating_window_s": 60},
                       keypad={"counter": "3", "button_next": 5, "button_recall": 6, "button_no_show": 13,
                               "button_done": 19, "led_next": 17, "led_recall": 27, "led_no_show": 22,
                               "led_done": 12, "rating_buttons": [16, 20, 21, 26], "rating_leds": [18, 23, 24, 25],
                               "blink_s": 0.5, "cooldown_s": 0.5, "reply_timeout_s": 20.0, "retry_every_s": 0.5})


@pytest.fixture
def topics(config):
    return Topics(config.mqtt.root, config.site.id)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def server(config, tmp_path, clock):
    s = Server(config, tmp_path / "q.db", clock)
    yield s
    s.stop()


class Keypad:
    """A KeypadApp on MockFactory pins with a real Bus; its wall clock is the server's fake one."""

    def __init__(self, config: Any, factory: Any, wall: FakeClock) -> None:
        self.factory = factory
        self.results: queue.Queue[Any] = queue.Queue()
        self.app = KeypadApp(config, pin_factory=factory, on_result=self.results.put, wall=wall)
        self.app.start()
        assert self.app.bus.wait_connected(WAIT_S), "keypad bus did not connect"

    def press(self, button: str) -> None:
        self.factory.pin(PINS[button]).drive_low()
        time.sleep(0.02)  # a finger: the press must outlast the debounce
        self.factory.pin(PINS[button]).drive_high()

    def result(self) -> Any:
        return self.results.get(timeout=WAIT_S)

    def leds(self, *names: str) -> tuple:
        return tuple(self.app.leds.shown[n] for n in names)

    def stop(self) -> None:
        self.app.stop()


@pytest.fixture
def keypad(config, mock_factory, clock, server):
    k = Keypad(config, mock_factory, clock)
    yield k
    k.stop()


def eventually(check: Callable[[], Any], timeout: float = WAIT_S) -> Any:
    """Poll `check` (state another thread or process changes) until it is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            assert value, f"not true within {timeout} s"
            return value
        time.sleep(0.02)


def rows(server: Server, sql: str) -> list[tuple]:
    conn = sqlite3.connect(server.db_path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_next_calls_a_ticket_and_its_led_blinks(server, keypad):
    server.engine.take("t1", "kiosk1", "B")
    eventually(lambda: keypad.leds("next") == (ON,))  # idle, one citizen waiting
    keypad.press("next")
    result = keypad.result()
    assert (result.button, result.result, result.detail) == ("next", "ok", "B001")
    eventually(lambda: keypad.leds(*STAFF) == (BLINK, ON, ON, ON))
    assert keypad.app.keypad.state["state"] == "calling" and keypad.app.keypad.state["ticket"] == "B001"
    pin = keypad.factory.pin(17)
    seen: set[bool] = set()
    eventually(lambda: seen.add(bool(pin.state)) or seen == {True, False})  # gpiozero's blink thread
    assert rows(server, "SELECT label, status, counter FROM tickets") == [("B001", "called", "3")]


def test_done_then_a_rating_records_it_for_that_ticket(server, keypad):
    server.engine.take("t1", "kiosk1", "C")
    eventually(lambda: keypad.leds("next") == (ON,))
    keypad.press("next")
    assert keypad.result().detail == "C001"
    keypad.press("done")
    keypad.press("1")  # pressed while done is on its way: sent after its reply
    assert [keypad.result().button for _ in range(2)] == ["done", "1"]
    assert rows(server, "SELECT t.label, r.counter, r.score FROM ratings r JOIN tickets t ON t.id = r.ticket") \
        == [("C001", "3", 1)]
    eventually(lambda: keypad.leds(*SCORES) == (ON, None, None, None))  # only the pressed one, for a while
    keypad.press("2")  # a second rating of the same ticket is ignored
    assert (r := keypad.result()).result == "refused" and r.detail == "already_rated"
    assert rows(server, "SELECT score FROM ratings") == [(1,)]


def test_the_rating_leds_light_when_the_server_opens_the_window(server, keypad):
    server.engine.take("t1", "kiosk1", "B")
    server.engine.counter("n1", "3", "next")
    assert keypad.leds(*SCORES) == (None,) * 4
    server.engine.counter("d1", "3", "done")  # as the web console would
    eventually(lambda: keypad.leds(*SCORES) == (ON,) * 4)
    assert keypad.app.keypad.state["rating_until"] == "2026-11-23T09:01:00.000+07:00"


def test_the_keypad_works_through_a_broker_restart(server, keypad, broker):
    server.engine.take("t1", "kiosk1", "B")
    server.engine.take("t2", "kiosk1", "B")
    eventually(lambda: keypad.leds("next") == (ON,))
    keypad.press("next")
    assert keypad.result().detail == "B001"

    broker.stop()
    eventually(lambda: keypad.leds(*STAFF) == (FLICKER,) * 4)  # no broker: the staff LEDs flicker
    keypad.press("next")  # finishes B001 and calls B002 once the broker is back
    time.sleep(0.3)
    broker.start()
    result = keypad.result()
    assert (result.button, result.result, result.detail) == ("next", "ok", "B002")
    eventually(lambda: keypad.leds(*STAFF) == (BLINK, ON, ON, ON))
    keypad.press("4")  # B001 was finished by that next, a moment ago
    assert keypad.result().detail == "B001"

    broker.restart()  # once more, with nothing in flight
    assert keypad.app.bus.wait_connected(WAIT_S) and server.bus.wait_connected(WAIT_S)
    eventually(lambda: keypad.leds("next") == (BLINK,))
    keypad.press("done")
    assert keypad.result().result == "ok"
    keypad.press("3")
    assert keypad.result().detail == "B002"
    assert rows(server, "SELECT t.label, r.score FROM ratings r JOIN tickets t ON t.id = r.ticket ORDER BY t.id") \
        == [("B001", 4), ("B002", 3)]
    assert rows(server, "SELECT count(*) FROM commands WHERE id LIKE 'counter/3:%'") == [(5,)]


def with_account(config: Any, username: str, passwords: dict[str, str]) -> Any:
    mqtt = dataclasses.replace(config.mqtt, username=username, password=passwords[username])
    return dataclasses.replace(config, mqtt=mqtt)


def test_the_keypad_needs_nothing_more_than_its_counter_account(config, mock_factory, clock, tmp_path,
                                                               mosquitto_path):
    written = tmp_path / "mqtt"
    write_credentials(config, written, group="no-such-group-for-tests")
    passwords = read_secrets(written / "secrets.toml")
    secured = Broker(tmp_path / "secured", password_file=written / "passwd", acl_file=written / "acl",
                     executable=mosquitto_path).start()
    try:
        on_secured = dataclasses.replace(config, mqtt=dataclasses.replace(config.mqtt, port=secured.port))
        server = Server(with_account(on_secured, "server", passwords), tmp_path / "q.db", clock)
        keypad = Keypad(with_account(on_secured, "counter-3", passwords), mock_factory, clock)
        try:
            server.engine.take("t1", "kiosk1", "B")
            eventually(lambda: keypad.leds("next") == (ON,))  # it reads its state
            keypad.press("next")
            assert keypad.result().detail == "B001"  # it writes its command and reads its reply
            keypad.press("done")
            keypad.press("2")
            assert [keypad.result().result for _ in range(2)] == ["ok", "ok"]  # and rates
            assert rows(server, "SELECT score FROM ratings") == [(2,)]
        finally:
            keypad.stop()
            server.stop()
    finally:
        secured.stop()


# --- ratings over MQTT, from any device ---------------------------------------------------

@pytest.fixture
def client(broker, topics):
    c = Client(broker, [f"{topics.root}/{topics.site}/#"])
    yield c
    c.close()


@pytest.mark.parametrize("payload, code", [({"id": "r1", "score": 4}, "no_ticket"),
                                           ({"id": "r1", "score": 9}, "bad_request")])
def test_a_rating_with_nothing_to_rate_is_refused(server, client, topics, payload, code):
    client.publish(topics.counter_rating("1"), payload)
    assert client.reply(topics.counter_reply("1"), "r1")["error"]["code"] == code
    assert rows(server, "SELECT count(*) FROM ratings") == [(0,)]


def test_a_rating_over_mqtt_gets_its_reply_event_and_state(server, client, topics):
    server.engine.take("t1", "kiosk1", "A")
    server.engine.counter("n1", "1", "next")
    server.engine.counter("d1", "1", "done")
    client.wait_for(lambda t, b: t == topics.counter_state("1") and b.get("rating_until"))
    client.publish(topics.counter_rating("1"), {"id": "r1", "score": 2})
    assert client.reply(topics.counter_reply("1"), "r1") == {"id": "r1", "ok": True, "ticket": "A001", "score": 2}
    event = client.wait_for(lambda t, b: t == topics.events() and b["type"] == "rated")
    assert (event["ticket"], event["counter"], event["score"]) == ("A001", "1", 2)
    client.wait_for(lambda t, b: t == topics.counter_state("1") and b["seq"] == event["seq"]
                    and b["rating_until"] is None)


# --- the `queuebox keypad --simulate` process --------------------------------------------------

def test_the_simulated_keypad_process(server, config, tmp_path, capfd):
    path = tmp_path / "keypad.toml"
    path.write_text(to_toml(config), encoding="utf-8")
    lines: queue.Queue[str] = queue.Queue()
    errors: list[str] = []
    with subprocess.Popen([sys.executable, "-m", "queuebox.cli", "keypad", "--simulate", "--config", str(path)],
                          cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, bufsize=1) as process:
        readers = [threading.Thread(target=lambda: [lines.put(line) for line in process.stdout]),
                   threading.Thread(target=lambda: errors.extend(process.stderr))]
        for reader in readers:
            reader.start()

        def wait_line(part: str) -> str:
            deadline = time.monotonic() + WAIT_S
            while time.monotonic() < deadline:
                try:
                    line = lines.get(timeout=0.1)
                except queue.Empty:
                    continue
                if part in line:
                    return line
            raise AssertionError(f"no line with {part!r}; stderr: {''.join(errors)}")

        def type_line(text: str) -> None:
            process.stdin.write(text + "\n")
            process.stdin.flush()

        try:
            wait_line("Simulated keypad of counter 3")
            server.engine.take("t1", "kiosk1", "B")
            wait_line("LEDs: next=on ")
            type_line("n")
            wait_line("LEDs: next=blink recall=on no_show=on done=on")
            status = Path(f"/proc/{process.pid}/status").read_text()
            rss_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
            type_line("d 2")
            eventually(lambda: rows(server, "SELECT score FROM ratings") == [(2,)])
            type_line("q")
            assert process.wait(WAIT_S) == 0
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
            for reader in readers:
                reader.join(WAIT_S)
    assert rows(server, "SELECT label, status FROM tickets") == [("B001", "done")]
    assert "INFO device.keypad: counter 3: rating 2 (satisfied) recorded for B001" in "".join(errors)
    with capfd.disabled():
        print(f"\n[keypad --simulate resident memory: {rss_kb / 1024:.1f} MB]")
