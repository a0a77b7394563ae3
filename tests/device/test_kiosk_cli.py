"""`queuebox ticket-preview` and `queuebox kiosk --simulate` as a person runs them."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from queuebox.cli import main
from queuebox.config import to_toml
from tests.device.escpos_job import parse_job
from tests.factories import FakeClock, make_config
from tests.integration.test_server_mqtt import WAIT_S, Client, Server

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "queuebox.example.toml"


@pytest.mark.parametrize("args, width", [([], 576), (["--paper", "58"], 384)])
def test_ticket_preview_writes_a_png_of_the_ticket_with_its_qr_code(tmp_path, capsys, args, width):
    out = tmp_path / "previews" / "ticket.png"
    assert main(["ticket-preview", "--config", str(EXAMPLE), "--service", "d", "--priority", "--out", str(out),
                 *args]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    with Image.open(out) as image:
        assert image.mode == "1" and image.width == width and image.height > 900


def test_ticket_preview_names_the_services_when_one_is_unknown(tmp_path, capsys):
    assert main(["ticket-preview", "--config", str(EXAMPLE), "--service", "Q", "--out", str(tmp_path / "t.png")]) == 1
    assert "no service 'Q' in the configuration (services: A, B, C, D, E)" in capsys.readouterr().err
    assert not (tmp_path / "t.png").exists()


def wait_for_files(folder: Path, pattern: str, count: int, process: subprocess.Popen, log: Path) -> list[Path]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = sorted(folder.glob(pattern))
        if len(found) >= count:
            return found
        assert process.poll() is None, log.read_text()
        time.sleep(0.05)  # polling another process's output files, not test logic
    raise AssertionError(f"no {count} × {pattern} in {folder}; kiosk log:\n{log.read_text()}")


def test_a_simulated_kiosk_prints_tickets_pressed_from_the_keyboard_and_the_simulation_topic(broker, mqtt_root,
                                                                                          tmp_path):
    config = make_config(mqtt={"host": broker.host, "port": broker.port, "root": mqtt_root},
                         server={"public_url": "http://q.test"},
                         kiosk={"id": "kiosk1", "buttons": {"A": 5, "B": 6}, "priority_button": 21,
                                "group_buttons": {"KT": 20}},
                         printer={"kind": "usb", "paper_width_mm": 80})  # --simulate needs no printer
    config_path = tmp_path / "queuebox.toml"
    config_path.write_text(to_toml(config), encoding="utf-8")
    out, log = tmp_path / "tickets", tmp_path / "kiosk.log"
    server = Server(config, tmp_path / "q.db", FakeClock())
    watcher = Client(broker, [f"{mqtt_root}/{config.site.id}/status/kiosk-kiosk1"])
    with open(log, "wb") as log_file:
        kiosk = subprocess.Popen([sys.executable, "-m", "queuebox.cli", "kiosk", "--config", str(config_path),
                                  "--simulate", "--out", str(out)], stdin=subprocess.PIPE, stdout=log_file,
                                 stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        watcher.wait_for(lambda t, b: b is None)  # "online" is not JSON: the kiosk is connected
        kiosk.stdin.write(b"g kt a\n")  # the button of priority group KT, then A
        kiosk.stdin.flush()
        wait_for_files(out, "*.bin", 1, kiosk, log)
        watcher.publish(f"{mqtt_root}/{config.site.id}/kiosk/kiosk1/simulate", "b")
        bins = wait_for_files(out, "*.bin", 2, kiosk, log)
        kiosk.stdin.write(b"q\n")
        kiosk.stdin.flush()
        assert kiosk.wait(WAIT_S) == 0, log.read_text()
    finally:
        if kiosk.poll() is None:
            kiosk.kill()
            kiosk.wait()
        kiosk.stdin.close()
        watcher.close()
        server.stop()
    conn = sqlite3.connect(tmp_path / "q.db")
    rows = conn.execute("SELECT label, token, priority, priority_group FROM tickets ORDER BY id").fetchall()
    conn.close()
    assert [(r[0], r[2], r[3]) for r in rows] == [("A001", 1, "KT"), ("B001", 0, None)]
    assert [b.name.rsplit("-", 1)[1] for b in bins] == ["A001.bin", "B001.bin"]
    for path, (label, token, _, _) in zip(bins, rows):
        assert parse_job(path.read_bytes()).qr_data == [f"http://q.test/t/{token}"]
        with Image.open(path.with_suffix(".png")) as image:
            assert image.mode == "1" and image.width == 576
    assert "printed A001 (priority)" in log.read_text()
