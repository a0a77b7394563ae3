"""What the hub's tests share: a centre's config pointed at a hub broker and a hub database,
processes run as threads, waiting on another process's progress."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any, Callable

from queuebox.config import Config
from tests.mqtt_broker import Broker
from tests.report_fixtures import report_config


def hub_config(broker: Broker, hub_dsn: str, root: str, **uplink: Any) -> Config:
    """The report fixtures' centre with its uplink and a hub on `broker` (anonymous, plain TCP)
    and `hub_dsn`; `uplink` overrides uplink keys."""
    base = report_config()
    return replace(base, uplink=replace(base.uplink, **{"host": broker.host, "port": broker.port, "tls": False,
                                                         "root": root, "batch_size": 50, "ack_timeout_s": 2.0,
                                                         "poll_s": 0.05, **uplink}),
                   hub=replace(base.hub, host=broker.host, port=broker.port, root=root, database=hub_dsn,
                               username="", client_id=f"hub-{root}"))


def run_in_thread(target: Callable[..., Any], *args: Any) -> tuple[threading.Event, threading.Thread]:
    """Start `target(*args, stop=event)` on a daemon thread; returns (event, thread)."""
    stop = threading.Event()
    thread = threading.Thread(target=target, args=args, kwargs={"stop": stop}, daemon=True)
    thread.start()
    return stop, thread


def wait_for(predicate: Callable[[], Any], timeout_s: float = 30.0) -> bool:
    """True as soon as `predicate()` is true; False after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)  # polling another process's progress, not test logic
    return False
