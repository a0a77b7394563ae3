"""A real Mosquitto for tests: a child process on a free port, configured by a temp file.

Registered as a pytest plugin from `tests/conftest.py`. Fixtures:

- `mosquitto_path`: the broker binary; skips the test when Mosquitto is missing, fails under `CI`.
- `broker`: a running anonymous `Broker`, stopped after the test.
- `mqtt_root`: a topic root of its own for each test (``t1a2b3c4d``), so retained messages
  left by one test never reach another.

`Broker` is usable directly for other set-ups (password and ACL files, restarts)::

    broker = Broker(tmp_path / "broker", password_file=..., acl_file=...).start()
    try: ...
    finally: broker.stop()
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import IO, Iterator
from uuid import uuid4

import pytest

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
# Debian installs the broker in /usr/sbin, which is not on an ordinary user's PATH.
_SBIN = os.pathsep.join(("/usr/sbin", "/usr/local/sbin"))


def find_mosquitto() -> str | None:
    """Path of the `mosquitto` binary: PATH first, then the sbin folders; None when absent."""
    return shutil.which("mosquitto", path=os.pathsep.join(filter(None, (os.environ.get("PATH"), _SBIN))))


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class BrokerError(RuntimeError):
    """The test broker did not start or stop as asked; the message carries its log."""


class Broker:
    """One `mosquitto` child process listening on 127.0.0.1 at a free port.

    Everything lives in `directory`: the config file `mosquitto.conf`, the persistence file
    (`mosquitto.db`) and the log `mosquitto.log` (the process's stdout and stderr, appended
    across restarts, so it never blocks on an unread pipe).

    Without `password_file` anonymous clients are allowed; with it `allow_anonymous false`.
    `acl_file` adds an ACL. `extra_config` is appended last (a later boolean or number
    overrides an earlier one; a repeated file option is an error to Mosquitto).
    `autosave_interval` is short so that a `kill()` loses at most that many seconds.
    `user`: started as root, the user Mosquitto switches to (default: it stays root, see
    `_config_text`); `directory` is then given to that user, and every folder above it must
    be open to it (pytest's tmp_path is not).
    """

    host = "127.0.0.1"

    def __init__(self, directory: Path, *, password_file: Path | str | None = None,
                 acl_file: Path | str | None = None, extra_config: str = "",
                 autosave_interval: int = 1, user: str | None = None, executable: str | None = None) -> None:
        self.directory = Path(directory)
        self.password_file = Path(password_file).resolve() if password_file else None
        self.acl_file = Path(acl_file).resolve() if acl_file else None
        self.extra_config = extra_config
        self.autosave_interval = autosave_interval
        self.user = user
        self.executable = executable or find_mosquitto()
        if self.executable is None:
            raise BrokerError("mosquitto is not installed (apt install mosquitto)")
        self.port = 0
        self.config_path = self.directory / "mosquitto.conf"
        self.log_path = self.directory / "mosquitto.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # --- life cycle ----------------------------------------------------------------

    def start(self) -> Broker:
        """Start on a free port (the first time) or on the same port (later); returns self
        once the broker accepts TCP connections. Raises BrokerError with the log otherwise."""
        if self.running:
            raise BrokerError(f"broker on port {self.port} is already running")
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.user and os.geteuid() == 0:
            shutil.chown(self.directory, user=self.user)  # for the persistence file
        if not self.port:
            self.port = free_port(self.host)
        self.config_path.write_text(self._config_text(), encoding="utf-8")
        self._log = open(self.log_path, "ab")
        self._process = subprocess.Popen([self.executable, "-c", str(self.config_path)],
                                         stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                                         cwd=self.directory)
        try:
            self._wait_until_listening()
        except BaseException:
            self.kill()
            raise
        return self

    def stop(self) -> None:
        """SIGTERM and wait: Mosquitto saves its persistence file on the way out."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL and wait: a crash; what was not autosaved is lost."""
        self._end(signal.SIGKILL)

    def restart(self) -> Broker:
        """Stop if running, then start again on the same port with the same persistence."""
        if self.running:
            self.stop()
        return self.start()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def log_text(self) -> str:
        """Everything the broker wrote so far, across restarts."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self) -> Broker:
        return self.start() if not self.running else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<Broker {self.host}:{self.port} pid={self.pid} running={self.running}>"

    # --- helpers -------------------------------------------------------------------

    def _config_text(self) -> str:
        lines = [
            "# Written by tests/mqtt_broker.py for one test run.",
            f"listener {self.port} {self.host}",
            "persistence true",
            # Mosquitto 2.0 joins the folder and the file name as given: keep the slash.
            f"persistence_location {self.directory.resolve()}/",
            f"autosave_interval {self.autosave_interval}",
            "max_queued_messages 100000",
            "set_tcp_nodelay true",
            "log_dest stdout",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "log_type subscribe",
            "connection_messages true",
            "log_timestamp_format %H:%M:%S",
        ]
        if os.geteuid() == 0:
            # Started as root, Mosquitto switches to user `mosquitto` after reading this file
            # and only then opens the password and ACL files and the persistence folder
            # (2.0.11: "Unable to open pwfile"). pytest's tmp_path sits under
            # /tmp/pytest-of-root, mode 0700, which that user cannot enter, so the broker
            # stays root instead. Started as anyone else it never switches user, so both
            # cases run as the test's own user. (Mosquitto warns that it runs as root.)
            lines.append(f"user {self.user or 'root'}")
        if self.password_file:
            lines += ["allow_anonymous false", f"password_file {self.password_file}"]
        else:
            lines.append("allow_anonymous true")
        if self.acl_file:
            lines.append(f"acl_file {self.acl_file}")
        if self.extra_config:
            lines += ["", "# extra_config", self.extra_config.strip()]
        return "\n".join(lines) + "\n"

    def _wait_until_listening(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self._process.poll() is not None:
                raise BrokerError(f"mosquitto exited with status {self._process.returncode} before "
                                  f"listening on {self.host}:{self.port}; log:\n{self.log_text()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise BrokerError(f"mosquitto did not listen on {self.host}:{self.port} within "
                                  f"{START_TIMEOUT_S:g} s; log:\n{self.log_text()}")
            time.sleep(0.01)  # polling a port, not test logic

    def _end(self, sig: signal.Signals) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.send_signal(sig)
                try:
                    process.wait(timeout=STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
                    raise BrokerError(f"mosquitto ignored {sig.name} for {STOP_TIMEOUT_S:g} s; "
                                      f"log:\n{self.log_text()}") from None
            else:
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


# --- fixtures ----------------------------------------------------------------------

@pytest.fixture(scope="session")
def mosquitto_path() -> str:
    """The `mosquitto` binary. Missing: the test fails when env CI is set, else it is skipped."""
    path = find_mosquitto()
    if path is None:
        reason = "mosquitto is not installed (apt install mosquitto mosquitto-clients)"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return path


@pytest.fixture
def broker(tmp_path: Path, mosquitto_path: str) -> Iterator[Broker]:
    """A running Mosquitto for this test, anonymous clients allowed."""
    with Broker(tmp_path / "broker", executable=mosquitto_path) as running:
        yield running


@pytest.fixture
def mqtt_root() -> str:
    """A topic root no other test uses, e.g. ``t1a2b3c4d``."""
    return f"t{uuid4().hex[:8]}"
