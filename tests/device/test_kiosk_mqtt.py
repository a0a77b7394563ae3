"""The kiosk through a real Mosquitto and the real server (engine, SQLite file, MQTT bridge,
in this process): MockFactory pins pressed by the test, escpos's Dummy printer."""

from __future__ import annotations

import queue
import sqlite3
import threading
import time
from typing import Any

import pytest

from device.kiosk import kiosk_client_id
from device.main import KioskApp
from device.printer import EscposPrinter
from escpos.printer import Dummy
from queuebox.bus import Bus, Message
from queuebox.protocol import Topics
from tests.device.escpos_job import parse_jobs
from tests.factories import FakeClock, make_config
from tests.integration.test_server_mqtt import WAIT_S, Client, Server

PIN_A, PIN_B = 5, 6


@pytest.fixture
def config(broker, mqtt_root):
    return make_config(mqtt={"host": broker.host, "port": broker.port, "root": mqtt_root},
                       server={"public_url": "http://queuebox.test:8080"},
                       kiosk={"id": "kiosk1", "buttons": {"A": PIN_A, "B": PIN_B}, "led_ready": 17, "led_busy": 27,
                              "led_fault": 22, "retry_every_s": 0.3, "reply_timeout_s": 8.0},
                       printer={"kind": "dummy", "paper_width_mm": 80})


class SkippingClock:
    """The monotonic clock, plus whatever the test skipped forward (a citizen walking up)."""

    def __init__(self) -> None:
        self.skipped = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.skipped


class Kiosk:
    """A KioskApp on MockFactory pins and a Dummy printer; `printed` fills as tickets come out."""

    def __init__(self, config: Any, factory: Any, fonts: Any, bus: Any = None) -> None:
        self.factory = factory
        self.clock = SkippingClock()
        self.printed: queue.Queue[Any] = queue.Queue()
        self.outcomes: queue.Queue[Any] = queue.Queue()
        self.printer = EscposPrinter(Dummy(), 576)
        self.app = KioskApp(config, pin_factory=factory, printer=self.printer, fonts=fonts, bus=bus,
                            on_printed=self.printed.put, on_outcome=self.outcomes.put, clock=self.clock)
        self.app.start()
        assert self.app.bus.wait_connected(WAIT_S), "kiosk bus did not connect"

    def press(self, pin: int) -> None:
        self.factory.pin(pin).drive_low()
        self.factory.pin(pin).drive_high()

    def next_printed(self) -> Any:
        return self.printed.get(timeout=WAIT_S)

    def next_outcome(self) -> Any:
        return self.outcomes.get(timeout=WAIT_S)

    def jobs(self) -> list[Any]:
        return parse_jobs(self.printer.connection.output)

    def stop(self) -> None:
        self.app.stop()


@pytest.fixture
def kiosk(config, mock_factory, dejavu):
    k = Kiosk(config, mock_factory, dejavu)
    yield k
    k.stop()


@pytest.fixture
def server(config, tmp_path):
    s = Server(config, tmp_path / "q.db", FakeClock())
    yield s
    s.stop()


def tickets(server: Server) -> list[tuple]:
    conn = sqlite3.connect(server.db_path)
    try:
        return conn.execute("SELECT label, service, token, kiosk, priority FROM tickets ORDER BY id").fetchall()
    finally:
        conn.close()


def test_one_press_prints_exactly_the_ticket_the_database_recorded(server, kiosk, config):
    kiosk.press(PIN_A)
    printed = kiosk.next_printed()
    [(label, service, token, origin, priority)] = tickets(server)
    assert (printed.ticket.label, printed.ticket.service, service, origin, priority) == (label, "A", "A", "kiosk1", 0)
    (job,) = kiosk.jobs()
    assert job.rasters and sum(r.height for r in job.rasters) == printed.image.height
    assert job.qr_data == [f"http://queuebox.test:8080/t/{token}"] == [printed.ticket.status_url]
    assert job.cuts == 1 and printed.sends == 1


def test_presses_on_two_buttons_give_tickets_in_order(server, kiosk, config):
    kiosk.press(PIN_A)
    first = kiosk.next_printed()
    kiosk.clock.skipped += 1.0  # a second citizen, a moment later
    kiosk.press(PIN_B)
    second = kiosk.next_printed()
    assert [row[0] for row in tickets(server)] == [first.ticket.label, second.ticket.label] == ["A001", "B001"]
    assert [j.qr_data[0].rsplit("/", 1)[1] for j in kiosk.jobs()] == [row[2] for row in tickets(server)]


def test_a_server_started_after_the_press_gets_the_same_id_and_one_ticket_prints(config, kiosk, broker, tmp_path,
                                                                                   mqtt_root):
    watcher = Client(broker, [f"{mqtt_root}/{config.site.id}/kiosk/kiosk1/take"])
    try:
        kiosk.press(PIN_A)
        watcher.wait_for(lambda t, b: True)
        watcher.wait_for(lambda t, b: len(watcher.seen) >= 2)  # sent again: nobody answered yet
        server = Server(config, tmp_path / "q.db", FakeClock())
        try:
            printed = kiosk.next_printed()
            [(label, _, token, _, _)] = tickets(server)
        finally:
            server.stop()
    finally:
        watcher.close()
    ids = {body["id"] for _, body, _ in watcher.seen}
    assert ids == {printed.request_id} and printed.sends >= 2
    assert printed.ticket.label == label == "A001"
    assert [j.qr_data for j in kiosk.jobs()] == [[f"http://queuebox.test:8080/t/{token}"]]


class LossyBus:
    """The kiosk's real Bus with a network in between that loses the first reply: the kiosk
    reads `inbox`, filled from the real bus's inbox by a pump thread."""

    def __init__(self, bus: Any) -> None:
        self.bus = bus
        self.topics, self.client_id, self.connected = bus.topics, bus.client_id, bus.connected
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.lost: list[Message] = []
        self._stop = threading.Event()
        self._pump = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                item = self.bus.inbox.get(timeout=0.05)
            except queue.Empty:
                continue
            if isinstance(item, Message) and item.topic.endswith("/reply") and not self.lost:
                self.lost.append(item)
                continue
            self.inbox.put(item)

    def publish(self, *args: Any, **kwargs: Any) -> None:
        self.bus.publish(*args, **kwargs)

    def start(self) -> None:
        self.bus.start()
        self._pump.start()

    def wait_connected(self, timeout: float) -> bool:
        return self.bus.wait_connected(timeout)

    def stop(self) -> None:
        self._stop.set()
        self._pump.join(WAIT_S)
        self.bus.stop()


def test_a_lost_reply_is_asked_again_with_the_same_id_and_one_ticket_prints(config, server, mock_factory, dejavu):
    topics = Topics(config.mqtt.root, config.site.id)
    lossy = LossyBus(Bus(config.mqtt, topics, kiosk_client_id("kiosk1"), subscriptions=[topics.kiosk_reply("kiosk1")]))
    kiosk = Kiosk(config, mock_factory, dejavu, bus=lossy)
    try:
        kiosk.press(PIN_A)
        printed = kiosk.next_printed()
    finally:
        kiosk.stop()
    assert len(lossy.lost) == 1 and printed.sends == 2
    (label, _, token, _, _), = tickets(server)
    assert printed.ticket.label == label and printed.ticket.status_url.endswith(token)
    assert len(kiosk.jobs()) == 1
    conn = sqlite3.connect(server.db_path)
    try:
        assert conn.execute("SELECT count(*) FROM commands").fetchone() == (1,)
    finally:
        conn.close()


@pytest.mark.parametrize("service, code", [
    ({"code": "A", "name_vi": "Đất đai", "hours": ["03:00-04:00"]}, "service_closed"),  # the clock says 09:00
    ({"code": "A", "name_vi": "Đất đai", "daily_limit": 1}, "daily_limit"),
])
def test_a_service_that_gives_no_ticket_prints_nothing(broker, mqtt_root, mock_factory, dejavu, tmp_path, service,
                                                       code):
    config = make_config(services=[service], counters=[{"id": "1", "name": "Quầy 1", "services": {"A": 1}}],
                         mqtt={"host": broker.host, "port": broker.port, "root": mqtt_root},
                         kiosk={"id": "kiosk1", "buttons": {"A": PIN_A}, "cooldown_s": 0.01})
    server = Server(config, tmp_path / "q.db", FakeClock())
    kiosk = Kiosk(config, mock_factory, dejavu)
    try:
        if code == "daily_limit":  # the one ticket of the day
            kiosk.press(PIN_A)
            assert kiosk.next_outcome().result == "printed"
            kiosk.clock.skipped += 1.0  # the next citizen
        kiosk.press(PIN_A)
        outcome = kiosk.next_outcome()
    finally:
        kiosk.stop()
        server.stop()
    assert (outcome.result, outcome.detail) == ("refused", code)
    expected = 1 if code == "daily_limit" else 0
    assert len(kiosk.jobs()) == expected == len(tickets(server))
