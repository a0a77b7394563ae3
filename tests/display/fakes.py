"""Small, real test doubles for the display: a settable monotonic clock, a player that
"plays" on that clock, and a synthesizer that returns silent WAVs."""

from __future__ import annotations

import io
import wave

from display.sound import Clip


class Clock:
    """A monotonic clock (seconds) the test moves by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class FakePlayer:
    """Plays instantly for the clip's length on `clock`; refuses to start while busy."""

    def __init__(self, clock) -> None:
        self.clock = clock
        self.started: list[tuple[float, Clip]] = []

    def play(self, clip: Clip) -> None:
        assert not self.busy(), f"{clip.kind} {clip.text!r} started while another clip plays"
        self.started.append((self.clock(), clip))

    def busy(self) -> bool:
        if not self.started:
            return False
        at, clip = self.started[-1]
        return self.clock() < at + clip.seconds


def fake_wav(seconds: float) -> bytes:
    """A silent WAV of `seconds`."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * int(8000 * seconds))
    return out.getvalue()


class FakeSynth:
    """Records what it was asked to say; every sentence lasts `seconds`."""

    def __init__(self, seconds: float = 2.0) -> None:
        self.seconds = seconds
        self.calls: list[tuple[str, str]] = []

    def __call__(self, text: str, voice: str) -> bytes:
        self.calls.append((text, voice))
        return fake_wav(self.seconds)
