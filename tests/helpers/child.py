"""A helper program run as a child process whose stdout lines are collected as they come."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]


class Child:
    """`python SCRIPT ARGS…` from the repository root, its stdout drained by a thread (so it never
    blocks on a full pipe). `lines` holds every complete line so far; `ready_or_gone` is set when
    it prints "ready" or closes its stdout."""

    def __init__(self, script: Path, args: list[str], stderr: IO[str]) -> None:
        self.lines: list[str] = []
        self.ready_or_gone = threading.Event()
        self.proc = subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE,
                                     stderr=stderr, text=True, cwd=ROOT)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.endswith("\n"):  # a line cut short by the kill was not printed
                self.lines.append(line.rstrip("\n"))
            if line == "ready\n":
                self.ready_or_gone.set()
        self.ready_or_gone.set()

    def kill(self) -> int:
        """SIGKILL it, wait, and return its exit status."""
        self.proc.send_signal(signal.SIGKILL)
        code = self.proc.wait(timeout=30)
        self._reader.join(timeout=30)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return code
