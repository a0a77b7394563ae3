"""The load test's site: its config, broker, server and device processes, and /proc readings.

One folder holds everything (`Site.folder`): the generated config (`queuebox.toml`, from
config/queuebox.example.toml with N counters, kiosks and displays), the MQTT accounts and ACL
made by `server.credentials.write_credentials`, the broker conf of `server.demo.broker_conf`,
the database, one config per real device process, the kiosks' ticket files, the displays'
PNGs and every process's log.
"""

from __future__ import annotations

import dataclasses
import grp
import os
import sys
import time
from pathlib import Path
from typing import Any

from mqtt_rig import BenchError, Process  # noqa: E402 (bench/ is on the path)
from queuebox.config import WEEKDAYS, Config, CounterConfig, load_config
from server.credentials import write_credentials
from server.demo import as_account, broker_conf, demo_config, write_config
from server.processes import free_port

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_CONFIG = ROOT / "config" / "queuebox.example.toml"
START_TIMEOUT_S = 30.0
DISPLAY_SIZE = "640x360"  # real displays write a PNG per frame (--follow); a small one keeps that cheap here
CLK_TCK = os.sysconf("SC_CLK_TCK")


def site_config(base: Config, counters: int, kiosks: int, displays: int) -> Config:
    """`base` with `counters` counters (the base's service mixes in turn), kiosks k1…kN and displays
    d1…dN, every service open around the clock with no daily limit and numbers that never wrap here."""
    services = tuple(dataclasses.replace(s, hours=(), open_days=WEEKDAYS, daily_limit=0, number_end=999_999,
                                         override="hours") for s in base.services)
    mixes = [c.services for c in base.counters]
    made = tuple(CounterConfig(id=str(i), name=f"Quầy {i}", services=dict(mixes[(i - 1) % len(mixes)]))
                 for i in range(1, counters + 1))
    return dataclasses.replace(
        base, services=services, counters=made,
        devices=dataclasses.replace(base.devices, kiosks=tuple(f"k{i}" for i in range(1, kiosks + 1)),
                                    displays=tuple(f"d{i}" for i in range(1, displays + 1))),
        mqtt=dataclasses.replace(base.mqtt, root="bench"))


class Site:
    """A broker, the server and the real device processes, started in `folder`; `stop()` ends them."""

    def __init__(self, folder: Path, mosquitto: str, counters: int, kiosks: int, displays: int,
                 base: Path = EXAMPLE_CONFIG) -> None:
        self.folder = folder.resolve()
        self.mosquitto = mosquitto
        self.broker_port = free_port()
        self.web_port = free_port()
        config = site_config(load_config(base), counters, kiosks, displays)
        probe = dataclasses.replace(config, mqtt=dataclasses.replace(config.mqtt, port=self.broker_port))
        # the broker runs as this user, so this user's group may read passwd and acl
        write_credentials(probe, self.folder / "mqtt", group=grp.getgrgid(os.getegid()).gr_name,
                          tools=["bench-observer"])  # the observer: client ids are bound to accounts
        self.config = demo_config(config, self.folder, self.broker_port, self.web_port)
        self.processes: dict[str, Process] = {}
        self.kiosk_out: dict[str, Path] = {}
        self.display_png: dict[str, Path] = {}

    def account(self, name: str) -> Config:
        """The site config with the MQTT user name and password of account `name`."""
        return as_account(self.config, self.folder, name)

    def start_broker(self) -> Process:
        conf = self.folder / "mosquitto.conf"
        conf.write_text(broker_conf(self.folder, self.broker_port), encoding="utf-8")
        broker = self._start("mosquitto", [self.mosquitto, "-c", str(conf)])
        self._wait_port(broker, self.broker_port)
        return broker

    def start_server(self) -> Process:
        path = write_config(self.config, self.folder / "queuebox.toml")
        server = self._start("server", [sys.executable, "-m", "queuebox.cli", "server", "--config", str(path)])
        self._wait_port(server, self.web_port)
        return server

    def start_kiosk(self, kiosk: str) -> Process:
        """A real `queuebox kiosk --simulate`, pressed through its simulation topic."""
        config = self.account(f"kiosk-{kiosk}")
        config = dataclasses.replace(config, kiosk=dataclasses.replace(config.kiosk, id=kiosk))
        path = write_config(config, self.folder / f"kiosk-{kiosk}.toml")
        out = self.folder / f"tickets-{kiosk}"
        self.kiosk_out[kiosk] = out
        return self._start(f"kiosk-{kiosk}", [sys.executable, "-m", "queuebox.cli", "kiosk", "--config", str(path),
                                              "--simulate", "--out", str(out)])

    def start_display(self, display: str) -> Process:
        """A real `queuebox display --screenshot PNG --follow` (SDL dummy driver), without voice."""
        config = self.account(f"display-{display}")
        config = dataclasses.replace(config, display=dataclasses.replace(config.display, id=display, announce=False,
                                                                         fullscreen=False))
        path = write_config(config, self.folder / f"display-{display}.toml")
        png = self.folder / f"board-{display}.png"
        self.display_png[display] = png
        return self._start(f"display-{display}", [sys.executable, "-m", "queuebox.cli", "display", "--config",
                                                  str(path), "--screenshot", str(png), "--follow",
                                                  "--size", DISPLAY_SIZE])

    def _start(self, name: str, argv: list[str]) -> Process:
        env_fixed = {"SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}
        os.environ.update({k: v for k, v in env_fixed.items() if k not in os.environ})
        process = Process(name, argv, self.folder / f"{name}.log", self.folder)
        self.processes[name] = process
        return process

    def _wait_port(self, process: Process, port: int) -> None:
        import socket
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            process.check_alive()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise BenchError(f"{process.name} does not listen on port {port} after {START_TIMEOUT_S:g} s; "
                                     f"log:\n{process.log_tail()}") from None
                time.sleep(0.05)

    def check_alive(self) -> None:
        for process in self.processes.values():
            process.check_alive()

    def stop(self) -> None:
        """Devices first, then the server, the broker last."""
        order = [n for n in self.processes if n not in ("server", "mosquitto")] + ["server", "mosquitto"]
        for name in order:
            if name in self.processes:
                self.processes[name].stop()


# --- /proc readings ------------------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by `pid` (its threads included), from /proc/<pid>/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2:].split()  # the command name may hold spaces
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of `pid` in KiB, from /proc/<pid>/status."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(value.split()[0])
    return values.get("VmRSS", 0), values.get("VmHWM", 0)


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    total = sum(fields[:8])
    return (total - idle) / CLK_TCK, total / CLK_TCK


def load_average() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


class Meter:
    """CPU and memory of named processes over a window: `sample()` now and then, `report()` at the end."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.started = time.monotonic()
        self.cpu0 = {name: self._cpu(pid) for name, pid in pids.items()}
        self.machine0 = machine_busy()
        self.load0 = load_average()
        self.rss_peak: dict[str, int] = dict.fromkeys(pids, 0)
        self.rss_last: dict[str, int] = dict.fromkeys(pids, 0)
        self.sample()

    @staticmethod
    def _cpu(pid: int) -> float:
        try:
            return cpu_seconds(pid)
        except (OSError, ValueError, IndexError):
            return 0.0

    def sample(self) -> None:
        for name, pid in self.pids.items():
            try:
                rss, _ = rss_kib(pid)
            except OSError:
                continue
            self.rss_last[name] = rss
            self.rss_peak[name] = max(self.rss_peak[name], rss)

    def report(self) -> dict[str, Any]:
        """Per process: CPU seconds and % of one core over the window, RSS at the end and its peak (MiB);
        the machine's busy share of all its cores and load average (the other work sharing it)."""
        self.sample()
        wall = time.monotonic() - self.started
        procs = {name: {"cpu_s": round(self._cpu(pid) - self.cpu0[name], 2),
                        "cpu_pct": round(100 * (self._cpu(pid) - self.cpu0[name]) / wall, 1),
                        "rss_mb": round(self.rss_last[name] / 1024, 1),
                        "peak_rss_mb": round(self.rss_peak[name] / 1024, 1)}
                 for name, pid in self.pids.items()}
        busy1, total1 = machine_busy()
        busy0, total0 = self.machine0
        return {"processes": procs, "window_s": round(wall, 1),
                "machine_busy_pct": round(100 * (busy1 - busy0) / max(total1 - total0, 1e-9), 1),
                "load_average_start": self.load0, "load_average_end": load_average()}
