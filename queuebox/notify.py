"""Tell systemd how a service is doing: the sd_notify protocol, stdlib only.

A unit with ``Type=notify`` sets ``$NOTIFY_SOCKET`` (a file system path, or ``@name`` in the
abstract namespace); the process sends datagrams of ``KEY=value`` lines to it: ``READY=1``
once it serves, ``STATUS=…`` for ``systemctl status``, ``WATCHDOG=1`` at least once per
``WatchdogSec=`` (given to the process as ``$WATCHDOG_USEC``), ``STOPPING=1`` on the way out.
Without ``$NOTIFY_SOCKET`` (a terminal, a test, the demo) every call does nothing.

The usual shape of a process's main loop::

    watchdog = notify.ready()          # after it can serve
    while not stop.wait(0.5):
        watchdog.ping()                # sends WATCHDOG=1 at most every quarter interval

A loop that cannot ping from its own thread (the server's main thread is the web server's)
runs `Watchdog.start` with a `healthy` check instead: pings stop when the check fails or
hangs, and systemd restarts the service.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Callable, Mapping

logger = logging.getLogger(__name__)


def notify(*lines: str, env: Mapping[str, str] | None = None) -> bool:
    """Send `lines` (``"READY=1"``, ``"STATUS=…"``) as one datagram to ``$NOTIFY_SOCKET``.

    Returns True when sent; False when there is no socket to send to or sending failed
    (logged once at debug level): a notification is never worth stopping a service for.
    """
    address = (os.environ if env is None else env).get("NOTIFY_SOCKET", "")
    if not address or not lines:
        return False
    if address.startswith("@"):  # abstract namespace: a leading NUL byte, no file
        address = "\0" + address[1:]
    elif not address.startswith("/"):
        logger.debug("NOTIFY_SOCKET %r is neither a path nor @abstract: not notifying", address)
        return False
    payload = "\n".join(lines).encode("utf-8")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(payload, address)
    except OSError as exc:
        logger.debug("cannot notify systemd at %r: %s", address, exc)
        return False
    return True


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """The watchdog interval in seconds from ``$WATCHDOG_USEC``, or None when there is no
    watchdog for this process (variable unset or invalid, or ``$WATCHDOG_PID`` names another
    process, as after a fork)."""
    env = os.environ if env is None else env
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    pid = env.get("WATCHDOG_PID", "")
    if usec <= 0 or (pid and pid != str(os.getpid())):
        return None
    return usec / 1_000_000


def status(text: str, env: Mapping[str, str] | None = None) -> bool:
    """Show `text` as the service's status line in ``systemctl status``."""
    return notify(f"STATUS={_one_line(text)}", env=env)


def stopping(env: Mapping[str, str] | None = None) -> bool:
    """Say the service is shutting down (systemd then expects no more watchdog pings)."""
    return notify("STOPPING=1", env=env)


def ready(status: str = "", env: Mapping[str, str] | None = None) -> Watchdog:
    """Say the service is up (``READY=1``, and `status` if given); returns the process's
    `Watchdog` (one that does nothing when the unit has no ``WatchdogSec=``)."""
    notify("READY=1", *([f"STATUS={_one_line(status)}"] if status else []), env=env)
    return Watchdog(env=env)


class Watchdog:
    """Sends ``WATCHDOG=1`` often enough for ``WatchdogSec=``: every quarter of the interval.

    `interval_s` defaults to `watchdog_interval()`; with none, `enabled` is False and every
    method does nothing. `healthy` is asked before each ping by the thread of `start`.
    """

    def __init__(self, interval_s: float | None = None, *, healthy: Callable[[], bool] = lambda: True,
                 env: Mapping[str, str] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = watchdog_interval(env) if interval_s is None else interval_s
        self.healthy = healthy
        self._env = env
        self._clock = clock
        self._last = -float("inf")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._unhealthy = False

    @property
    def enabled(self) -> bool:
        return bool(self.interval_s)

    @property
    def every_s(self) -> float:
        """Seconds between two pings (a quarter of the interval: two may be lost or late)."""
        return (self.interval_s or 0.0) / 4

    def ping(self, ok: bool = True) -> bool:
        """Call from the main loop on every turn: sends ``WATCHDOG=1`` when a ping is due and
        `ok` (pass False while the loop knows it is stuck). Returns True when it sent one."""
        if not self.enabled or not ok:
            return False
        now = self._clock()
        if now - self._last < self.every_s:
            return False
        self._last = now
        return notify("WATCHDOG=1", env=self._env)

    def start(self) -> Watchdog:
        """Ping from a thread of its own while `healthy()` returns True; does nothing when disabled."""
        if self.enabled and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.every_s + 1)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = self._clock()
            try:
                ok = self.healthy()
            except Exception:  # a failing check is an unhealthy service, not a dead watchdog thread
                logger.exception("watchdog health check failed")
                ok = False
            if ok != (not self._unhealthy):  # log a change once, both ways
                self._unhealthy = not ok
                if ok:
                    logger.warning("healthy again: pinging the systemd watchdog")
                else:
                    logger.error("unhealthy: not pinging the systemd watchdog, systemd will restart the service "
                                 "within %.0f s", self.interval_s)
            if ok:
                self._last = -float("inf")  # the thread paces itself
                self.ping()
            self._stop.wait(max(0.0, self.every_s - (self._clock() - started)))


def _one_line(text: str) -> str:
    return " ".join(text.split())
