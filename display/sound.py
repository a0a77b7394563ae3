"""The sounds of the display: what a clip is, the player (pygame's mixer, or none without an
audio device) and the built-in chime. Speech comes from espeak-ng (queuebox/espeak.py) or a voice pack."""

from __future__ import annotations

import array
import io
import logging
import math
import wave
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from queuebox.voice import PACK_RATE, to_wav

logger = logging.getLogger(__name__)

SAMPLE_RATE = PACK_RATE  # espeak-ng's rate; the chime and voice packs are made at the same rate


@dataclass(frozen=True)
class Clip:
    """One sound to play: `kind` chime, vi or en; `text` what it says; WAV bytes and length."""
    kind: str
    text: str
    wav: bytes
    seconds: float
    seq: int = -1  # the event it announces


class Player(Protocol):
    """Plays one clip at a time."""

    def play(self, clip: Clip) -> None:
        """Start playing `clip` now (only called when not `busy`)."""

    def busy(self) -> bool:
        """Whether a clip is still playing."""


Synthesize = Callable[[str, str], bytes]  # (text, espeak voice) -> WAV bytes


def wav_seconds(wav: bytes) -> float:
    """The length of a WAV file in seconds; 0.0 if it cannot be read."""
    try:
        with wave.open(io.BytesIO(wav)) as w:
            return w.getnframes() / float(w.getframerate())
    except (wave.Error, EOFError, ZeroDivisionError):
        return 0.0


def make_chime(rate: int = SAMPLE_RATE) -> bytes:
    """The built-in two-tone chime ("ding-dong", E5 then C5 with bell-like overtones) as WAV bytes."""
    samples = array.array("h")
    for freq, seconds in ((659.25, 0.45), (523.25, 0.9)):
        count = int(rate * seconds)
        for i in range(count):
            t = i / rate
            envelope = math.exp(-3.2 * t / seconds) * min(1.0, i / (0.005 * rate))
            tone = (math.sin(2 * math.pi * freq * t) + 0.35 * math.sin(4 * math.pi * freq * t)
                    + 0.12 * math.sin(6 * math.pi * freq * t))
            samples.append(int(9000 * envelope * tone))
    return to_wav(samples, rate)


class PygamePlayer:
    """Plays clips on one pygame mixer channel at a fixed volume. Call only from the display's loop."""

    def __init__(self, volume: float) -> None:
        import pygame  # the mixer is set up by `open_player`
        self._pygame = pygame
        self.volume = volume
        self._channel = pygame.mixer.Channel(0)
        self.sound: Any = None  # the Sound playing or played last (kept alive while it plays)

    def play(self, clip: Clip) -> None:
        sound = self._pygame.mixer.Sound(file=io.BytesIO(clip.wav))
        sound.set_volume(self.volume)
        self.sound = sound
        self._channel.play(sound)

    def busy(self) -> bool:
        return bool(self._channel.get_busy())


def open_player(volume: float) -> PygamePlayer | None:
    """A PygamePlayer, or None (logged once) when there is no audio device."""
    import pygame
    try:
        pygame.mixer.init(frequency=SAMPLE_RATE, size=-16, channels=1, buffer=1024)
        pygame.mixer.set_num_channels(1)
    except pygame.error as exc:
        logger.warning("no audio device (%s): calls are shown but not announced", exc)
        return None
    return PygamePlayer(volume)
