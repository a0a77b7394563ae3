"""The site of a chaos day: its configs, MQTT accounts, and its processes started as in production.

Everything lives in one folder: `mqtt/` (accounts, ACL, the broker's persistence), one config
file per process (each with its own MQTT account), `queuebox.db`, `tickets/<kiosk>/` (the
simulated kiosks' printed tickets), `drawn-<display>.jsonl` (each display's frames) and one
log per process, appended across restarts. The broker is `mosquitto` with the demo's
configuration (persistence on); the others are ``python -m queuebox.cli <command> --config
FILE``. The demo's helpers make the accounts and configs (server/demo.py).
"""

from __future__ import annotations

import dataclasses
import grp
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from queuebox.config import Config, CounterConfig, load_config
from queuebox.config_devices import KeypadConfig
from queuebox.protocol import Topics
from server.credentials import write_credentials
from server.demo import as_account, broker_conf, demo_config, write_config
from server.processes import die_with_parent, free_port, wait_for_port
from tests.mqtt_broker import find_mosquitto

OBSERVER_TOOL = "chaos-observer"  # the observer's account is tool-chaos-observer (tests/chaos/actors.py)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "queuebox.example.toml"
PYTHON = sys.executable
KIOSK_PINS = {"A": 5, "B": 6, "C": 13, "D": 19, "E": 26}
KEYPAD = KeypadConfig(counter="1", button_next=5, button_recall=6, button_no_show=13, button_done=19,
                      rating_buttons=(20, 21, 22, 23), cooldown_s=0.3)
DISPLAY_SIZE = "640x360"  # small frames: two displays redraw on every call of a 2-core machine
STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Plan:
    """The shape of a chaos day; `seed` makes every random choice of the run."""
    seed: int
    seconds: float = 45.0
    kiosks: int = 3
    counters: int = 20
    displays: int = 2
    press_every_s: float = 0.25  # mean time between two presses, all kiosks together
    minute_s: float = 0.4  # a configured service minute lasts this long
    print_delay_s: float = 0.3  # the simulated printers' time per ticket: the window a kiosk kill aims at
    kill_gap_s: tuple[float, float] = (2.0, 5.0)  # quiet time between a recovery and the next kill


def site_config(plan: Plan) -> Config:
    """The example centre with `plan.counters` counters (each 1-3 services with weights, every
    service served; the keypad's counter all of them), `plan.kiosks` kiosks and `plan.displays` displays, services open all day
    with no daily limit and four-digit labels that do not wrap in a day."""
    rng = random.Random(plan.seed)
    base = load_config(EXAMPLE)
    codes = [s.code for s in base.services]
    services = tuple(dataclasses.replace(s, daily_limit=0, number_end=9999, label_format="{code}{number:04d}")
                     for s in base.services)
    counters = []
    for i in range(plan.counters):
        # the keypad's counter serves every field, so its clerk is busy enough to be rated
        served = codes if str(i + 1) == KEYPAD.counter else [codes[i % len(codes)]] + rng.sample(codes, rng.randint(0, 2))
        counters.append(CounterConfig(id=str(i + 1), name=f"Quầy {i + 1}",
                                      services={code: rng.randint(1, 2) for code in served}))
    return dataclasses.replace(
        base, services=services, counters=tuple(counters),
        devices=dataclasses.replace(base.devices, kiosks=tuple(f"k{i + 1}" for i in range(plan.kiosks)),
                                    displays=tuple(f"d{i + 1}" for i in range(plan.displays))),
        kiosk=dataclasses.replace(base.kiosk, buttons=KIOSK_PINS, priority_button=21, led_ready=0, led_busy=0,
                                  led_fault=0),
        printer=dataclasses.replace(base.printer, kind="dummy"),
        display=dataclasses.replace(base.display, announce=False, fullscreen=False),
        keypad=KEYPAD)


class Proc:
    """One process of the site: started, killed (SIGKILL) and started again with the same command."""

    def __init__(self, name: str, argv: list[str], log: Path, *, env: dict[str, str] | None = None,
                 stdin_pipe: bool = False) -> None:
        self.name = name
        self.argv = argv
        self.log = log
        self.env = env
        self.stdin_pipe = stdin_pipe
        self.popen: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0  # time.monotonic() of the last start

    def start(self) -> Proc:
        with open(self.log, "ab") as out:
            self.popen = subprocess.Popen(self.argv, stdin=subprocess.PIPE if self.stdin_pipe else subprocess.DEVNULL,
                                          stdout=out, stderr=out, cwd=ROOT, env=self.env,
                                          preexec_fn=die_with_parent)
        self.started_at = time.monotonic()
        return self

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL, as a crash or a power cut of that program."""
        if self.popen is not None:
            self.popen.kill()
            self.popen.wait()
            if self.popen.stdin:
                self.popen.stdin.close()

    def stop(self) -> int | None:
        """SIGTERM and wait (SIGKILL after STOP_TIMEOUT_S); the exit status, None if it was not running."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        if self.popen.stdin:
            try:
                self.popen.stdin.close()
            except BrokenPipeError:
                pass
        return self.popen.returncode

    def write(self, text: str) -> bool:
        """Send a line to the process's standard input; False if it is not running."""
        if not self.running or self.popen is None or self.popen.stdin is None:
            return False
        try:
            self.popen.stdin.write(text.encode() + b"\n")
            self.popen.stdin.flush()
            return True
        except (BrokenPipeError, ValueError):
            return False

    def log_text(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""


class Site:
    """The folder, configs and processes of one chaos day. `start` brings every process up;
    `stop` ends them (SIGTERM, server before the broker)."""

    def __init__(self, folder: Path, plan: Plan) -> None:
        self.folder = folder.resolve()
        self.plan = plan
        self.folder.mkdir(parents=True, exist_ok=True)
        self.broker_port = free_port()
        self.web_port = free_port()
        config = site_config(plan)
        probe = dataclasses.replace(config, mqtt=dataclasses.replace(config.mqtt, port=self.broker_port))
        # the broker runs as this user here, so this user's group may read passwd and acl
        write_credentials(probe, self.folder / "mqtt", group=grp.getgrgid(os.getegid()).gr_name,
                          tools=[OBSERVER_TOOL])  # the observer: client ids are bound to accounts
        self.config = demo_config(config, self.folder, self.broker_port, self.web_port)
        self.topics = Topics(self.config.mqtt.root, self.config.site.id)
        self.db_path = Path(self.config.database.path)
        (self.folder / "mosquitto.conf").write_text(broker_conf(self.folder, self.broker_port), encoding="utf-8")
        env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}
        cli = [PYTHON, "-m", "queuebox.cli"]
        self.broker = Proc("broker", [find_mosquitto() or "mosquitto", "-c", str(self.folder / "mosquitto.conf")],
                           self.folder / "mosquitto.log")
        self.server = Proc("server", cli + ["server", "--config", str(self._write("server", self.config))],
                           self.folder / "server.log", env=env)
        self.kiosks: dict[str, Proc] = {}
        for kiosk in self.config.devices.kiosks:
            cfg = dataclasses.replace(as_account(self.config, self.folder, f"kiosk-{kiosk}"),
                                      kiosk=dataclasses.replace(self.config.kiosk, id=kiosk))
            self.tickets(kiosk).mkdir(parents=True, exist_ok=True)
            # one escpos capabilities cache per kiosk, as on its own Pi: escpos writes it unlocked on import
            cache = self.folder / "escpos" / kiosk
            cache.mkdir(parents=True, exist_ok=True)
            self.kiosks[kiosk] = Proc(f"kiosk {kiosk}", cli + [
                "kiosk", "--config", str(self._write(f"kiosk-{kiosk}", cfg)), "--simulate",
                "--out", str(self.tickets(kiosk)), "--print-delay", str(plan.print_delay_s)],
                self.folder / f"kiosk-{kiosk}.log", env={**env, "ESCPOS_CAPABILITIES_PICKLE_DIR": str(cache)})
        self.displays: dict[str, Proc] = {}
        for display in self.config.devices.displays:
            cfg = dataclasses.replace(as_account(self.config, self.folder, f"display-{display}"),
                                      display=dataclasses.replace(self.config.display, id=display))
            self.displays[display] = Proc(f"display {display}", cli + [
                "display", "--config", str(self._write(f"display-{display}", cfg)), "--screenshot",
                str(self.folder / f"board-{display}.png"), "--follow", "--size", DISPLAY_SIZE,
                "--drawn-log", str(self.drawn_log(display))], self.folder / f"display-{display}.log", env=env)
        keypad_cfg = as_account(self.config, self.folder, f"counter-{KEYPAD.counter}")
        self.keypad = Proc("keypad", cli + ["keypad", "--config", str(self._write("keypad", keypad_cfg)),
                                            "--simulate"], self.folder / "keypad.log", env=env, stdin_pipe=True)

    def _write(self, name: str, config: Config) -> Path:
        return write_config(config, self.folder / f"{name}.toml")

    def tickets(self, kiosk: str) -> Path:
        """Where kiosk `kiosk` saves its printed tickets."""
        return self.folder / "tickets" / kiosk

    def drawn_log(self, display: str) -> Path:
        return self.folder / f"drawn-{display}.jsonl"

    def account(self, name: str) -> Config:
        """The site's config with the MQTT account `name` (server, counter-3 …)."""
        return as_account(self.config, self.folder, name)

    @property
    def processes(self) -> list[Proc]:
        return [self.broker, self.server, *self.kiosks.values(), *self.displays.values(), self.keypad]

    def start_broker(self) -> None:
        self.broker.start()
        if self.broker.popen is None:
            raise AssertionError("the broker did not start")
        wait_for_port(self.broker_port, self.broker.popen, self.broker.log)

    def start(self) -> None:
        """Broker, then server (its web port answering), then the devices."""
        self.start_broker()
        self.server.start()
        assert self.server.popen is not None
        wait_for_port(self.web_port, self.server.popen, self.server.log)
        for proc in [*self.kiosks.values(), *self.displays.values(), self.keypad]:
            proc.start()

    def stop(self) -> dict[str, int | None]:
        """SIGTERM every process, devices first, the broker last; their exit statuses."""
        order = [*self.kiosks.values(), *self.displays.values(), self.keypad, self.server, self.broker]
        return {proc.name: proc.stop() for proc in order}

    def dead(self) -> list[str]:
        """Processes that exited by themselves (not killed by the chaos loop)."""
        return [p.name for p in self.processes if p.popen is not None and not p.running]


def wait_until(condition: Callable[[], object], timeout_s: float, step_s: float = 0.02) -> object:
    """Poll `condition` until it returns something true or `timeout_s` passes; returns its last value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(step_s)  # polling a condition with a deadline, not test logic
