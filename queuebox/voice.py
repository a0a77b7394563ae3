"""A voice pack on disk: a folder of WAV clips (16-bit PCM, mono, `PACK_RATE`) and `manifest.json`.

    {"format": 1, "rate": 22050, "version": "3f2a…",
     "prompts": {"lead": {"text": "Mời công dân có số thứ tự", "file": "lead.wav", "sha256": "…"}, …}}

Each prompt id (queuebox/words.py) names one clip, stored as `<id>.wav`; `sha256` is the hash
of the clip's bytes, and `version` a hash of the whole pack (rate, ids and clip hashes), so a
display knows from the version alone whether it has the server's pack. The server writes packs
(server/voice_store.py), the display reads them (display/voicepack.py); both check a manifest
with `parse_manifest`.
"""

from __future__ import annotations

import array
import hashlib
import io
import json
import re
import sys
import wave
from dataclasses import dataclass
from typing import Any

from queuebox.errors import QueueboxError
from queuebox.words import PROMPT_ID

MANIFEST = "manifest.json"
FORMAT = 1
PACK_RATE = 22050  # espeak-ng's rate: clips, chime and speech share the mixer's rate
MAX_PROMPTS = 200
MAX_CLIP_S = 8.0  # a prompt is a word or a short phrase; anything longer is a mistake
HASH = r"[0-9a-f]{64}"


class ManifestError(QueueboxError, ValueError):
    """A voice pack's manifest is not readable or not valid."""


@dataclass(frozen=True)
class PackEntry:
    """One clip of a pack: the text it says, its file name, the sha256 of its bytes."""
    text: str
    file: str
    sha256: str


@dataclass(frozen=True)
class Manifest:
    rate: int
    prompts: dict[str, PackEntry]

    @property
    def version(self) -> str:
        return pack_version(self.rate, {pid: e.sha256 for pid, e in self.prompts.items()})

    def to_json(self) -> bytes:
        body = {"format": FORMAT, "rate": self.rate, "version": self.version,
                "prompts": {pid: {"text": e.text, "file": e.file, "sha256": e.sha256}
                            for pid, e in sorted(self.prompts.items())}}
        return json.dumps(body, ensure_ascii=False, indent=1).encode("utf-8")


def pack_version(rate: int, hashes: dict[str, str]) -> str:
    """16 hex digits naming a pack's content (the empty pack has one too)."""
    text = json.dumps([rate, sorted(hashes.items())])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def clip_file(prompt_id: str) -> str:
    return f"{prompt_id}.wav"


def parse_manifest(data: bytes) -> Manifest:
    """A manifest's bytes, checked: ManifestError with the reason if anything is wrong."""
    try:
        raw: Any = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ManifestError(f"the manifest is not JSON: {exc}") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ManifestError(f'the manifest must be an object with "format": {FORMAT}')
    if raw.get("rate") != PACK_RATE:
        raise ManifestError(f'"rate" must be {PACK_RATE}, not {raw.get("rate")!r}')
    prompts = raw.get("prompts")
    if not isinstance(prompts, dict) or len(prompts) > MAX_PROMPTS:
        raise ManifestError(f'"prompts" must be an object of at most {MAX_PROMPTS} prompts')
    entries = {}
    for pid, entry in prompts.items():
        if not PROMPT_ID.fullmatch(pid):
            raise ManifestError(f"{pid!r} is not a prompt id (a-z, 0-9, _)")
        if not isinstance(entry, dict) or not isinstance(entry.get("text"), str) \
                or entry.get("file") != clip_file(pid) or not re.fullmatch(HASH, str(entry.get("sha256", ""))):
            raise ManifestError(f'prompt {pid}: needs "text", "file": "{clip_file(pid)}" and a "sha256"')
        entries[pid] = PackEntry(entry["text"][:200], entry["file"], entry["sha256"])
    manifest = Manifest(PACK_RATE, entries)
    if "version" in raw and raw["version"] != manifest.version:
        raise ManifestError(f"the manifest says version {raw['version']!r} but its clips make {manifest.version}")
    return manifest


def read_pcm(data: bytes, rate: int = PACK_RATE) -> array.array:
    """The samples of a 16-bit mono WAV at `rate`; ValueError otherwise."""
    try:
        with wave.open(io.BytesIO(data)) as w:
            if (w.getnchannels(), w.getsampwidth(), w.getframerate()) != (1, 2, rate):
                raise ValueError(f"{w.getnchannels()} channel(s), {8 * w.getsampwidth()}-bit, "
                                 f"{w.getframerate()} Hz: not 16-bit mono at {rate} Hz")
            frames = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"not a PCM WAV file ({exc})") from None
    samples = array.array("h")
    samples.frombytes(frames[:len(frames) // 2 * 2])
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


def to_wav(samples: array.array, rate: int = PACK_RATE) -> bytes:
    """16-bit mono samples as WAV bytes."""
    if sys.byteorder == "big":
        samples = array.array("h", samples)
        samples.byteswap()
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return buf.getvalue()
