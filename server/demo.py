"""`queuebox demo`: the appliance on one machine, for trying it out.

Starts a private Mosquitto (free port, generated accounts and ACL, files in the demo
folder), `queuebox server`, the display (a window if there is a screen, else a PNG redrawn
after every frame) and a simulated kiosk (presses typed in this terminal) as child processes, with a config derived from the given
one (database, MQTT and web settings pointed at the demo folder). Ctrl-C or SIGTERM stops
the children, server first. Every process is a separate program started by path, as in
production; nothing here imports the devices.
"""

from __future__ import annotations

import ctypes
import dataclasses
import grp
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from queuebox.config import WEEKDAYS, Config, to_toml
from queuebox.errors import QueueboxError
from server.credentials import SECRETS_FILE, read_secrets, write_credentials

STARTUP_TIMEOUT_S = 15
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the demo dies, even by SIGKILL (Linux)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise QueueboxError(f"{proc.args[0]} exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise QueueboxError(f"nothing listens on port {port} after {STARTUP_TIMEOUT_S}s; see {log}")


def demo_config(config: Config, folder: Path, broker_port: int, web_port: int) -> Config:
    """`config` with its database, MQTT and web settings pointed at the demo folder, every
    service open all day every day (a demo at night should still give tickets)."""
    always_open = tuple(dataclasses.replace(s, hours=(), open_days=WEEKDAYS) for s in config.services)
    config = dataclasses.replace(
        config,
        services=always_open,
        database=dataclasses.replace(config.database, path=str(folder / "queuebox.db")),
        mqtt=dataclasses.replace(config.mqtt, host="127.0.0.1", port=broker_port, tls=False),
        server=dataclasses.replace(config.server, listen="127.0.0.1", port=web_port,
                                   public_url=f"http://127.0.0.1:{web_port}"))
    return as_account(config, folder, "server")


def as_account(config: Config, folder: Path, account: str) -> Config:
    """`config` with the MQTT user name and password of `account` (from the demo's secrets)."""
    password = read_secrets(folder / "mqtt" / SECRETS_FILE)[account]
    return dataclasses.replace(config, mqtt=dataclasses.replace(config.mqtt, username=account, password=password))


def write_config(config: Config, path: Path) -> Path:
    path.write_text(to_toml(config), encoding="utf-8")
    path.chmod(0o600)  # it holds a password
    return path


def broker_conf(folder: Path, port: int) -> str:
    mqtt = folder / "mqtt"
    lines = [
        f"listener {port} 127.0.0.1",
        "allow_anonymous false",
        f"password_file {mqtt / 'passwd'}",
        f"acl_file {mqtt / 'acl'}",
        "persistence true",
        f"persistence_location {mqtt}/",
        "max_queued_messages 10000",
        "set_tcp_nodelay true",
        "log_dest stderr",
    ]
    if os.geteuid() == 0:
        lines.append("user root")  # the demo folder may not be readable by user mosquitto
    return "\n".join(lines) + "\n"


DEMO_PASSWORD = "demo1234"  # printed by the demo; the demo listens on 127.0.0.1 only


def demo_accounts(config: Config) -> list[tuple[str, str, str]]:
    """Create the demo's web accounts once (admin, manager, one clerk per counter);
    returns (login, role, home path) of each."""
    from queuebox.clock import utc_now
    from server import store, users

    wanted = [("admin", "admin", [], "/admin/"), ("manager", "manager", [], "/admin/")]
    wanted += [(f"clerk{c.id}".lower(), "clerk", [c.id], f"/counter/{c.id}") for c in config.counters
               if users.check_login(f"clerk{c.id}".lower()) is None]
    db = store.open_database(config.database.path)
    try:
        store.migrate(db)
        for login, role, counters, _ in wanted:
            if users.get(db, login) is None:
                users.add(db, login, DEMO_PASSWORD, role, counters, utc_now())
    finally:
        db.close()
    return [(login, role, home) for login, role, _, home in wanted]


def _start(log: Path, command: str, *args: str, stdin: int | None = subprocess.DEVNULL) -> subprocess.Popen:
    """Start `queuebox COMMAND ARGS` with its output in `log`."""
    with open(log, "w") as out:
        return subprocess.Popen([sys.executable, "-m", "queuebox.cli", command, *args], stdin=stdin,
                                stdout=out, stderr=out, preexec_fn=_die_with_parent)


def run_demo(config: Config, folder: Path, web_port: int) -> int:
    """Run broker and server until interrupted; returns the exit status."""
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    broker_port = free_port()
    probe = dataclasses.replace(config, mqtt=dataclasses.replace(config.mqtt, port=broker_port))
    # the broker runs as this user here, so this user's group may read passwd and acl
    write_credentials(probe, folder / "mqtt", group=grp.getgrgid(os.getegid()).gr_name)
    config = demo_config(config, folder, broker_port, web_port)
    config_path = write_config(config, folder / "queuebox.toml")
    kiosk_path = write_config(as_account(config, folder, f"kiosk-{config.kiosk.id}"), folder / "kiosk.toml")
    display_path = write_config(as_account(config, folder, f"display-{config.display.id}"), folder / "display.toml")
    on_screen = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    display_args = ["--windowed", "--size", "1280x720"] if on_screen else \
        ["--screenshot", str(folder / "board.png"), "--follow", "--size", "1920x1080"]
    (folder / "mosquitto.conf").write_text(broker_conf(folder, broker_port), encoding="utf-8")

    children: list[subprocess.Popen] = []
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        broker_log = folder / "mosquitto.log"
        with open(broker_log, "w") as out:
            broker = subprocess.Popen(["mosquitto", "-c", str(folder / "mosquitto.conf")], stdout=out, stderr=out,
                                      preexec_fn=_die_with_parent)
        children.append(broker)
        wait_for_port(broker_port, broker, broker_log)
        accounts = demo_accounts(config)
        server_log = folder / "server.log"
        server = _start(server_log, "server", "--config", str(config_path))
        children.append(server)
        wait_for_port(web_port, server, server_log)
        children.append(_start(folder / "display.log", "display", "--config", str(display_path), *display_args))
        # the kiosk reads button presses from this terminal: type a service code and Enter
        children.append(_start(folder / "kiosk.log", "kiosk", "--config", str(kiosk_path), "--simulate",
                               "--out", str(folder / "tickets"), stdin=None))
        print(f"""
queuebox demo — {config.site.name}
  web:           http://127.0.0.1:{web_port}/  (log in with a demo account below, password {DEMO_PASSWORD})
{chr(10).join(f"                 {login:<10} {role:<8} http://127.0.0.1:{web_port}{home}" for login, role, home in accounts)}
  ticket status: the QR code of each ticket (http://127.0.0.1:{web_port}/t/...)
  MQTT broker:   127.0.0.1:{broker_port}, topics under {config.mqtt.root}/{config.site.id}/
  board:         {"a window" if on_screen else folder / "board.png"} (redrawn on every call)
  kiosk:         type a service code ({", ".join(s.code for s in config.services)}) and Enter to press its button,
                 "p" before it for priority (e.g. pa); tickets are saved in {folder / "tickets"}
  accounts:      {folder / 'mqtt' / SECRETS_FILE}
  logs:          {folder} (server.log, kiosk.log, display.log, mosquitto.log)
  try:           mosquitto_pub -p {broker_port} -u counter-1 -P <password from the accounts file> -V mqttv5 -q 1 \\
                   -t {config.mqtt.root}/{config.site.id}/counter/1/command -m '{{"id": "try-1", "action": "next"}}'
Press Ctrl-C to stop.""", flush=True)
        while not stopping:
            for child in children:
                if child.poll() is not None:
                    print(f"{child.args[0]} stopped with {child.returncode}; stopping the demo", file=sys.stderr)
                    return 1
            time.sleep(0.2)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        for child in reversed(children):  # server first, then the broker
            if child.poll() is None:
                child.terminate()
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
