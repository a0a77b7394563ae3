"""End to end, as in production: a real Mosquitto, `queuebox server` as its own process
(engine + MQTT bridge + web on waitress), a kiosk's take over MQTT, and a clerk in real
Chromium. The clerk presses Next on the console; the page shows the ticket, the retained
board on the broker shows the call, and the citizen's status page (the QR code's URL)
changes to "being called"."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from queuebox.clock import utc_now
from queuebox.config import Config, to_toml
from queuebox.protocol import Topics
from server import store, users
from tests.factories import make_config
from tests.integration.test_server_mqtt import Client
from tests.web.browser import free_port, screenshot

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "clerk password 1"
CURRENT_TICKET = "#ticket-label"


class ServerProcess:
    """`queuebox server --config FILE` in its own process; `url` is its web address."""

    def __init__(self, config: Config, folder: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_path = folder / "queuebox.toml"
        self.config_path.write_text(to_toml(config), encoding="utf-8")
        self.log_path = folder / "server.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "queuebox.cli", "server", "--config", str(self.config_path),
             "--listen", "127.0.0.1", "--port", str(self.port)],
            stdout=self._log, stderr=self._log, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2):
                    return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"server did not start:\n{self.log_path.read_text()}")
                time.sleep(0.1)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=15)
        self._log.close()
        return code


@pytest.fixture
def site(broker, mqtt_root, tmp_path) -> Iterator[tuple[ServerProcess, Client, Topics]]:
    config = make_config(mqtt={"host": broker.host, "port": broker.port, "root": mqtt_root},
                         database={"path": str(tmp_path / "q.db")})
    db = store.open_database(tmp_path / "q.db")
    store.migrate(db)
    users.add(db, "lan", PASSWORD, "clerk", ["1"], utc_now())
    db.close()
    topics = Topics(config.mqtt.root, config.site.id)
    watcher = Client(broker, [f"{topics.root}/{topics.site}/#"])
    server = ServerProcess(config, tmp_path)
    yield server, watcher, topics
    watcher.close()
    assert server.stop() == 0, server.log_path.read_text()


def test_a_clerk_calls_the_next_ticket_and_everyone_sees_it(site, broker, chromium):
    server, watcher, topics = site
    watcher.publish(topics.kiosk_take("kiosk1"), {"id": "e2e-1", "service": "A"})
    ticket = watcher.reply(topics.kiosk_reply("kiosk1"), "e2e-1")["ticket"]
    assert ticket["label"] == "A001"
    status_path = "/t/" + ticket["status_url"].rsplit("/t/", 1)[1]

    citizen = chromium.new_context(viewport={"width": 390, "height": 844}).new_page()
    citizen.goto(server.url + status_path)
    assert citizen.locator("[data-status]").first.get_attribute("data-status") == "waiting"

    clerk = chromium.new_context(viewport={"width": 1280, "height": 800}).new_page()
    clerk.set_default_timeout(10_000)
    clerk.goto(f"{server.url}/login")
    clerk.fill("#login", "lan")
    clerk.fill("#password", PASSWORD)
    clerk.click("button[type=submit]")
    clerk.wait_for_url(f"{server.url}/counter/1")
    clerk.click("button[data-action=next]")
    clerk.locator(CURRENT_TICKET).filter(has_text="A001").wait_for()
    screenshot(clerk, "e2e-counter-called")

    board = watcher.wait_for(lambda t, b: t == topics.board() and b.get("calls")
                             and b["calls"][0]["ticket"] == "A001")
    assert board["calls"][0]["counter"] == "1"
    retained = Client(broker, [topics.board()])  # a display connecting now
    try:
        fresh = retained.wait_for(lambda t, b: t == topics.board())
        assert fresh["calls"][0]["ticket"] == "A001" and fresh["calls"][0]["counter_name"] == "Quầy 1"
    finally:
        retained.close()

    citizen.locator("[data-status=called]").wait_for(timeout=20_000)  # the page refreshes itself
    headline = citizen.locator("#status-headline").inner_text()
    assert "A001" in headline and "Quầy 1" in headline
    screenshot(citizen, "e2e-status-called")
