"""The one loop of a device process (kiosk, keypad): drain the inbox, run the timers; and
what such a device needs of the bus."""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Callable, Protocol

from queuebox.protocol import Topics

logger = logging.getLogger(__name__)


class DeviceBus(Protocol):
    """What a kiosk or keypad needs of `queuebox.bus.Bus` (tests give a fake)."""
    topics: Topics
    client_id: str
    inbox: queue.Queue[Any]
    connected: threading.Event

    def publish(self, topic: str, message: dict[str, Any] | bytes | str, *, retain: bool = False,
                qos: int = 1, expiry_s: float | None = None) -> None: ...


def serve(inbox: "queue.Queue[Any]", handle: Callable[[Any], None], tick: Callable[[], None],
          wait_s: Callable[[], float], stop: threading.Event, name: str) -> None:
    """Handle inbox items and timers until `stop` is set; nothing that happens stops the loop.

    `wait_s()` says how long to wait for the next item before the timers are due again."""
    tick()
    while not stop.is_set():
        try:
            item = inbox.get(timeout=wait_s())
        except queue.Empty:
            item = None
        try:
            if item is not None:
                handle(item)
            tick()
        except Exception:  # a bug: log it, keep the device working
            logger.exception("%s failed to handle %r", name, item)
