"""`queuebox demo`: a private authenticated broker and the real server process, end to end."""

from __future__ import annotations

import json
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest

from server.demo import free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "queuebox.example.toml"
SITE = "queuebox/xa-an-phu"


def mqtt(tool: str, port: int, user: str, password: str, *args: str, timeout: float = 10) -> subprocess.CompletedProcess:
    return subprocess.run([tool, "-h", "127.0.0.1", "-p", str(port), "-u", user, "-P", password, "-V", "mqttv5",
                           *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def demo(tmp_path):
    web_port = free_port()
    log = open(tmp_path / "demo.out", "w")
    proc = subprocess.Popen([sys.executable, "-m", "queuebox.cli", "demo", "--config", str(EXAMPLE),
                             "--dir", str(tmp_path / "demo"), "--web-port", str(web_port)],
                            stdout=log, stderr=log, cwd=ROOT)
    deadline = time.monotonic() + 30
    health = None
    while time.monotonic() < deadline and health is None:
        assert proc.poll() is None, (tmp_path / "demo.out").read_text()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/healthz", timeout=2) as response:
                health = json.loads(response.read())
        except OSError:
            time.sleep(0.2)
    assert health is not None and health["ok"], (tmp_path / "demo.out").read_text()
    broker_port = int(re.search(r"listener (\d+)", (tmp_path / "demo" / "mosquitto.conf").read_text()).group(1))
    passwords = tomllib.loads((tmp_path / "demo" / "mqtt" / "secrets.toml").read_text())["passwords"]
    yield proc, broker_port, passwords, tmp_path
    if proc.poll() is None:
        proc.terminate()  # the demo stops its broker and server on SIGTERM
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    log.close()


def test_demo_runs_an_authenticated_broker_and_the_server(demo):
    proc, port, passwords, tmp_path = demo
    watcher = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-u", "counter-1",
                                "-P", passwords["counter-1"], "-V", "mqttv5", "-t", f"{SITE}/counter/1/reply",
                                "-C", "1", "-W", "10"], stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)  # let the subscription reach the broker before the command is sent
    sent = mqtt("mosquitto_pub", port, "counter-1", passwords["counter-1"], "-q", "1",
                "-t", f"{SITE}/counter/1/command", "-m", '{"id": "demo-1", "action": "next"}')
    assert sent.returncode == 0, sent.stderr
    out, _ = watcher.communicate(timeout=15)
    assert json.loads(out) == {"id": "demo-1", "ok": True, "ticket": None}
    refused = mqtt("mosquitto_pub", port, "counter-1", "wrong-password", "-q", "1",
                   "-t", f"{SITE}/counter/1/command", "-m", '{"id": "demo-2", "action": "next"}')
    assert refused.returncode != 0


def test_demo_stops_its_children_on_sigterm(demo):
    proc, port, passwords, tmp_path = demo
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


@pytest.mark.parametrize("user, topic, payload", [
    ("kiosk-kiosk1", "counter/1/command", '{"id": "x1", "action": "pause", "reason": "hack"}'),
    ("counter-2", "counter/1/command", '{"id": "x2", "action": "pause", "reason": "hack"}'),
    ("display-display1", "counter/1/command", '{"id": "x3", "action": "pause", "reason": "hack"}'),
    ("display-display1", "kiosk/kiosk1/take", '{"id": "x4", "service": "A"}'),
])
def test_publishes_the_acl_refuses_change_nothing_in_the_database(demo, user, topic, payload):
    proc, port, passwords, tmp_path = demo
    refused = mqtt("mosquitto_pub", port, user, passwords[user], "-q", "1", "-t", f"{SITE}/{topic}", "-m", payload)
    assert "Not authorized" in refused.stderr + refused.stdout
    # a fence: an allowed command from counter 1 is answered, so anything sent before it was handled
    watcher = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-u", "counter-1",
                                "-P", passwords["counter-1"], "-V", "mqttv5", "-t", f"{SITE}/counter/1/reply",
                                "-C", "1", "-W", "10"], stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    mqtt("mosquitto_pub", port, "counter-1", passwords["counter-1"], "-q", "1",
         "-t", f"{SITE}/counter/1/command", "-m", '{"id": "fence", "action": "next"}')
    out, _ = watcher.communicate(timeout=15)
    assert json.loads(out)["id"] == "fence"
    conn = sqlite3.connect(tmp_path / "demo" / "queuebox.db")
    try:
        assert conn.execute("SELECT id FROM commands").fetchall() == [("counter/1:fence",)]
        assert conn.execute("SELECT count(*) FROM events WHERE type = 'paused'").fetchone() == (0,)
        assert conn.execute("SELECT state FROM counters WHERE id = '1'").fetchone() == ("idle",)
    finally:
        conn.close()


def test_demo_children_do_not_outlive_a_killed_demo(demo):
    proc, port, passwords, tmp_path = demo
    proc.kill()
    proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            return
        time.sleep(0.1)
    raise AssertionError("the broker still listens after the demo was killed")


def test_demo_kiosk_prints_and_the_display_draws_the_call(demo):
    proc, port, passwords, tmp_path = demo
    folder = tmp_path / "demo"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (folder / "board.png").exists():
        time.sleep(0.2)
    assert (folder / "board.png").exists(), (folder / "display.log").read_text()
    # the kiosk says "online" after subscribing: only then can a press reach it
    status = mqtt("mosquitto_sub", port, "server", passwords["server"], "-t", f"{SITE}/status/kiosk-kiosk1",
                  "-C", "1", "-W", "20", timeout=30)
    assert status.stdout.strip() == "online", (folder / "kiosk.log").read_text()
    # press button B of the simulated kiosk (the server account may publish anywhere)
    pressed = mqtt("mosquitto_pub", port, "server", passwords["server"], "-q", "1",
                   "-t", f"{SITE}/kiosk/kiosk1/simulate", "-m", "b")
    assert pressed.returncode == 0, pressed.stderr
    while time.monotonic() < deadline and not list((folder / "tickets").glob("*.png")):
        time.sleep(0.2)
    assert [p.name for p in (folder / "tickets").glob("*.png")], (folder / "kiosk.log").read_text()
    conn = sqlite3.connect(folder / "queuebox.db")
    try:
        assert conn.execute("SELECT label, kiosk FROM tickets").fetchall() == [("B001", "kiosk1")]
    finally:
        conn.close()
