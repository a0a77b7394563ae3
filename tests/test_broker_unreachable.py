"""`queuebox server` when the broker cannot be reached (queuebox/bus.py): within about a second
it logs at INFO why — the name does not resolve, the connection is refused, no answer — once
per outage, and again when it is connected; and it tries again at least every second, but
no more than 1 / RECONNECT_S times a second — and a broker that refuses its password ever
more slowly."""

from __future__ import annotations

import dataclasses
import re
import socket
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from queuebox.bus import REPORT_AFTER_S, RECONNECT_S
from server.credentials import write_credentials
from tests.factories import make_config
from tests.helpers.server_process import ServerProcess
from tests.mqtt_broker import Broker, free_port

CANNOT = "MQTT cannot reach the broker"
# after the web answers: the report's delay, the diagnosis (at most two time-outs), a loaded machine
REPORT_WITHIN_S = REPORT_AFTER_S + 1.5 + 1.5


def server_on(tmp_path: Path, host: str, port: int) -> ServerProcess:
    config = make_config(mqtt={"host": host, "port": port}, database={"path": str(tmp_path / "q.db")})
    return ServerProcess(config, tmp_path / "server")


def wait_for_line(server: ServerProcess, text: str, timeout_s: float) -> str:
    """The first log line of `server` containing `text`, polled until `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        line = next((x for x in server.log_path.read_text(encoding="utf-8").splitlines() if text in x), None)
        if line is not None:
            return line
        assert time.monotonic() < deadline, f"no {text!r} in {timeout_s:g} s:\n{server.log()}"
        time.sleep(0.05)  # polling a file, with a deadline


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts no connection and answers nothing: a listener whose queue is full,
    so the kernel drops further SYNs as a host that is down or a firewall would."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port), timeout=1)
    try:
        yield port
    finally:
        filler.close()
        listener.close()


@pytest.mark.parametrize("case,expected", [
    ("name", r"name 'queuebox-broker\.invalid' (does not resolve|has not answered)"),
    ("refused", r"connection refused by 127\.0\.0\.1 port \d+"),
    ("silent", r"no answer from 127\.0\.0\.1 port \d+ within"),
])
def test_the_server_says_at_once_why_it_cannot_reach_the_broker_once(tmp_path, silent_port, case, expected):
    host, port = {"name": ("queuebox-broker.invalid", 1883), "refused": ("127.0.0.1", free_port()),
                  "silent": ("127.0.0.1", silent_port)}[case]
    server = server_on(tmp_path, host, port).start()
    try:
        line = wait_for_line(server, CANNOT, REPORT_WITHIN_S)
        assert line.startswith("INFO queuebox.bus: ") and re.search(expected, line), line
        time.sleep(2.0)  # some more failed attempts: none may log again
        assert server.log().count(CANNOT) == 1, server.log()
    finally:
        server.stop()


def test_the_server_says_when_it_is_connected_again(tmp_path, mosquitto_path):
    broker = Broker(tmp_path / "broker", executable=mosquitto_path)
    broker.port = free_port()  # nothing listens there yet
    server = server_on(tmp_path, broker.host, broker.port).start()
    try:
        wait_for_line(server, CANNOT, REPORT_WITHIN_S)
        with broker:
            line = wait_for_line(server, "MQTT connected to", 5.0)
            assert line.startswith("INFO queuebox.bus: ") and re.search(r"as server after \d+\.\d s$", line), line
    finally:
        server.stop()


class CountingListener:
    """A TCP port that accepts each connection, counts it and closes it: a broker that is there
    but never lets a client in."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[float] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(time.monotonic())
            conn.close()

    def close(self) -> None:
        self.sock.close()
        self._thread.join(5)


def test_a_broker_that_is_away_is_tried_every_second_and_no_more_than_its_bound(tmp_path):
    listener = CountingListener()
    server = server_on(tmp_path, "127.0.0.1", listener.port).start()
    try:
        start = len(listener.accepted)
        window_s = 4.0
        time.sleep(window_s)  # the window the attempts are counted in
        attempts = listener.accepted[start:]
    finally:
        server.stop()
        listener.close()
    gaps = [b - a for a, b in zip(attempts, attempts[1:])]
    assert len(attempts) <= window_s / RECONNECT_S + 1, attempts
    assert gaps and max(gaps) <= 1.0 + 0.5, gaps  # at least every second (a loaded machine: +0.5 s)


def test_a_broker_that_refuses_the_password_is_tried_ever_more_slowly(tmp_path, mosquitto_path):
    config = make_config(database={"path": str(tmp_path / "q.db")})
    write_credentials(config, tmp_path / "mqtt", group="no-such-group-for-tests")
    with Broker(tmp_path / "broker", password_file=tmp_path / "mqtt" / "passwd", executable=mosquitto_path) as broker:
        wrong = dataclasses.replace(config.mqtt, host=broker.host, port=broker.port, username="server",
                                    password="not-its-password")
        server = ServerProcess(dataclasses.replace(config, mqtt=wrong), tmp_path / "server").start()
        try:
            wait_for_line(server, "refused server", REPORT_WITHIN_S)
            time.sleep(5.0)  # the window the attempts are counted in
        finally:
            server.stop()
    attempts = broker.log_text().count("disconnected, not authorised")  # stopped: its log is flushed
    # refused at once, then after 1, 2 and 4 s: at most 4 in about 6 s (not 24, one every 0.25 s)
    assert 2 <= attempts <= 5, broker.log_text()[-3000:]
    assert server.log().count("refused server") == 1, server.log()
