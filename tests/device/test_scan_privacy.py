"""A chip ID card scan through a real Mosquitto and a real `queuebox server` process: the
`take` carries the elderly group on the wire, and nothing personal of the card is anywhere —
database, logs, printed bytes and pictures, MQTT traffic."""

from __future__ import annotations

import queue
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from device.main import KioskApp
from device.printer import EscposPrinter
from device.scanner import ScannerReader
from escpos.printer import Dummy
from queuebox.bus import close_socket
from queuebox.config import to_toml
from tests.device.fakes import RecordedScanner
from tests.device.test_kiosk_cli import wait_for_files
from tests.factories import make_config
from tests.helpers.server_process import WAIT_S, ServerProcess

ROOT = Path(__file__).resolve().parents[2]
ID_NUMBER, NAME, BIRTH = "079052001234", "Nguyễn Thị Hường", "15041950"
ADDRESS = "Số 7 Lê Lợi, Phường Bến Nghé, Quận 1, Thành phố Hồ Chí Minh"
CARD = f"{ID_NUMBER}|023456789|{NAME}|{BIRTH}|Nữ|{ADDRESS}|10082021"
PERSONAL = [ID_NUMBER, "023456789", NAME, "Hường", BIRTH, "15/04/1950", "1950-04-15", "Lê Lợi"]


class Everything:
    """A plain MQTT client subscribed to ``#``: every message on the broker, raw."""

    def __init__(self, broker) -> None:
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.seen: list[tuple[str, bytes]] = []
        ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"all-{uuid.uuid4().hex[:8]}",
                                  protocol=mqtt.MQTTv5)
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe("#", qos=1)
        self.client.on_subscribe = lambda c, u, mid, codes, p: ready.set()
        self.client.on_message = lambda c, u, msg: self._got(msg.topic, bytes(msg.payload))
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert ready.wait(WAIT_S), "could not subscribe to #"

    def _got(self, topic: str, payload: bytes) -> None:
        self.seen.append((topic, payload))
        self.messages.put((topic, payload))

    def wait_for(self, suffix: str) -> bytes:
        while True:
            topic, payload = self.messages.get(timeout=WAIT_S)
            if topic.endswith(suffix):
                return payload

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        close_socket(self.client)


def site_config(broker, mqtt_root, tmp_path, **kiosk):
    return make_config(mqtt={"host": broker.host, "port": broker.port, "root": mqtt_root},
                       server={"public_url": "http://q.test"}, database={"path": str(tmp_path / "q.db")},
                       kiosk={"id": "kiosk1", "buttons": {"A": 5, "B": 6}, "led_ready": 17, "led_busy": 27,
                              "led_fault": 22, **kiosk},
                       printer={"kind": "usb", "paper_width_mm": 80})


def assert_nothing_personal(name: str, data: bytes) -> None:
    for secret in PERSONAL:
        assert secret.encode("utf-8") not in data, f"{secret!r} found in {name}"


def test_evdev_keys_of_a_scan_then_a_press_put_the_elderly_group_on_the_wire(broker, mqtt_root, tmp_path,
                                                                            mock_factory, dejavu):
    config = site_config(broker, mqtt_root, tmp_path, scanner="HID KBW")
    server = ServerProcess(config, tmp_path / "server").start()
    wire = Everything(broker)
    printed: queue.Queue = queue.Queue()
    app = KioskApp(config, pin_factory=mock_factory, printer=EscposPrinter(Dummy(), 576), fonts=dejavu,
                   on_printed=printed.put, read_scanner=False)
    scanner = RecordedScanner()
    handed = threading.Event()

    def sink(scan):  # the inbox is one queue: a press after this is handled after the scan
        app.bus.inbox.put(scan)
        handed.set()
    reader = ScannerReader("HID KBW", sink, timeout_s=0.3, open_device=lambda spec: scanner)
    try:
        app.start()
        reader.start()
        assert app.bus.wait_connected(WAIT_S) and reader.connected.wait(WAIT_S)
        scanner.type_text(CARD)
        assert handed.wait(WAIT_S)
        mock_factory.pin(6).drive_low()
        mock_factory.pin(6).drive_high()
        take = wire.wait_for("/kiosk/kiosk1/take")
        ticket = printed.get(timeout=WAIT_S).ticket
    finally:
        reader.stop()
        app.stop()
        wire.close()
        server.stop()
    assert b'"group":"CT"' in take.replace(b" ", b"") and b'"priority":true' in take.replace(b" ", b"")
    assert ticket.label == "B001" and ticket.priority
    assert_nothing_personal("the take", take)


@pytest.mark.parametrize("one_ticket_per_card", [False, True])
def test_nothing_personal_of_a_scanned_card_is_stored_logged_printed_or_sent(broker, mqtt_root, tmp_path,
                                                                             one_ticket_per_card):
    config = site_config(broker, mqtt_root, tmp_path, one_ticket_per_card=one_ticket_per_card)
    config_path = tmp_path / "kiosk.toml"
    config_path.write_text(to_toml(config), encoding="utf-8")
    server = ServerProcess(config, tmp_path / "server").start()
    wire = Everything(broker)
    out, log = tmp_path / "tickets", tmp_path / "kiosk.log"
    with open(log, "wb") as log_file:
        kiosk = subprocess.Popen([sys.executable, "-m", "queuebox.cli", "kiosk", "--config", str(config_path),
                                  "--simulate", "--out", str(out)], stdin=subprocess.PIPE, stdout=log_file,
                                 stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        wire.wait_for("/status/kiosk-kiosk1")
        kiosk.stdin.write(f"scan:{CARD}\na\n".encode("utf-8"))
        kiosk.stdin.flush()
        wait_for_files(out, "*.png", 1, kiosk, log)
        kiosk.stdin.write(f"scan:{CARD.replace(BIRTH, '31021950')}\n".encode("utf-8"))  # not a card: logged
        kiosk.stdin.flush()
        deadline = time.monotonic() + WAIT_S
        while "not a CCCD QR" not in log.read_text(encoding="utf-8") and time.monotonic() < deadline:
            time.sleep(0.05)  # polling another process's log, not test logic
        kiosk.stdin.write(b"q\n")
        kiosk.stdin.flush()
        assert kiosk.wait(WAIT_S) == 0, log.read_text()
    finally:
        if kiosk.poll() is None:
            kiosk.kill()
            kiosk.wait()
        kiosk.stdin.close()
        wire.close()
        server.stop()
    conn = sqlite3.connect(tmp_path / "q.db")
    assert conn.execute("SELECT label, priority FROM tickets").fetchall() == [("A001", 1)]
    conn.close()
    kiosk_log = log.read_text(encoding="utf-8")
    assert "elderly: yes" in kiosk_log and "not a CCCD QR (bad_birth_date)" in kiosk_log
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p != config_path]
    assert {p.suffix for p in files} >= {".db", ".log", ".bin", ".png"}
    for path in files:
        assert_nothing_personal(str(path), path.read_bytes())
    takes = [payload for topic, payload in wire.seen if topic.endswith("/take")]
    assert len(takes) == 1 and b"CT" in takes[0]
    for topic, payload in wire.seen:
        assert_nothing_personal(f"MQTT {topic}", topic.encode("utf-8") + payload)
