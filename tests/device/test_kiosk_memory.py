"""The resident memory of a real `queuebox kiosk --simulate` process while it prints tickets
(DESIGN.md §7: a kiosk in 40 MB), measured from /proc/<pid>/smaps_rollup as
bench/kiosk_latency.py does.

The limits are on USS, the pages only this process maps: it does not depend on what else
runs on the machine, while RSS also counts the pages of shared libraries (libpython,
libcrypto, libc, FreeType: ~14 MB here) that the server and display on the same Pi share,
and PSS divides those by whoever else maps them at that moment (other tests on a loaded
machine). bench/kiosk_latency.py reports all three.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from bench.benchlib import process_memory, unit_environment
from queuebox.config import to_toml
from tests.device.test_kiosk_cli import wait_for_files
from tests.factories import FakeClock, make_config
from tests.integration.test_server_mqtt import WAIT_S, Client, Server

ROOT = Path(__file__).resolve().parents[2]
TARGET_MB = 40.0  # DESIGN.md §7
GROWTH_MB = 1.5  # allowed between the 10th and the 40th ticket: malloc keeping freed pages, not tickets kept


class SimulatedKiosk:
    """A `queuebox kiosk --simulate` child process pressed from its keyboard (stdin)."""

    def __init__(self, config_path: Path, out: Path, log: Path) -> None:
        self.out, self.log = out, log
        with open(log, "wb") as log_file:
            self.process = subprocess.Popen([sys.executable, "-m", "queuebox.cli", "kiosk", "--config",
                                             str(config_path), "--simulate", "--out", str(out)],
                                            stdin=subprocess.PIPE, stdout=log_file, stderr=subprocess.STDOUT, cwd=ROOT,
                                            env={**os.environ, **unit_environment("queuebox-kiosk.service")})
        self.printed = 0

    def print_tickets(self, count: int) -> None:
        """Press A and B in turn, each press after the previous ticket was saved."""
        for _ in range(count):
            self.process.stdin.write(b"a\n" if self.printed % 2 else b"b\n")
            self.process.stdin.flush()
            self.printed += 1
            wait_for_files(self.out, "*.bin", self.printed, self.process, self.log)

    def memory(self) -> dict[str, float]:
        return process_memory(self.process.pid)

    def stop(self) -> None:
        self.process.stdin.close()
        self.process.terminate()
        try:
            self.process.wait(WAIT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def kiosk(broker, mqtt_root, tmp_path) -> Iterator[SimulatedKiosk]:
    config = make_config(mqtt={"host": broker.host, "port": broker.port, "root": mqtt_root},
                         server={"public_url": "http://q.test"},
                         kiosk={"id": "kiosk1", "buttons": {"A": 5, "B": 6}, "cooldown_s": 0.001},
                         printer={"kind": "usb", "paper_width_mm": 80})  # --simulate prints on a Dummy
    config_path = tmp_path / "queuebox.toml"
    config_path.write_text(to_toml(config), encoding="utf-8")
    server = Server(config, tmp_path / "q.db", FakeClock())
    watcher = Client(broker, [f"{mqtt_root}/{config.site.id}/status/kiosk-kiosk1"])
    running = SimulatedKiosk(config_path, tmp_path / "tickets", tmp_path / "kiosk.log")
    try:
        watcher.wait_for(lambda t, b: b is None)  # "online" is not JSON: the kiosk is connected
        yield running
    finally:
        running.stop()
        server.stop()


def test_a_kiosk_does_not_grow_with_the_tickets_it_prints(kiosk):
    kiosk.print_tickets(10)
    before = kiosk.memory()
    kiosk.print_tickets(30)
    after = kiosk.memory()
    assert after["uss_mb"] - before["uss_mb"] <= GROWTH_MB, (before, after)


def test_a_kiosk_that_printed_tickets_stays_within_the_memory_target(kiosk):
    kiosk.print_tickets(60)  # a busy hour at one kiosk
    memory = kiosk.memory()
    assert memory["uss_mb"] <= TARGET_MB, memory


def mapped_extensions(pid: int) -> set[str]:
    """The file names of the Python C extensions process `pid` has loaded."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return {Path(line.split()[-1]).name.split(".")[0] for line in maps.splitlines() if ".cpython-" in line}


def test_a_kiosk_loads_nothing_it_does_not_use(kiosk):
    """No SQLite and no report code (the command line's parser of server commands), no YAML
    (escpos's capabilities come from their cache): ~3 MB a 40 MB kiosk cannot spare."""
    kiosk.print_tickets(2)
    loaded = mapped_extensions(kiosk.process.pid)
    assert "_imaging" in loaded  # the check sees Pillow, which it uses
    assert not loaded & {"_sqlite3", "_yaml"}, loaded
