"""A real `queuebox server` process and a plain MQTT client to talk to it, for tests.

`ServerProcess` runs `python -m queuebox.cli server --config FILE` as production does, its
output appended to a log file; it can be stopped (SIGTERM), killed (SIGKILL, a crash or a power
cut) and started again on the same database. With `clock_file` its clock is moved through
`QUEUEBOX_CLOCK_OFFSET_FILE` (see queuebox/clock.py).

`Watcher` is a paho v5 client that records every message under the site's root (retained ones
included) and waits for one that matches, with a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import paho.mqtt.client as mqtt

from queuebox.bus import close_socket
from queuebox.clock import CLOCK_OFFSET_ENV
from queuebox.config import Config, to_toml
from tests.mqtt_broker import free_port

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 30.0
WAIT_S = 10.0


def set_clock(clock_file: Path, at: datetime) -> None:
    """Make the clock of processes started with `clock_file` read `at` now (and run on from there)."""
    offset = (at - datetime.now(at.tzinfo)).total_seconds()
    tmp = clock_file.with_suffix(".tmp")
    tmp.write_text(f"{offset:.6f}\n", encoding="utf-8")
    os.replace(tmp, clock_file)  # a new file: readers never see half of it


class ServerProcess:
    """`queuebox server` on `config` (its database.path), web on a free port of 127.0.0.1."""

    def __init__(self, config: Config, folder: Path, clock_file: Path | None = None) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.config_path = folder / "server.toml"
        self.config_path.write_text(to_toml(config), encoding="utf-8")
        self.log_path = folder / "server.log"
        self.port = free_port()
        self.env = {**os.environ}
        if clock_file is not None:
            self.env[CLOCK_OFFSET_ENV] = str(clock_file)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServerProcess:
        """Start and return once /healthz answers; AssertionError with the log if it does not."""
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "queuebox.cli", "server", "--config", str(self.config_path),
                 "--listen", "127.0.0.1", "--port", str(self.port)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=self.env, cwd=ROOT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                self.health()
                return self
            except OSError:
                assert self.proc.poll() is None, f"the server exited with {self.proc.returncode}:\n{self.log()}"
                assert time.monotonic() < deadline, f"the server did not answer in {START_TIMEOUT_S} s:\n{self.log()}"
                time.sleep(0.05)  # polling a port, not test logic

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=5) as response:
            return json.loads(response.read())

    def kill(self) -> None:
        """SIGKILL: the process dies wherever it is, mid-commit included."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        """SIGTERM: a clean stop."""
        self._end(signal.SIGTERM)

    def _end(self, sig: signal.Signals) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise AssertionError(f"the server ignored {sig.name}:\n{self.log()}") from None

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]


class Watcher:
    """A test MQTT client subscribed to everything under `prefix` (``root/site``)."""

    def __init__(self, host: str, port: int, prefix: str) -> None:
        self.seen: list[tuple[str, Any]] = []
        self._changed = threading.Condition()
        subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"watch-{uuid.uuid4().hex[:8]}",
                                  protocol=mqtt.MQTTv5)
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe(f"{prefix}/#", qos=1)
        self.client.on_subscribe = lambda c, u, mid, codes, p: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.loop_start()
        assert subscribed.wait(WAIT_S), "the test client could not subscribe"

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        try:
            body = json.loads(msg.payload)
        except ValueError:
            body = msg.payload.decode(errors="replace")
        with self._changed:
            self.seen.append((msg.topic, body))
            self._changed.notify_all()

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        self.client.publish(topic, json.dumps(payload, ensure_ascii=False), qos=1)

    def wait_for(self, match: Callable[[str, Any], bool], timeout: float = WAIT_S, start: int = 0) -> Any:
        """The first message from index `start` of `seen` on that `match`es (topic, body)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            i = start
            while True:
                for topic, body in self.seen[i:]:
                    if match(topic, body):
                        return body
                i = len(self.seen)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching message in {timeout} s; last seen: {self.seen[-6:]}")
                self._changed.wait(left)

    def latest(self, topic: str) -> Any:
        """The last body seen on `topic`, None if none."""
        with self._changed:
            return next((body for t, body in reversed(self.seen) if t == topic), None)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        close_socket(self.client)
