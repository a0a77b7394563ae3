"""What bench/engine.py --with-uplink runs beside the engine: `queuebox` child processes, the hub
stack kept apart from the centre (its own CPU, lowest priority, files off the centre's disk), and
the hub's acknowledgements of one centre as heard on the hub broker."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

# The hub stack would run on the province's server, not the centre's Pi: here it keeps to its own CPU at
# the lowest priority, and its files stay off the centre's disk (their writes would hold up the engine's fsync).
ELSEWHERE_NICE = 19
ELSEWHERE_DIR = "/dev/shm" if Path("/dev/shm").is_dir() else None
_CPUS = sorted(os.sched_getaffinity(0))
# With two CPUs or more, the last one is the province's and the others the centre's (engine and uplink).
ELSEWHERE_CPUS, CENTRE_CPUS = ({_CPUS[-1]}, set(_CPUS[:-1])) if len(_CPUS) > 1 else (set(_CPUS), set(_CPUS))


class HubAcks:
    """The hub's acknowledgements of one centre, heard on the hub broker as the uplink hears them."""

    def __init__(self, host: str, port: int, ack_topic: str, setup_topic: str) -> None:
        import paho.mqtt.client as mqtt

        self.acked = 0
        self.setup_seen = threading.Event()
        self._changed = threading.Condition()
        self._topics = (ack_topic, setup_topic)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-acks", protocol=mqtt.MQTTv5)
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.subscribe([(ack_topic, 1), (setup_topic, 1)])
        self.client.loop_start()

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        from queuebox.hub_protocol import decode_ack

        if msg.topic == self._topics[1]:
            self.setup_seen.set()
            return
        with self._changed:
            self.acked = max(self.acked, decode_ack(msg.payload).seq)
            self._changed.notify_all()

    def wait_acked(self, seq: int, timeout_s: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self.acked >= seq, timeout_s)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def run_queuebox(command: str, config_path: Path, log: Path, nice: int = 0) -> subprocess.Popen[bytes]:
    """`queuebox <command> --config FILE` as a child process at priority `nice`, its output in `log`."""
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "queuebox.cli", command, "--config", str(config_path)],
                                stdout=out, stderr=subprocess.STDOUT, preexec_fn=(lambda: os.nice(nice)) if nice else None)


def move_elsewhere(pid: int) -> None:
    """Put process `pid` and its children (PostgreSQL's postmaster and its workers) on ELSEWHERE_CPUS at
    ELSEWHERE_NICE; children it forks later inherit both."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(stat.parent.name))
        except (OSError, ValueError):
            continue  # a process that ended meanwhile
    for each in (pid, *children):
        try:
            os.setpriority(os.PRIO_PROCESS, each, ELSEWHERE_NICE)
            os.sched_setaffinity(each, ELSEWHERE_CPUS)
        except ProcessLookupError:
            continue


def end_process(process: subprocess.Popen[bytes] | None) -> None:
    """Stop a child process politely (SIGTERM), then for good after 10 s."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
