"""A scanned chip ID card at the kiosk's loop (MockFactory pins, Dummy printer, recording
bus, hand-moved clock): elderly priority of the elderly group, and what is not a card."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from device.buttons import Light
from device.card_priority import CardPriority, CardSettings
from device.scanner import Scan
from queuebox.config_devices import KioskConfig
from escpos.printer import Dummy
from tests.device.test_kiosk import CONFIG, Rig

CARD = "079052001234||Nguyễn Thị Hường|15041950|Nữ|Số 7 Lê Lợi, Phường Bến Nghé, Quận 1|10082021"
YOUNG = "001200009876|123456789|Trần Văn Bình|02031990|Nam|Thôn Đông, Xã Yên Phong|05052022"
NINE_AM_HCM = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)


@pytest.fixture
def make_rig(mock_factory, dejavu):
    rigs = []

    def make(config: KioskConfig = CONFIG) -> Rig:
        rigs.append(Rig(mock_factory, dejavu, Dummy(), config))
        return rigs[-1]
    yield make
    for made in rigs:
        made.close()


@pytest.fixture
def rig(make_rig) -> Rig:
    return make_rig()


def with_cards(rig, *, one_ticket_per_card: bool = False, group: str = "CT"):
    rig.kiosk.cards = CardPriority(CardSettings(group, 60, one_ticket_per_card, 5.0, ZoneInfo("Asia/Ho_Chi_Minh")),
                                   wall_clock=lambda: NINE_AM_HCM)
    return rig


def scan(rig, text: str, complete: bool = True) -> None:
    rig.bus.inbox.put(Scan(text, complete, rig.clock()))
    rig.drain()


def test_an_elderly_scan_then_a_press_takes_a_priority_ticket_of_the_elderly_group(rig, caplog):
    caplog.set_level(logging.INFO)
    with_cards(rig)
    scan(rig, CARD)
    assert rig.kiosk.lights.shown is Light.PRIORITY and rig.takes() == []
    rig.press("B")
    assert rig.takes() == [{"id": "k1-test-001", "service": "B", "priority": True, "group": "CT"}]
    assert "elderly: yes" in caplog.text
    assert "0790" not in caplog.text and "Nguy" not in caplog.text and "1950" not in caplog.text


def test_the_elderly_priority_lasts_the_priority_window(rig):
    with_cards(rig)
    scan(rig, CARD)
    rig.wait(5.2)
    assert rig.kiosk.lights.shown is Light.READY
    rig.press("A")
    assert rig.takes() == [{"id": "k1-test-001", "service": "A", "priority": False}]


def test_a_younger_citizen_gets_a_normal_ticket(rig, caplog):
    caplog.set_level(logging.INFO)
    with_cards(rig)
    scan(rig, YOUNG)
    assert rig.kiosk.lights.shown is Light.READY
    rig.press("A")
    assert rig.takes() == [{"id": "k1-test-001", "service": "A", "priority": False}]
    assert "elderly: no" in caplog.text


@pytest.mark.parametrize("text, complete, reason", [
    ("https://dichvucong.gov.vn/", True, "field_count"),
    (CARD[:30], False, "partial_line"),
    (CARD.replace("15041950", "31021950"), True, "bad_birth_date"),
    (CARD.replace("15041950", "15042050"), True, "birth_in_future"),
])
def test_a_scan_that_is_not_a_card_blinks_red_once_and_arms_nothing(rig, caplog, text, complete, reason):
    with_cards(rig)
    scan(rig, text, complete)
    assert rig.kiosk.lights.shown is Light.REFUSED
    assert [r.getMessage() for r in caplog.records if r.name.startswith("device")] == [f"not a CCCD QR ({reason})"]
    rig.wait(2.1)
    assert rig.kiosk.lights.shown is Light.READY
    rig.press("A")
    assert rig.takes()[0]["priority"] is False


def test_a_kiosk_with_one_service_takes_the_elderly_ticket_at_once(make_rig):
    config = KioskConfig(id="k1", buttons={"A": 5}, led_ready=17, led_busy=27, led_fault=22, priority_window_s=5.0)
    rig = with_cards(make_rig(config=config))
    scan(rig, CARD)
    assert rig.takes() == [{"id": "k1-test-001", "service": "A", "priority": True, "group": "CT"}]
    assert rig.kiosk.lights.shown is Light.BUSY


def test_no_elderly_group_gives_a_plain_priority_ticket(rig):
    with_cards(rig, group="")
    scan(rig, CARD)
    rig.press("A")
    assert rig.takes() == [{"id": "k1-test-001", "service": "A", "priority": True}]


def test_a_scan_while_a_ticket_is_on_its_way_is_ignored(rig):
    with_cards(rig)
    rig.press("A")
    scan(rig, CARD)
    rig.reply("k1-test-001", label="A001")
    rig.wait(2.1)
    rig.press("B")
    assert rig.takes()[-1]["priority"] is False


def test_one_ticket_per_card_refuses_the_same_service_again_the_same_day(rig, caplog):
    with_cards(rig, one_ticket_per_card=True)
    scan(rig, CARD)
    rig.press("A")
    rig.reply("k1-test-001", label="A001", priority=True)
    rig.wait(2.1)
    scan(rig, CARD.replace("Nguyễn Thị Hường", ""))  # the same card, the name lost by the scanner
    rig.press("A")
    assert len(rig.takes()) == 1 and rig.kiosk.lights.shown is Light.REFUSED
    assert "already took an elderly ticket" in caplog.text and "0790" not in caplog.text
    rig.wait(5.1)
    scan(rig, CARD)
    rig.press("B")  # another service is fine
    assert rig.takes()[-1] == {"id": "k1-test-002", "service": "B", "priority": True, "group": "CT"}


def test_without_the_check_the_same_card_may_take_again(rig):
    with_cards(rig)
    for i, label in ((1, "A001"), (2, "A002")):
        scan(rig, CARD)
        rig.press("A")
        rig.reply(f"k1-test-00{i}", label=label)
        rig.wait(2.1)
    assert [t["group"] for t in rig.takes()] == ["CT", "CT"]


def test_a_kiosk_without_a_scanner_ignores_scans(rig):
    scan(rig, CARD)
    rig.press("A")
    assert rig.takes() == [{"id": "k1-test-001", "service": "A", "priority": False}]
    assert CONFIG.scanner == ""
