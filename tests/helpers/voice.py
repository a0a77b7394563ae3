"""Synthetic voice packs for tests: each word a tone of its own frequency, so that the order of
words in an assembled call can be checked sample for sample."""

from __future__ import annotations

import array
import hashlib
import io
import math
import wave
from pathlib import Path

from queuebox.voice import PACK_RATE, Manifest, PackEntry, clip_file
from queuebox.words import FIXED_PROMPTS


def tone(freq: float, seconds: float = 0.2, rate: int = PACK_RATE, amplitude: int = 8000) -> array.array:
    """A sine of `freq` Hz as 16-bit samples."""
    return array.array("h", (int(amplitude * math.sin(2 * math.pi * freq * i / rate))
                             for i in range(int(seconds * rate))))


def wav_bytes(samples: array.array, rate: int = PACK_RATE, channels: int = 1, width: int = 2) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return out.getvalue()


def tone_clips(ids: list[str] | None = None) -> dict[str, array.array]:
    """A tone per prompt id (the fixed prompts and the letters a to e), 300 Hz + 40 Hz × its place."""
    ids = ids or [*FIXED_PROMPTS, "letter_a", "letter_b", "letter_c", "letter_d", "letter_e"]
    return {pid: tone(300 + 40 * i, 0.1 + 0.01 * i) for i, pid in enumerate(ids)}


def write_pack(folder: Path, clips: dict[str, array.array]) -> Manifest:
    """Write `clips` as a voice pack (WAVs and manifest.json) into `folder`; returns its manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = {}
    for pid, samples in clips.items():
        data = wav_bytes(samples)
        (folder / clip_file(pid)).write_bytes(data)
        entries[pid] = PackEntry(FIXED_PROMPTS.get(pid, pid), clip_file(pid), hashlib.sha256(data).hexdigest())
    manifest = Manifest(PACK_RATE, entries)
    (folder / "manifest.json").write_bytes(manifest.to_json())
    return manifest
