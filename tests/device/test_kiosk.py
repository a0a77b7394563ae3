"""The kiosk's loop with MockFactory pins, escpos Dummy printers, a recording bus and a
hand-moved clock: every step (`handle`, `tick`) is driven by the test, no sleeps."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from device.buttons import Light, Panel
from device.kiosk import ABANDONED_KEPT, NOTICE_S, Kiosk, id_maker, kiosk_client_id
from device.printer import EscposPrinter
from device.ticket import SiteText, TicketRenderer
from escpos.constants import RT_STATUS_ONLINE, RT_STATUS_PAPER
from escpos.printer import Dummy
from queuebox.bus import Connected, Message
from queuebox.config_devices import KioskConfig
from queuebox.protocol import Topics, encode
from tests.device.escpos_job import parse_jobs
from tests.device.fakes import AnsweringDummy, BrokenDummy, FakeBus, FakeMonotonic

PINS = {"A": 5, "B": 6, "C": 13, "priority": 21}
LEDS = {"ready": 17, "busy": 27, "fault": 22}
CONFIG = KioskConfig(id="k1", buttons={"A": 5, "B": 6, "C": 13}, priority_button=21, led_ready=17, led_busy=27,
                     led_fault=22, cooldown_s=2.0, reply_timeout_s=8.0, retry_every_s=1.0, priority_window_s=5.0)
TOPICS = Topics("t", "site")
OK_STATUS, NO_PAPER = b"\x12", b"\x72"


class Rig:
    """A kiosk wired to MockFactory pins, a FakeBus and an EscposPrinter on `connection`."""

    def __init__(self, factory: Any, fonts: Any, connection: Any, config: KioskConfig = CONFIG) -> None:
        self.factory = factory
        self.clock = FakeMonotonic()
        self.bus = FakeBus(TOPICS, kiosk_client_id(config.id))
        self.printer = EscposPrinter(connection, 576)
        self.printed: list[Any] = []
        ids = iter(f"k1-test-{i:03d}" for i in range(1, 1000))
        self.panel = Panel(config, factory, self.bus.inbox.put, clock=self.clock)
        self.kiosk = Kiosk(config, SiteText("Trung tâm thử", "1022"), self.bus, self.printer,
                           TicketRenderer(fonts, 576), self.panel.lights, clock=self.clock,
                           new_id=lambda: next(ids), on_printed=self.printed.append)
        self.kiosk.tick()

    # --- driving -------------------------------------------------------------------
    def down(self, *buttons: str) -> None:
        for b in buttons:
            self.factory.pin(PINS[b]).drive_low()

    def up(self, *buttons: str) -> None:
        for b in buttons:
            self.factory.pin(PINS[b]).drive_high()

    def press(self, button: str, hold_s: float = 0.1) -> None:
        self.down(button)
        self.clock.advance(hold_s)
        self.up(button)
        self.drain()

    def drain(self) -> None:
        while not self.bus.inbox.empty():
            self.kiosk.handle(self.bus.inbox.get_nowait())
        self.kiosk.tick()

    def wait(self, seconds: float, step: float = 0.1) -> None:
        """Let `seconds` pass, the loop ticking every `step`."""
        for _ in range(round(seconds / step)):
            self.clock.advance(step)
            self.drain()

    def reply(self, request_id: str | None, *, error: str | None = None, **ticket: Any) -> None:
        if error:
            body = {"id": request_id, "ok": False, "error": {"code": error, "message": f"{error} (test)"}}
        else:
            body = {"id": request_id, "ok": True, "ticket": {
                "label": "A001", "service": "A", "service_name": "Đất đai", "service_name_en": "Land",
                "priority": False, "issued_at": "2026-11-23T09:00:00.000+07:00", "waiting_ahead": 0,
                "estimated_wait_min": 0, "status_url": f"http://q.local/t/{request_id}", **ticket}}
        self.bus.inbox.put(Message(TOPICS.kiosk_reply("k1"), encode(body)))
        self.drain()

    # --- looking ---------------------------------------------------------------------
    def takes(self) -> list[dict]:
        return [m for t, m, _ in self.bus.published if t == TOPICS.kiosk_take("k1")]

    def statuses(self) -> list[tuple[bytes, bool]]:
        return [(m, r) for t, m, r in self.bus.published if t == TOPICS.status("kiosk-k1")]

    def jobs(self) -> list[Any]:
        return parse_jobs(self.printer.connection.output)

    def leds(self) -> dict[str, bool]:
        return {name: bool(self.factory.pin(pin).state) for name, pin in LEDS.items()}

    def close(self) -> None:
        self.panel.close()


@pytest.fixture
def make_rig(mock_factory, dejavu):
    rigs = []

    def make(connection: Any = None, config: KioskConfig = CONFIG) -> Rig:
        rig = Rig(mock_factory, dejavu, connection if connection is not None else Dummy(), config)
        rigs.append(rig)
        return rig
    yield make
    for rig in rigs:
        rig.close()


@pytest.fixture
def rig(make_rig) -> Rig:
    return make_rig()


# --- the happy path ------------------------------------------------------------------------

def test_a_press_sends_a_take_and_its_reply_prints_one_ticket(rig):
    assert rig.kiosk.lights.shown is Light.READY and rig.leds() == {"ready": True, "busy": False, "fault": False}
    rig.press("A")
    assert rig.takes() == [{"id": "k1-test-001", "service": "A", "priority": False}]
    assert rig.kiosk.lights.shown is Light.BUSY and rig.leds()["busy"]
    rig.reply("k1-test-001", label="A001")
    (job,) = rig.jobs()
    assert job.qr_data == ["http://q.local/t/k1-test-001"] and job.rasters and job.cuts == 1
    assert [p.ticket.label for p in rig.printed] == ["A001"]
    assert rig.kiosk.lights.shown is Light.READY and rig.leds()["ready"]
    assert rig.statuses() == []  # nothing to report: the bus itself says "online"


def test_the_printed_times_are_recorded(rig):
    rig.press("B", hold_s=0.2)
    rig.clock.advance(0.05)
    rig.reply("k1-test-001", label="B001", service="B")
    (printed,) = rig.printed
    assert printed.replied_at - printed.pressed_at == pytest.approx(0.25)
    assert printed.render_s > 0 and printed.job.encode_s > 0 and printed.sends == 1


def test_a_priority_press_then_a_service_asks_for_a_priority_ticket(rig):
    rig.press("priority")
    assert rig.kiosk.lights.shown is Light.PRIORITY and rig.takes() == []
    rig.wait(3.0)
    rig.press("C")
    assert rig.takes() == [{"id": "k1-test-001", "service": "C", "priority": True}]


def test_priority_expires_and_the_light_goes_back_to_ready(rig):
    rig.press("priority")
    rig.wait(5.5)
    assert rig.kiosk.lights.shown is Light.READY
    rig.press("A")
    assert rig.takes()[0]["priority"] is False


# --- bad input from the buttons -----------------------------------------------------------------

def test_a_button_held_down_gives_one_ticket(rig):
    rig.down("A")
    rig.drain()
    rig.reply("k1-test-001")
    rig.wait(30.0, step=0.5)  # still held
    rig.up("A")
    rig.wait(1.0)
    assert len(rig.takes()) == 1 and len(rig.jobs()) == 1


def test_twenty_presses_in_a_second_give_one_ticket(rig):
    for i in range(20):
        rig.press("A", hold_s=0.025)
        rig.clock.advance(0.025)
        if i == 5:
            rig.reply("k1-test-001")  # the ticket comes out while the citizen keeps pressing
    assert [t["id"] for t in rig.takes()] == ["k1-test-001"]
    assert len(rig.jobs()) == 1


def test_two_services_pressed_at_once_give_one_ticket(rig):
    rig.down("A", "B")
    rig.drain()
    rig.reply("k1-test-001")
    rig.up("A", "B")
    rig.wait(1.0)
    assert [t["service"] for t in rig.takes()] == ["A"] and len(rig.jobs()) == 1


def test_another_citizen_can_press_after_the_cooldown(rig):
    rig.press("A")
    rig.reply("k1-test-001")
    rig.wait(1.0)
    rig.press("A")
    assert len(rig.takes()) == 1  # cooling down
    rig.wait(1.5)
    rig.press("A")
    assert [t["id"] for t in rig.takes()] == ["k1-test-001", "k1-test-002"]


# --- the server not answering ---------------------------------------------------------------------

def test_no_reply_resends_the_same_id_then_gives_up_printing_nothing(rig, caplog):
    rig.press("A")
    rig.wait(7.5)
    ids = [t["id"] for t in rig.takes()]
    assert ids == ["k1-test-001"] * 8  # at 0, 1, 2 … 7 s
    assert rig.kiosk.lights.shown is Light.BUSY
    with caplog.at_level(logging.ERROR, "device.kiosk"):
        rig.wait(0.6)
    assert rig.kiosk.pending is None and rig.jobs() == []
    assert rig.kiosk.lights.shown is Light.NO_SERVER
    assert "no answer from the server to take k1-test-001" in caplog.text
    rig.wait(NOTICE_S)
    assert rig.kiosk.lights.shown is Light.READY


def test_a_reply_after_the_deadline_is_not_printed_and_is_logged(rig, caplog):
    rig.press("A")
    rig.wait(8.5)
    with caplog.at_level(logging.ERROR, "device.kiosk"):
        rig.reply("k1-test-001", label="A007")
    assert rig.jobs() == []
    assert "ticket A007 was issued for take k1-test-001 after this kiosk gave up waiting: it was NOT printed" \
        in caplog.text


def test_the_list_of_abandoned_ids_stays_bounded(rig):
    config = rig.kiosk.config
    for _ in range(ABANDONED_KEPT + 10):
        rig.press("A")
        rig.wait(config.reply_timeout_s + config.cooldown_s + 0.5, step=0.5)
    assert len(rig.kiosk._abandoned) == ABANDONED_KEPT


def test_a_reply_for_another_id_is_ignored(rig):
    rig.press("A")
    rig.reply("k1-someone-else", label="A099")
    rig.reply("k1-test-000", label="A098")
    assert rig.jobs() == [] and rig.kiosk.lights.shown is Light.BUSY
    rig.reply("k1-test-001", label="A001")
    assert [p.ticket.label for p in rig.printed] == ["A001"]


def test_a_repeated_reply_prints_one_ticket(rig):
    rig.press("A")
    rig.wait(2.5)  # sent three times: the server answers each
    for _ in range(3):
        rig.reply("k1-test-001")
    assert len(rig.jobs()) == 1


@pytest.mark.parametrize("payload", [b"not json", b'{"id": "k1-test-001"}', b'{"id": "k1-test-001", "ok": true, '
                                     b'"ticket": {"label": "A001"}}'])
def test_a_bad_reply_prints_nothing_and_the_kiosk_goes_on(rig, payload):
    rig.press("A")
    rig.bus.inbox.put(Message(TOPICS.kiosk_reply("k1"), payload))
    rig.drain()
    assert rig.jobs() == []
    rig.wait(10.0)
    rig.press("B")
    rig.reply(rig.takes()[-1]["id"], label="B001")
    assert [p.ticket.label for p in rig.printed] == ["B001"]


def test_while_the_broker_is_away_nothing_is_sent_and_it_goes_out_on_reconnect(rig):
    rig.bus.connected.clear()
    rig.press("A")
    rig.wait(2.0)
    assert rig.takes() == []
    rig.bus.connected.set()
    rig.bus.inbox.put(Connected(session_present=True))
    rig.drain()
    assert [t["id"] for t in rig.takes()] == ["k1-test-001"]


@pytest.mark.parametrize("code", ["service_closed", "daily_limit", "unknown_service"])
def test_a_refusal_prints_nothing_shows_on_the_leds_and_is_logged(rig, caplog, code):
    rig.press("A")
    with caplog.at_level(logging.WARNING, "device.kiosk"):
        rig.reply("k1-test-001", error=code)
    assert rig.jobs() == [] and rig.kiosk.pending is None
    assert rig.kiosk.lights.shown is Light.REFUSED and not rig.leds()["ready"]
    assert f"service A gave no ticket (take k1-test-001): {code}" in caplog.text
    rig.wait(NOTICE_S + 0.1)
    assert rig.kiosk.lights.shown is Light.READY


# --- the printer ------------------------------------------------------------------------------------

def test_paper_out_sends_no_take_lights_the_fault_and_publishes_it_once(make_rig, caplog):
    printer = AnsweringDummy({RT_STATUS_ONLINE: OK_STATUS, RT_STATUS_PAPER: NO_PAPER})
    with caplog.at_level(logging.INFO, "device.kiosk"):
        rig = make_rig(printer)
        for _ in range(3):
            rig.press("A")
            rig.wait(2.5)
    assert rig.takes() == [] and rig.jobs() == []
    assert rig.kiosk.lights.shown is Light.FAULT and rig.leds() == {"ready": False, "busy": False, "fault": True}
    assert rig.statuses() == [(b"fault paper_out: the printer is out of paper", True)]
    assert caplog.text.count("printer fault:") == 1

    printer.answers[RT_STATUS_PAPER] = OK_STATUS  # paper put in
    with caplog.at_level(logging.INFO, "device.kiosk"):
        rig.wait(1.1)
    assert rig.statuses()[-1] == (b"online", True) and rig.kiosk.lights.shown is Light.READY
    assert caplog.text.count("printer fault cleared") == 1
    rig.press("A")
    assert len(rig.takes()) == 1


def test_an_offline_printer_is_a_fault_until_it_answers_again(make_rig):
    printer = AnsweringDummy({RT_STATUS_ONLINE: OSError(19, "No such device"), RT_STATUS_PAPER: OK_STATUS})
    rig = make_rig(printer)
    rig.press("A")
    assert rig.takes() == [] and rig.statuses()[0][0].startswith(b"fault offline: ")
    printer.answers[RT_STATUS_ONLINE] = OK_STATUS
    rig.wait(1.1)
    assert rig.statuses()[-1] == (b"online", True)


def test_a_fault_is_published_again_after_a_reconnect(make_rig):
    rig = make_rig(AnsweringDummy({RT_STATUS_ONLINE: OK_STATUS, RT_STATUS_PAPER: NO_PAPER}))
    rig.bus.inbox.put(Connected(session_present=False))
    rig.drain()
    assert [m for m, _ in rig.statuses()] == [b"fault paper_out: the printer is out of paper"] * 2


def test_a_printer_raising_on_write_is_a_fault_and_the_next_good_print_clears_it(make_rig, caplog):
    printer = BrokenDummy(OSError(5, "Input/output error"))
    rig = make_rig(printer)
    rig.press("A")
    with caplog.at_level(logging.ERROR, "device.kiosk"):
        rig.reply("k1-test-001", label="A001")
    assert rig.printed == [] and rig.kiosk.lights.shown is Light.FAULT
    assert "ticket A001 was issued but could not be printed" in caplog.text
    assert rig.statuses() == [(b"fault write_failed: writing to the printer failed: "
                               b"OSError: [Errno 5] Input/output error", True)]
    printer.error = None  # the cable is back; the printer cannot report status, so a press tries
    rig.wait(2.5)
    rig.press("B")
    rig.reply("k1-test-002", label="B001")
    assert [p.ticket.label for p in rig.printed] == ["B001"]
    assert rig.statuses()[-1] == (b"online", True) and rig.kiosk.lights.shown is Light.READY


# --- the loop ------------------------------------------------------------------------------------------

def test_the_loop_runs_on_its_own_thread_until_stopped(make_rig):
    rig = make_rig()
    printed = threading.Event()
    rig.kiosk._on_printed = lambda p: printed.set()
    stop = threading.Event()
    loop = threading.Thread(target=rig.kiosk.run, args=(stop,))
    loop.start()
    try:
        rig.down("A")
        rig.up("A")
        rig.bus.inbox.put(Message(TOPICS.kiosk_reply("k1"), encode(
            {"id": "k1-test-001", "ok": True, "ticket": {
                "label": "A001", "service": "A", "service_name": "Đất đai", "issued_at": "2026-11-23T09:00:00+07:00",
                "waiting_ahead": 0, "estimated_wait_min": 0, "status_url": "http://q/t/1"}})))
        assert printed.wait(10)
    finally:
        stop.set()
        loop.join(10)
    assert not loop.is_alive() and len(rig.jobs()) == 1


def test_a_message_on_another_topic_is_dropped(rig, caplog):
    with caplog.at_level(logging.WARNING, "device.kiosk"):
        rig.bus.inbox.put(Message("t/site/board", b"{}"))
        rig.drain()
    assert "unexpected topic" in caplog.text and rig.jobs() == []


def test_request_ids_are_fresh_and_fit_the_protocol():
    a, b = id_maker("k" * 32), id_maker("k" * 32)
    ids = [a(), a(), b()]
    assert len(set(ids)) == 3 and all(len(i) <= 64 for i in ids)
    assert ids[0].rsplit("-", 1)[1] == "000001" and ids[1].rsplit("-", 1)[1] == "000002"


def test_a_printer_failing_every_write_sends_no_take(make_rig):
    rig = make_rig(BrokenDummy(OSError(19, "No such device"), jobs_only=False))
    rig.press("A")
    assert rig.takes() == [] and rig.kiosk.lights.shown is Light.FAULT
    assert rig.statuses()[0][0].startswith(b"fault offline: ")
