"""What the MQTT benchmarks share: a private Mosquitto and child processes logging to files,
the bench config made from the example, a paho v5 probe that timestamps what it receives, the
bare publish → receive floor and the latency summaries.

The broker is anonymous on 127.0.0.1 at a free port with the production queue settings; every
process's output goes to a log file whose tail a `BenchError` shows when something fails.
bench/mqtt_latency.py, bench/kiosk_latency.py, bench/display.py and the others build on it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import IO, Any, Callable

import paho.mqtt.client as mqtt

from benchlib import emit, percentile  # noqa: E402 (bench/ is on the path)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_CONFIG = ROOT / "config" / "queuebox.example.toml"
MQTT_ROOT = "bench"
START_TIMEOUT_S = 15.0  # broker listening, server online
WAIT_S = 5.0  # one reply or board message
STOP_TIMEOUT_S = 5.0
STALL_MS = 40  # Linux's shortest delayed ACK: Nagle's algorithm waiting for it shows as >= 40 ms


class BenchError(RuntimeError):
    """The benchmark could not run as set up; the message says why (with log tails)."""


# --- set-up ---------------------------------------------------------------------------------

def run_with_broker(prefix: str, args: argparse.Namespace,
                    run: Callable[[argparse.Namespace, Path, str], dict[str, Any]]) -> int:
    """Find mosquitto, call run(args, temp folder, mosquitto path), print its JSON; exit status."""
    mosquitto = find_mosquitto()
    if mosquitto is None:
        print("mosquitto is not installed (apt install mosquitto)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix=prefix, dir=args.dir) as tmp:
        try:
            result = run(args, Path(tmp), mosquitto)
        except BenchError as exc:
            print(f"benchmark failed: {exc}", file=sys.stderr)
            return 1
    return emit(result, args.json_out)


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def find_mosquitto() -> str | None:
    """The broker binary: PATH first, then the sbin folders Debian installs it in."""
    return shutil.which("mosquitto", path=os.pathsep.join(filter(None, (os.environ.get("PATH"),
                                                                            "/usr/sbin", "/usr/local/sbin"))))


def bench_config_text(example: str, mqtt_port: int) -> str:
    """The example config as text, with MQTT on the private broker and every service open
    around the clock, with no daily limit and numbers that never wrap here."""
    def section(name: str) -> re.Pattern[str]:
        return re.compile(rf"(?ms)^\[{re.escape(name)}\]\n.*?(?=^\[)")

    def mqtt_section(m: re.Match[str]) -> str:
        text = re.sub(r'(?m)^host = .*$', 'host = "127.0.0.1"', m.group(0), count=1)
        text = re.sub(r'(?m)^port = 1883$', f"port = {mqtt_port}", text, count=1)
        return re.sub(r'(?m)^root = "queuebox"$', f'root = "{MQTT_ROOT}"', text, count=1)

    def service_table(m: re.Match[str]) -> str:
        kept = [line for line in m.group(0).splitlines(keepends=True)
                if not re.match(r"(open_days|hours|daily_limit|number_end) *=", line)]
        at = next(i for i, line in enumerate(kept) if line.startswith("code = ")) + 1
        return "".join(kept[:at] + ['open_days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]\n',
                                    "hours = []\n", "daily_limit = 0\n", "number_end = 999999\n"] + kept[at:])

    text, count = section("mqtt").subn(mqtt_section, example)
    if count != 1:
        raise BenchError("the example config has no [mqtt] table followed by another table")
    text = re.sub(r"(?ms)^\[\[services\]\]\n.*?(?=^\[)", service_table, text)
    return text


class Process:
    """A child process whose stdout and stderr go to a log file (never an unread pipe)."""

    def __init__(self, name: str, argv: list[str], log_path: Path, cwd: Path) -> None:
        self.name = name
        self.log_path = log_path
        self._log: IO[bytes] = open(log_path, "ab")
        self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                                      cwd=cwd)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            raise BenchError(f"{self.name} exited with status {self.popen.returncode}; log:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT_S."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=STOP_TIMEOUT_S)
        self._log.close()


def start_broker(folder: Path, executable: str, nodelay: bool) -> tuple[Process, int]:
    """Mosquitto on 127.0.0.1 at a free port, anonymous, with the production queue settings
    (and `set_tcp_nodelay true` if `nodelay`; Mosquitto's default is false)."""
    folder.mkdir()
    port = free_port()
    lines = [f"listener {port} 127.0.0.1", "allow_anonymous true",
             "persistence true", f"persistence_location {folder.resolve()}/",
             "max_queued_messages 10000", "max_inflight_messages 20",  # as server/credentials.py writes them
             "log_dest stdout", "log_type error", "log_type warning", "log_type notice", "log_type information",
             "connection_messages true"]
    if nodelay:
        lines.append("set_tcp_nodelay true")
    if os.geteuid() == 0:
        lines.append("user root")  # as root it would switch to `mosquitto`, who may not enter this folder
    conf = folder / "mosquitto.conf"
    conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
    broker = Process("mosquitto", [executable, "-c", str(conf)], folder / "mosquitto.log", folder)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        broker.check_alive()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return broker, port
        except OSError:
            pass
        if time.monotonic() > deadline:
            broker.stop()
            raise BenchError(f"mosquitto did not listen on port {port} within {START_TIMEOUT_S:g} s; "
                             f"log:\n{broker.log_tail()}")
        time.sleep(0.01)


def rss_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak) of a process, in MiB, from /proc/<pid>/status."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = round(int(value.split()[0]) / 1024, 1)
    return {"rss_mb": fields.get("VmRSS", 0.0), "peak_rss_mb": fields.get("VmHWM", 0.0)}


def mosquitto_version(executable: str) -> str:
    try:
        out = subprocess.run([executable, "-h"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.splitlines()[0].removeprefix("mosquitto version ").strip() if out else ""


# --- the measuring client ---------------------------------------------------------------------

class Probe:
    """A paho v5 client that timestamps every message it receives (on paho's thread)."""

    def __init__(self, port: int, subscriptions: list[str], nodelay: bool) -> None:
        self.inbox: queue.Queue[tuple[float, str, bytes]] = queue.Queue()
        self._ready = threading.Event()
        self._failed: str | None = None
        self._nodelay = nodelay
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{uuid.uuid4().hex[:8]}",
                             protocol=mqtt.MQTTv5)
        client.on_connect = self._on_connect
        client.on_subscribe = lambda c, u, mid, codes, p: self._ready.set()
        client.on_message = lambda c, u, msg: self.inbox.put((time.perf_counter(), msg.topic, msg.payload))
        self._subscriptions = subscriptions
        self._client = client
        client.connect("127.0.0.1", port)
        client.loop_start()
        if not self._ready.wait(START_TIMEOUT_S) or self._failed:
            self.close()
            raise BenchError(f"the bench client could not connect and subscribe: {self._failed or 'timed out'}")

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            self._failed = str(reason)
            self._ready.set()
            return
        if self._nodelay:
            client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.subscribe([(t, mqtt.SubscribeOptions(qos=1)) for t in self._subscriptions])

    def publish(self, topic: str, message: dict[str, Any]) -> float:
        """Publish at QoS 1 without waiting for the PUBACK; returns the perf_counter time just before."""
        payload = json.dumps(message, separators=(",", ":")).encode()
        t0 = time.perf_counter()
        self._client.publish(topic, payload, qos=1)
        return t0

    def wait(self, match: Callable[[float, str, bytes], bool], what: str, deadline: float) -> None:
        """Read messages until `match(time, topic, payload)` is true (the others are dropped)."""
        end = min(time.monotonic() + WAIT_S, deadline)
        while True:
            remaining = end - time.monotonic()
            if remaining <= 0:
                raise BenchError(f"no {what} within {WAIT_S:g} s (or the run's time budget ran out)")
            try:
                at, topic, payload = self.inbox.get(timeout=remaining)
            except queue.Empty:
                continue
            if match(at, topic, payload):
                return

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
        sock = self._client.socket()
        if sock is not None:
            sock.close()


def json_or_none(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except ValueError:
        return None


# --- statistics ---------------------------------------------------------------------------------


def summary(latencies: list[float], elapsed: float | None = None) -> dict[str, Any]:
    """p50/p99/max in ms, how many took 40 ms or more (a Nagle/delayed-ACK stall shows as a
    cluster there: see STALL_MS), and commands per second (over `elapsed`, else from the summed
    latencies)."""
    ordered = sorted(latencies)
    seconds = elapsed if elapsed is not None else sum(ordered) / 1000
    return {"commands": len(ordered), "per_s": round(len(ordered) / seconds, 1), "min_ms": round(ordered[0], 3),
            "p50_ms": round(percentile(ordered, 50), 3), "p90_ms": round(percentile(ordered, 90), 3),
            "p99_ms": round(percentile(ordered, 99), 3), "max_ms": round(ordered[-1], 3),
            "mean_ms": round(sum(ordered) / len(ordered), 3), "at_least_40ms": sum(v >= STALL_MS for v in ordered)}


# --- the floor ------------------------------------------------------------------------------------

def bench_floor(probe: Probe, topic: str, count: int, deadline: float) -> dict[str, Any]:
    """Bare QoS 1 publish → receive on `topic`, which the probe subscribes to; stops early
    (`complete` false) after a fifth of the time left, so the commands keep the rest."""
    latencies: list[float] = []
    start = time.perf_counter()
    end = time.monotonic() + (deadline - time.monotonic()) / 5
    for i in range(count):
        if time.monotonic() > end:
            break
        wanted = f"floor-{i}"
        t0 = probe.publish(topic, {"id": wanted, "service": "A", "priority": False})
        got: list[float] = []

        def match(at: float, t: str, payload: bytes) -> bool:
            if t == topic and (json_or_none(payload) or {}).get("id") == wanted:
                got.append(at)
                return True
            return False
        probe.wait(match, f"floor message {wanted}", deadline)
        latencies.append((got[0] - t0) * 1000)
    return {**summary(latencies, time.perf_counter() - start), "complete": len(latencies) == count}


def wait_online(probe: Probe, status_topic: str, server: Process, deadline: float) -> float:
    """Seconds until the process's retained status is "online"."""
    start = time.monotonic()
    end = min(start + START_TIMEOUT_S, deadline)
    while time.monotonic() < end:
        server.check_alive()
        try:
            _, topic, payload = probe.inbox.get(timeout=0.1)
        except queue.Empty:
            continue
        if topic == status_topic and payload == b"online":
            return time.monotonic() - start
    raise BenchError(f"{server.name} was not online on {status_topic} within {START_TIMEOUT_S:g} s; "
                     f"log:\n{server.log_tail()}")


def drain(probe: Probe, quiet_s: float = 0.3, deadline: float = math.inf) -> int:
    """Drop what arrived until nothing comes for `quiet_s` (e.g. the server's start-up snapshots)."""
    dropped = 0
    while time.monotonic() < deadline:
        try:
            probe.inbox.get(timeout=quiet_s)
            dropped += 1
        except queue.Empty:
            break
    return dropped
