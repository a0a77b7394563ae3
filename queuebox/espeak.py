"""Speech synthesised offline by espeak-ng: the display's voice for calls, and what the demo's
voice pack is recorded from."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path


class SpeechError(RuntimeError):
    """The speech synthesiser failed for one text."""


class EspeakSynthesizer:
    """Speech offline with espeak-ng: `espeak-ng -v vi -s 150 -w out.wav TEXT`."""

    def __init__(self, executable: str = "espeak-ng", speed: int = 150, timeout_s: float = 15.0) -> None:
        self.executable = shutil.which(executable)
        self.speed = speed
        self.timeout_s = timeout_s

    @property
    def available(self) -> bool:
        return self.executable is not None

    def __call__(self, text: str, voice: str) -> bytes:
        if self.executable is None:
            raise SpeechError("espeak-ng is not installed")
        with tempfile.TemporaryDirectory(prefix="queuebox-voice-") as tmp:
            out = Path(tmp) / "call.wav"
            try:
                done = subprocess.run([self.executable, "-v", voice, "-s", str(self.speed), "-w", str(out), text],
                                      capture_output=True, timeout=self.timeout_s, check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise SpeechError(f"espeak-ng failed: {exc}") from exc
            if done.returncode != 0 or not out.exists():
                raise SpeechError(f"espeak-ng exited with {done.returncode}: "
                                  f"{done.stderr.decode('utf-8', 'replace').strip()[:200]}")
            return out.read_bytes()
