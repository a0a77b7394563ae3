"""The child processes of the demos (`queuebox demo`, `queuebox hub-demo`) and of the tests and
benchmarks that run the appliance the same way: each program in its own session with its
output in a log file, sent SIGTERM when its parent dies, stopped rank by rank (devices, then
the server, the broker last); and the ports they listen on.
"""

from __future__ import annotations

import ctypes
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from queuebox.errors import QueueboxError

STARTUP_TIMEOUT_S = 15
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the demo dies, even by SIGKILL (Linux)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, log: Path, cancelled: Callable[[], bool] = lambda: False) -> None:
    """Wait until something listens on 127.0.0.1:`port`; raises if `proc` exits first or it
    takes too long. Returns early once `cancelled()` is true."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline and not cancelled():
        if proc.poll() is not None:
            raise QueueboxError(f"{proc.args[0]} exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    if not cancelled():
        raise QueueboxError(f"nothing listens on port {port} after {STARTUP_TIMEOUT_S}s; see {log}")


def port_taken(port: int) -> str | None:
    """Why a server (the demo's web) could not listen on 127.0.0.1:`port`, or None if it can."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def last_words(log: Path, lines: int = 6) -> str:
    """The end of a child's log, where it says why it stopped (indented for the terminal)."""
    try:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-lines:]
    except OSError:
        return f"  (no log at {log})"
    return "\n".join(f"  | {line}" for line in tail) or f"  ({log} is empty)"


STOP_TIMEOUT_S = 10  # seconds a child has to stop on SIGTERM before it is killed
BROKER, SERVER, DEVICE = 0, 1, 2  # the order children start in; they stop in the reverse order


class Children:
    """The demo's child processes, each `queuebox COMMAND` (or the broker) in its own session,
    its output in a log file. `stop` ends the devices (together), then the server, then the broker."""

    def __init__(self) -> None:
        self.procs: list[tuple[int, subprocess.Popen]] = []
        self.logs: dict[int, Path] = {}  # pid -> its log

    def start(self, rank: int, argv: list[str], log: Path, *, stdin: int | None = subprocess.DEVNULL,
              stdout: int | None = None) -> subprocess.Popen:
        """Start `argv` with stderr (and stdout, unless it is given) appended to `log`;
        `rank` is BROKER, SERVER or DEVICE."""
        with open(log, "ab") as out:
            proc = subprocess.Popen(argv, stdin=stdin, stdout=out if stdout is None else stdout, stderr=out,
                                    start_new_session=True,  # the terminal's Ctrl-C is the demo's to handle
                                    preexec_fn=die_with_parent)
        self.procs.append((rank, proc))
        self.logs[proc.pid] = log
        return proc

    def queuebox(self, rank: int, log: Path, command: str, *args: str, **kwargs: int | None) -> subprocess.Popen:
        """Start `queuebox COMMAND ARGS` (this Python, by module path)."""
        return self.start(rank, [sys.executable, "-m", "queuebox.cli", command, *args], log, **kwargs)

    def first_dead(self) -> subprocess.Popen | None:
        return next((proc for _, proc in self.procs if proc.poll() is not None), None)

    def stop(self) -> None:
        """SIGTERM the children rank by rank, highest first, and wait for them (SIGKILL after
        STOP_TIMEOUT_S): the devices say "offline" and the server its last words to a broker
        that still runs."""
        for rank in sorted({rank for rank, _ in self.procs}, reverse=True):
            procs = [proc for r, proc in self.procs if r == rank]
            for proc in procs:
                if proc.poll() is None:
                    proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                if proc.stdin is not None:  # its stdout is the LED relay's, which reads it to the end
                    try:
                        proc.stdin.close()
                    except (OSError, ValueError):
                        pass


def name_of(proc: subprocess.Popen) -> str:
    """`mosquitto`, or `queuebox COMMAND`."""
    args = list(proc.args)  # type: ignore[arg-type]
    return f"queuebox {args[3]}" if args[0] == sys.executable else str(args[0])


class StopFlag:
    """Set by a signal handler or by `q` typed: a plain flag, which a handler may set at any
    moment (an Event's lock, held by the interrupted code, would deadlock it)."""

    def __init__(self) -> None:
        self._asked = False

    def __call__(self, *signal_args: object) -> None:
        self._asked = True

    def asked(self) -> bool:
        return self._asked
