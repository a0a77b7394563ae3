"""A recorded clip made ready for a voice pack: checked, trimmed of silence, loudness-normalised.

What a phone records is accepted as a WAV of PCM samples (16-, 24- or 32-bit integers, mono or
stereo, 8 to 48 kHz, also in the WAVE_FORMAT_EXTENSIBLE wrapper phones often use); an MP3 or a
compressed WAV is refused with a message that says how to export it. The clip is mixed to mono,
resampled to the pack's rate, its leading and trailing silence cut, and its speech brought to one
level, so that a call does not jump in volume between words recorded on different days.

The loudness is measured the way EBU R128 gates it, simplified for one voice: the level (RMS)
over the 20 ms blocks of speech only (blocks within `SPEECH_DB` of the loudest one), so pauses
inside a phrase do not lower it. Every clip is brought to `TARGET_DBFS` at that level, with its
peak kept under `PEAK_DBFS`. This is done here in plain Python (`array`, `math`) rather than
with pyloudnorm: that library needs numpy and scipy (tens of MB on each Pi, for a few seconds
of audio per import), and its K-weighting matters for programme material of mixed content, not
for one speaker's words through one microphone. `audioop` is not used: it leaves Python in 3.13.
"""

from __future__ import annotations

import array
import math
import struct
from dataclasses import dataclass, field
from typing import Any

from queuebox.voice import MAX_CLIP_S, PACK_RATE, to_wav

TARGET_DBFS = -20.0  # speech level of every clip
PEAK_DBFS = -1.0
SPEECH_DB = 30.0  # blocks this far below the loudest are pauses, not speech
SILENCE_DB = 40.0  # trimming: the ends quieter than the loudest block by this much are cut
QUIET_DBFS = -50.0  # speech below this level: nothing was recorded (a muted microphone)
BLOCK_S = 0.02
PAD_S = 0.03  # kept around the speech when trimming
MAX_UPLOAD_S = 60.0  # longer recordings are refused before any work
RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000)


class ClipError(ValueError):
    """A clip that cannot go into a pack; `code` names the problem, `values` fill its message."""

    def __init__(self, code: str, **values: Any) -> None:
        self.code = code
        self.values = values
        super().__init__(f"{code}: {values}")


@dataclass(frozen=True)
class Prepared:
    """A clip ready for a pack: 16-bit mono WAV bytes at PACK_RATE, with what was measured."""
    wav: bytes
    seconds: float
    recorded_s: float  # before trimming
    level_dbfs: float  # speech level before normalising
    gain_db: float
    samples: array.array = field(repr=False, default_factory=lambda: array.array("h"))


def _chunks(data: bytes) -> dict[bytes, bytes]:
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        if data[:3] == b"ID3" or data[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
            raise ClipError("mp3")
        if data[4:8] == b"ftyp":
            raise ClipError("m4a")
        raise ClipError("not_wav")
    chunks: dict[bytes, bytes] = {}
    at = 12
    while at + 8 <= len(data):
        cid, size = data[at:at + 4], struct.unpack("<I", data[at + 4:at + 8])[0]
        chunks.setdefault(cid, data[at + 8:at + 8 + size])
        at += 8 + size + (size & 1)
    if b"fmt " not in chunks or b"data" not in chunks:
        raise ClipError("not_wav")
    return chunks


def read_wav(data: bytes) -> tuple[int, list[float]]:
    """(rate, mono samples in -1..1) of a PCM WAV; ClipError for anything else."""
    chunks = _chunks(data)
    fmt = chunks[b"fmt "]
    if len(fmt) < 16:
        raise ClipError("not_wav")
    tag, channels, rate, _, block, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == 0xFFFE and len(fmt) >= 26:  # WAVE_FORMAT_EXTENSIBLE: the real format is in the sub-format GUID
        tag = struct.unpack("<H", fmt[24:26])[0]
    if tag != 1:
        raise ClipError("compressed", tag=tag)
    if bits not in (16, 24, 32):
        raise ClipError("bits", bits=bits)
    if channels not in (1, 2):
        raise ClipError("channels", channels=channels)
    if rate not in RATES:
        raise ClipError("rate", rate=rate)
    width = bits // 8
    pcm = chunks[b"data"]
    frames = len(pcm) // (width * channels)
    if frames == 0:
        raise ClipError("empty")
    if frames > MAX_UPLOAD_S * rate:
        raise ClipError("too_long", seconds=round(frames / rate, 1), max=MAX_CLIP_S)
    if width == 2:
        ints = array.array("h", pcm[:frames * block])
    elif width == 4:
        ints = array.array("i", pcm[:frames * block])
    else:  # 24-bit: widen to 32 by putting each sample in the high bytes
        raw = pcm[:frames * block]
        ints = array.array("i", b"".join(b"\0" + raw[i:i + 3] for i in range(0, len(raw), 3)))
        width = 4
    scale = 1.0 / (1 << (8 * width - 1))
    if channels == 1:
        return rate, [s * scale for s in ints]
    return rate, [(ints[i] + ints[i + 1]) * scale / 2 for i in range(0, len(ints) - 1, 2)]


def resample(samples: list[float], rate: int, to: int = PACK_RATE) -> list[float]:
    """Linear interpolation to `to` Hz, after a moving average when going down (against aliasing)."""
    if rate == to:
        return samples
    if rate > to:
        width = max(1, round(rate / to))
        if width > 1:
            run = sum(samples[:width])
            smoothed = []
            for i in range(len(samples)):
                smoothed.append(run / width)
                run += (samples[i + width] if i + width < len(samples) else 0.0) - samples[i]
            samples = smoothed
    count = int(len(samples) * to / rate)
    step = rate / to
    out = []
    last = len(samples) - 1
    for i in range(count):
        x = i * step
        j = int(x)
        frac = x - j
        out.append(samples[j] if j >= last else samples[j] * (1 - frac) + samples[j + 1] * frac)
    return out


def _db(value: float) -> float:
    return 20 * math.log10(value) if value > 0 else -120.0


def _block_levels(samples: list[float], n: int) -> list[float]:
    return [math.sqrt(sum(s * s for s in samples[i:i + n]) / len(samples[i:i + n]))
            for i in range(0, len(samples), n)]


def prepare(data: bytes) -> Prepared:
    """`data` (a WAV file) made ready for a pack; ClipError when it cannot be."""
    rate, samples = read_wav(data)
    recorded_s = len(samples) / rate
    samples = resample(samples, rate)
    n = max(1, int(BLOCK_S * PACK_RATE))
    levels = _block_levels(samples, n)
    loudest = max(levels)
    if _db(loudest) < QUIET_DBFS:
        raise ClipError("silent")
    threshold = loudest * 10 ** (-SILENCE_DB / 20)
    loud = [i for i, level in enumerate(levels) if level >= threshold]
    pad = int(PAD_S * PACK_RATE)
    start, end = max(0, loud[0] * n - pad), min(len(samples), (loud[-1] + 1) * n + pad)
    samples = samples[start:end]
    seconds = len(samples) / PACK_RATE
    if seconds > MAX_CLIP_S:
        raise ClipError("too_long", seconds=round(seconds, 1), max=MAX_CLIP_S)
    speech = [level for level in levels if level >= loudest * 10 ** (-SPEECH_DB / 20)]
    level = math.sqrt(sum(v * v for v in speech) / len(speech))
    if _db(level) < QUIET_DBFS:
        raise ClipError("silent")
    peak = max(abs(s) for s in samples)
    gain_db = min(TARGET_DBFS - _db(level), PEAK_DBFS - _db(peak))
    gain = 10 ** (gain_db / 20)
    out = array.array("h", (max(-32768, min(32767, round(s * gain * 32767))) for s in samples))
    return Prepared(to_wav(out), seconds, recorded_s, round(_db(level), 1), round(gain_db, 1), out)
