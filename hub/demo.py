"""`queuebox hub-demo`: a province on one machine, for trying the dashboard out.

Starts a private PostgreSQL cluster (hub/pgcluster.py) and a hub broker, `queuebox hub` and
`queuebox hub-web`, and three centres, each a real `queuebox server` with its own broker and
its `queuebox uplink` to the hub. A load generator here plays the citizens and the clerks of
each centre over its broker, as kiosks and keypads do (tickets taken, called, served, rated,
busier at the first centre than its counters can serve), and the first centre's kiosk says
its printer is out of paper. The dashboard's address and its login are printed.

Every run starts afresh: its folder is emptied and the cluster, in a temporary folder of its
own, is made again and removed at the end. Children run in their own
sessions and stop in order on Ctrl-C or SIGTERM: the load, the centres' uplinks and servers,
the hub, the brokers, PostgreSQL last. A child that dies stops the demo with status 1.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from hub.pgcluster import Cluster, find_pg_bin
from queuebox.config import WEEKDAYS, Config
from queuebox.errors import QueueboxError
from server.demo import write_config
from server.processes import (DEVICE, SERVER, Children, StopFlag, free_port, last_words, name_of, port_taken,
                              wait_for_port)

BROKERS, HUB = 0, 1  # start ranks beside server.demo's SERVER and DEVICE: they stop in the reverse order
CENTRES = (("phuong-ben-thanh", "Phường Bến Thành", 0.8), ("xa-an-phu", "Xã An Phú", 0.45),
           ("xa-tan-thanh", "Xã Tân Thạnh", 0.3))  # id, name, chance of a citizen arriving each tick
TICK_S = 1.0
ADMIN, PASSWORD = "tinh", "demo1234"  # printed by the demo; it listens on 127.0.0.1 only
PAPER_OUT = "fault paper_out: the printer is out of paper"


@dataclasses.dataclass
class DemoCentre:
    id: str
    name: str
    arrivals: float
    config: Config
    broker_port: int
    web_port: int


def broker_conf(port: int, folder: Path) -> str:
    """A private broker on 127.0.0.1 without accounts (the demo's own; production has accounts and ACLs)."""
    lines = [f"listener {port} 127.0.0.1", "allow_anonymous true", "persistence false", "log_dest stderr"]
    if os.geteuid() == 0:
        lines.append("user root")
    (folder / "mosquitto.conf").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(folder / "mosquitto.conf")


def centre_config(base: Config, centre_id: str, name: str, folder: Path, broker_port: int, web_port: int,
                  hub_port: int) -> Config:
    """`base` as one demo centre: its site, database, broker, web port, and uplink to the hub."""
    return dataclasses.replace(
        base,
        site=dataclasses.replace(base.site, id=centre_id, name=name),
        services=tuple(dataclasses.replace(s, hours=(), open_days=WEEKDAYS) for s in base.services),
        database=dataclasses.replace(base.database, path=str(folder / "queuebox.db")),
        mqtt=dataclasses.replace(base.mqtt, host="127.0.0.1", port=broker_port, tls=False, username="", password=""),
        server=dataclasses.replace(base.server, listen="127.0.0.1", port=web_port, secret_key_file="",
                                   public_url=f"http://127.0.0.1:{web_port}"),
        uplink=dataclasses.replace(base.uplink, host="127.0.0.1", port=hub_port, tls=False, ca_file="",
                                   username="", password="", ack_timeout_s=5.0))


def hub_config(base: Config, dsn: str, hub_port: int, folder: Path) -> Config:
    return dataclasses.replace(base, hub=dataclasses.replace(
        base.hub, database=dsn, host="127.0.0.1", port=hub_port, tls=False, ca_file="", username="hub", password="",
        web_secret_key_file=str(folder / "hub-web-secret.key")))


def run_hub_demo(config: Config, folder: Path, web_port: int, *, load: bool = True) -> int:
    """Run the province until Ctrl-C or SIGTERM (status 0), or until a child dies (status 1)."""
    folder = folder.resolve()
    taken = port_taken(web_port)
    if taken:
        raise QueueboxError(f"port {web_port} is taken ({taken}): choose another with queuebox hub-demo --web-port")
    bin_dir = find_pg_bin()
    if bin_dir is None:
        raise QueueboxError("PostgreSQL is not installed: apt install postgresql")
    os.umask(0o077)
    shutil.rmtree(folder, ignore_errors=True)  # each run afresh: a new cluster, new centres
    folder.mkdir(parents=True)
    children = Children()
    stop = StopFlag()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    # the cluster's own folder in the system's temp folder: run as root, the cluster belongs to the
    # user postgres, who could not enter this user's private demo folder
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="queuebox-hub-demo-pg-")), bin_dir)
    try:
        cluster.init().start()
        cluster.execute('CREATE DATABASE "queuebox_hub"')
        hub_port = free_port()
        hub = hub_config(config, cluster.dsn("queuebox_hub"), hub_port, folder)
        hub_path = write_config(hub, folder / "hub.toml")
        broker = children.start(BROKERS, ["mosquitto", "-c", broker_conf(hub_port, folder)], folder / "hub-broker.log")
        wait_for_port(hub_port, broker, folder / "hub-broker.log", stop.asked)
        centres = _start_centres(children, config, folder, hub_port, stop)
        if stop.asked():
            return 0
        added = subprocess.run([sys.executable, "-m", "queuebox.cli", "hub-user", "--config", str(hub_path), "add",
                                ADMIN, "--role", "admin", "--password-stdin"], input=PASSWORD + "\n",
                               capture_output=True, text=True, timeout=60)
        if added.returncode:
            raise QueueboxError(f"could not add the dashboard's account: {added.stderr.strip()}")
        children.queuebox(HUB, folder / "hub.log", "hub", "--config", str(hub_path))
        web = children.queuebox(HUB, folder / "hub-web.log", "hub-web", "--config", str(hub_path),
                                "--listen", "127.0.0.1", "--port", str(web_port))
        wait_for_port(web_port, web, folder / "hub-web.log", stop.asked)
        if load and not stop.asked():
            threading.Thread(target=play, args=(centres, stop), name="load", daemon=True).start()
        print(banner(folder, web_port, hub_port, centres, cluster), flush=True)
        while not stop.asked():
            dead = children.first_dead()
            if dead is not None:
                print(f"{name_of(dead)} stopped with {dead.returncode}; stopping the demo (logs in {folder})",
                      file=sys.stderr)
                print(last_words(children.logs[dead.pid]), file=sys.stderr)
                return 1
            time.sleep(0.2)
        return 0
    finally:
        stop()  # ends the load
        children.stop()
        cluster.stop()
        shutil.rmtree(cluster.directory, ignore_errors=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _start_centres(children: Children, base: Config, folder: Path, hub_port: int, stop: StopFlag) -> list[DemoCentre]:
    centres = []
    for centre_id, name, arrivals in CENTRES:
        where = folder / centre_id
        where.mkdir()
        broker_port, web_port = free_port(), free_port()
        config = centre_config(base, centre_id, name, where, broker_port, web_port, hub_port)
        path = write_config(config, where / "queuebox.toml")
        # the uplink reads the devices' status (their faults) on the centre's broker, under its own client id
        uplink_path = write_config(dataclasses.replace(config, mqtt=dataclasses.replace(config.mqtt, username="uplink")),
                                   where / "uplink.toml")
        broker = children.start(BROKERS, ["mosquitto", "-c", broker_conf(broker_port, where)], where / "mosquitto.log")
        wait_for_port(broker_port, broker, where / "mosquitto.log", stop.asked)
        server = children.queuebox(SERVER, where / "server.log", "server", "--config", str(path))
        wait_for_port(web_port, server, where / "server.log", stop.asked)
        children.queuebox(DEVICE, where / "uplink.log", "uplink", "--config", str(uplink_path))
        centres.append(DemoCentre(centre_id, name, arrivals, config, broker_port, web_port))
    return centres


def play(centres: list[DemoCentre], stop: StopFlag, seed: int = 7) -> None:
    """The citizens and clerks of every centre, over each centre's broker, until `stop`."""
    import paho.mqtt.client as mqtt

    from queuebox.protocol import Topics

    rng = random.Random(seed)
    clients = []
    for i, centre in enumerate(centres):
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="demo-load", protocol=mqtt.MQTTv5)
        client.connect("127.0.0.1", centre.broker_port)
        client.loop_start()
        topics = Topics(centre.config.mqtt.root, centre.id)
        if i == 0:
            kiosk = f"kiosk-{centre.config.devices.kiosks[0]}"
            client.publish(topics.status(kiosk), PAPER_OUT, qos=1, retain=True)
        clients.append((client, topics))
    n = 0
    try:
        while not stop.asked():
            for centre, (client, topics) in zip(centres, clients):
                n += 1
                kiosk = centre.config.devices.kiosks[0]
                if rng.random() < centre.arrivals:
                    take = {"id": f"d{n}", "service": rng.choice([s.code for s in centre.config.services])}
                    client.publish(topics.kiosk_take(kiosk), json.dumps(take), qos=1)
                for counter in centre.config.counters:
                    if rng.random() < 0.15:
                        serve_next(client, topics, counter.id, f"d{n}-{counter.id}", rng)
            time.sleep(TICK_S)
    finally:
        for client, _ in clients:
            client.loop_stop()
            client.disconnect()


def serve_next(client: Any, topics: Any, counter: str, command_id: str, rng: random.Random) -> None:
    """A clerk finishes the citizen at the counter (if any: the server refuses otherwise), who
    rates the service seven times in ten, then calls the next one."""
    command = topics.counter_command(counter)
    for action in ("start", "done"):
        client.publish(command, json.dumps({"id": f"{command_id}-{action}", "action": action}), qos=1)
    if rng.random() < 0.7:
        score = rng.choices((1, 2, 3, 4), (45, 30, 15, 10))[0]
        client.publish(topics.counter_rating(counter), json.dumps({"id": f"{command_id}-r", "score": score}), qos=1)
    client.publish(command, json.dumps({"id": f"{command_id}-next", "action": "next"}), qos=1)


def banner(folder: Path, web_port: int, hub_port: int, centres: list[DemoCentre], cluster: Cluster) -> str:
    lines = "\n".join(f"                 {c.id:<18} {c.name:<18} http://127.0.0.1:{c.web_port}/  (broker {c.broker_port})"
                      for c in centres)
    return f"""
queuebox hub-demo — a province of {len(centres)} centres
  dashboard:     http://127.0.0.1:{web_port}/  (log in as {ADMIN}, password {PASSWORD})
  centres:
{lines}
  hub broker:    127.0.0.1:{hub_port}
  PostgreSQL:    {cluster.dsn('queuebox_hub')}
  logs:          {folder} (hub.log, hub-web.log, <centre>/server.log, <centre>/uplink.log)
Press Ctrl-C to stop."""
