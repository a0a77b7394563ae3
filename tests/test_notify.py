"""sd_notify (queuebox/notify.py) against a real AF_UNIX datagram socket, and the processes that use it."""

from __future__ import annotations

import os
import queue
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from queuebox import notify
from queuebox.config import to_toml
from queuebox.protocol import Topics
from server.engine import Engine
from server.main import WatchedBridge, health_check
from server.mqtt import Committed
from tests.factories import FakeClock, make_config

ROOT = Path(__file__).resolve().parent.parent
WAIT_S = 20


class Receiver:
    """A bound AF_UNIX datagram socket standing in for systemd; `env` points NOTIFY_SOCKET at it."""

    def __init__(self, sock: socket.socket, address: str) -> None:
        self.sock = sock
        self.env = {"NOTIFY_SOCKET": address}

    def next(self, timeout: float = 2.0) -> str:
        self.sock.settimeout(timeout)
        return self.sock.recv(4096).decode("utf-8")

    def until(self, wanted: str, timeout: float = WAIT_S) -> list[str]:
        """Every datagram up to and including the first that has the line `wanted`."""
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no {wanted!r} within {timeout} s; got {seen}"
            try:
                seen.append(self.next(left))
            except TimeoutError:
                continue
            if wanted in seen[-1].split("\n"):
                return seen


@pytest.fixture
def receiver(tmp_path) -> Iterator[Receiver]:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        yield Receiver(sock, str(path))


@pytest.fixture
def abstract_receiver() -> Iterator[Receiver]:
    name = f"queuebox-test-{secrets.token_hex(8)}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        yield Receiver(sock, "@" + name)


# --- the protocol ----------------------------------------------------------------------

def test_without_notify_socket_nothing_is_sent():
    assert notify.notify("READY=1", env={}) is False
    assert notify.status("up", env={}) is False
    watchdog = notify.ready(env={})
    assert watchdog.enabled is False and watchdog.ping() is False


def test_lines_arrive_as_one_datagram_on_a_path_socket(receiver):
    assert notify.notify("READY=1", "STATUS=serving", env=receiver.env) is True
    assert receiver.next() == "READY=1\nSTATUS=serving"


def test_an_abstract_socket_is_named_with_an_at_sign(abstract_receiver):
    assert notify.ready("up", env=abstract_receiver.env).enabled is False
    assert abstract_receiver.next() == "READY=1\nSTATUS=up"


def test_status_is_one_line(receiver):
    notify.status("web on\nhttp://x:8080/\n", env=receiver.env)
    assert receiver.next() == "STATUS=web on http://x:8080/"


def test_stopping(receiver):
    notify.stopping(env=receiver.env)
    assert receiver.next() == "STOPPING=1"


@pytest.mark.parametrize("address", ["/nonexistent/notify.sock", "relative.sock", "@queuebox-nobody-listens"])
def test_a_socket_nobody_listens_on_is_not_an_error(address):
    assert notify.notify("READY=1", env={"NOTIFY_SOCKET": address}) is False


@pytest.mark.parametrize("env, expected", [
    ({}, None),
    ({"WATCHDOG_USEC": "30000000"}, 30.0),
    ({"WATCHDOG_USEC": "500000"}, 0.5),
    ({"WATCHDOG_USEC": "0"}, None),
    ({"WATCHDOG_USEC": "soon"}, None),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 30.0),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
])
def test_watchdog_interval_comes_from_watchdog_usec(env, expected):
    assert notify.watchdog_interval(env) == expected


def test_a_loop_pings_at_most_every_quarter_interval(receiver):
    now = [100.0]
    watchdog = notify.Watchdog(env={**receiver.env, "WATCHDOG_USEC": "8000000"}, clock=lambda: now[0])
    assert watchdog.enabled and watchdog.every_s == 2.0
    sent = []
    for _ in range(10):  # 5 s of a loop turning every half second
        sent.append(watchdog.ping())
        now[0] += 0.5
    assert sent == [True, False, False, False, True, False, False, False, True, False]
    assert [receiver.next() for _ in range(3)] == ["WATCHDOG=1"] * 3


def test_a_loop_that_knows_it_is_stuck_does_not_ping(receiver):
    watchdog = notify.Watchdog(env={**receiver.env, "WATCHDOG_USEC": "8000000"})
    assert watchdog.ping(ok=False) is False
    assert watchdog.ping() is True


def test_the_watchdog_thread_pings_only_while_healthy(receiver):
    healthy = threading.Event()
    healthy.set()
    watchdog = notify.Watchdog(0.2, healthy=healthy.is_set, env=receiver.env).start()
    try:
        assert receiver.next() == "WATCHDOG=1"
        healthy.clear()
        time.sleep(0.2)  # let a ping already on its way arrive
        while True:
            try:
                receiver.next(timeout=0.01)
            except TimeoutError:
                break
        with pytest.raises(TimeoutError):
            receiver.next(timeout=0.5)  # ten periods of 0.05 s without a ping
        healthy.set()
        assert receiver.next() == "WATCHDOG=1"
    finally:
        watchdog.stop()


# --- the server's health check ---------------------------------------------------------

class BlockingBus:
    """The part of `queuebox.bus.Bus` the bridge uses; `publish` waits while `blocked` is set."""

    def __init__(self) -> None:
        self.topics = Topics("t", "test")
        self.inbox: queue.Queue = queue.Queue()
        self.blocked = threading.Event()
        self.released = threading.Event()
        self.stuck = threading.Event()  # a publish is waiting

    def publish(self, topic: str, message: object, *, retain: bool = False, qos: int = 1,
                expiry_s: float | None = None) -> None:
        if self.blocked.is_set():
            self.stuck.set()
            self.released.wait(WAIT_S)


def test_the_server_is_healthy_while_its_bridge_loop_goes_round(tmp_path):
    engine = Engine(make_config(), tmp_path / "q.db", clock=FakeClock())
    bus = BlockingBus()
    bridge = WatchedBridge(engine, bus)  # type: ignore[arg-type]
    stop = threading.Event()
    loop = threading.Thread(target=bridge.serve, args=(stop,), daemon=True)
    loop.start()
    healthy = health_check(loop, bus.inbox, engine, timeout_s=0.5)
    try:
        assert healthy() is True
        bus.blocked.set()
        bus.inbox.put(Committed(()))  # the loop now hangs publishing the snapshots
        assert bus.stuck.wait(WAIT_S)
        assert healthy() is False
        bus.released.set()
        assert healthy() is True
        stop.set()
        loop.join(WAIT_S)
        assert healthy() is False  # the loop has ended
    finally:
        stop.set()
        bus.released.set()
        engine.close()


# --- the real processes ------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args: list[str], receiver: Receiver, tmp_path: Path, **extra_env: str) -> subprocess.Popen:
    env = {**os.environ, **receiver.env, "WATCHDOG_USEC": "2000000", "SDL_AUDIODRIVER": "dummy", **extra_env}
    log = open(tmp_path / "process.log", "wb")
    try:
        return subprocess.Popen([sys.executable, "-m", "queuebox.cli", *args], cwd=ROOT, env=env,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    finally:
        log.close()


def check_ready_then_watchdog_then_stopping(proc: subprocess.Popen, receiver: Receiver, tmp_path: Path) -> None:
    try:
        receiver.until("READY=1")
        started = time.monotonic()
        receiver.until("WATCHDOG=1", timeout=5)
        receiver.until("WATCHDOG=1", timeout=5)  # and again: pings go on, every 0.5 s here
        assert time.monotonic() - started < 5
        assert proc.poll() is None, (tmp_path / "process.log").read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=WAIT_S)
    receiver.until("STOPPING=1", timeout=1)
    assert code == 0, (tmp_path / "process.log").read_text()


def test_queuebox_server_says_ready_pings_the_watchdog_and_stops_on_sigterm(receiver, tmp_path):
    config = make_config(mqtt={"host": "127.0.0.1", "port": free_port()})  # no broker: the server runs anyway
    path = tmp_path / "server.toml"
    path.write_text(to_toml(config), encoding="utf-8")
    proc = start(["server", "--config", str(path), "--database", str(tmp_path / "q.db"), "--listen", "127.0.0.1",
                  "--port", str(free_port())], receiver, tmp_path)
    check_ready_then_watchdog_then_stopping(proc, receiver, tmp_path)


def test_queuebox_kiosk_says_ready_and_pings_the_watchdog(receiver, tmp_path):
    config = make_config(mqtt={"host": "127.0.0.1", "port": free_port()},
                         kiosk={"id": "kiosk1", "buttons": {"A": 5}, "priority_button": 0})
    path = tmp_path / "kiosk.toml"
    path.write_text(to_toml(config), encoding="utf-8")
    proc = start(["kiosk", "--config", str(path), "--simulate", "--out", str(tmp_path / "tickets")], receiver,
                 tmp_path)
    check_ready_then_watchdog_then_stopping(proc, receiver, tmp_path)


def test_queuebox_display_says_ready_and_pings_the_watchdog(receiver, tmp_path):
    config = make_config(mqtt={"host": "127.0.0.1", "port": free_port()})
    path = tmp_path / "display.toml"
    path.write_text(to_toml(config), encoding="utf-8")
    proc = start(["display", "--config", str(path), "--screenshot", str(tmp_path / "board.png"), "--follow",
                  "--size", "320x180"], receiver, tmp_path)
    check_ready_then_watchdog_then_stopping(proc, receiver, tmp_path)
