"""`queuebox demo`: the appliance on one machine, for trying it out.

Starts a private Mosquitto (free port, generated accounts and ACL, files in the demo
folder) and `queuebox server` as child processes, with a config derived from the given
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

from queuebox.config import Config, to_toml
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
    """`config` with its database, MQTT and web settings pointed at the demo folder."""
    config = dataclasses.replace(
        config,
        database=dataclasses.replace(config.database, path=str(folder / "queuebox.db")),
        mqtt=dataclasses.replace(config.mqtt, host="127.0.0.1", port=broker_port, tls=False),
        server=dataclasses.replace(config.server, listen="127.0.0.1", port=web_port,
                                   public_url=f"http://127.0.0.1:{web_port}"))
    passwords = read_secrets(folder / "mqtt" / SECRETS_FILE)
    return dataclasses.replace(config, mqtt=dataclasses.replace(config.mqtt, username="server",
                                                                   password=passwords["server"]))


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


def run_demo(config: Config, folder: Path, web_port: int) -> int:
    """Run broker and server until interrupted; returns the exit status."""
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    broker_port = free_port()
    probe = dataclasses.replace(config, mqtt=dataclasses.replace(config.mqtt, port=broker_port))
    # the broker runs as this user here, so this user's group may read passwd and acl
    write_credentials(probe, folder / "mqtt", group=grp.getgrgid(os.getegid()).gr_name)
    config = demo_config(config, folder, broker_port, web_port)
    config_path = folder / "queuebox.toml"
    config_path.write_text(to_toml(config), encoding="utf-8")
    config_path.chmod(0o600)
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
        server_log = folder / "server.log"
        with open(server_log, "w") as out:
            server = subprocess.Popen([sys.executable, "-m", "queuebox.cli", "server", "--config", str(config_path)],
                                      stdout=out, stderr=out, preexec_fn=_die_with_parent)
        children.append(server)
        wait_for_port(web_port, server, server_log)
        print(f"""
queuebox demo — {config.site.name}
  web (health):  http://127.0.0.1:{web_port}/healthz
  MQTT broker:   127.0.0.1:{broker_port}, topics under {config.mqtt.root}/{config.site.id}/
  accounts:      {folder / 'mqtt' / SECRETS_FILE}
  logs:          {server_log}, {broker_log}
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
