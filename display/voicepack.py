"""The display's voice pack: the clips of recorded words (queuebox/voice.py), loaded from a
folder, and a call assembled from them.

`load_pack` reads and checks a folder: a clip whose bytes do not match its manifest hash, or
that is not 16-bit mono PCM at the pack's rate, is left out with a warning (the call that needs
it is then spoken by espeak-ng). `assemble` joins clips sample for sample with `gap_s` of
silence between them, into one WAV: one sound per call, so the words keep their rhythm
whatever the mixer's latency.
"""

from __future__ import annotations

import array
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from queuebox.voice import MANIFEST, MAX_CLIP_S, PACK_RATE, ManifestError, parse_manifest, read_pcm, to_wav
from queuebox.words import Word

logger = logging.getLogger(__name__)

WORD_GAP_S = 0.06  # between two words of a call: short, as in speech


@dataclass(frozen=True)
class Pack:
    """Clips by prompt id (16-bit mono samples at `rate`); `version` as in the manifest."""
    version: str
    rate: int = PACK_RATE
    clips: dict[str, array.array] = field(default_factory=dict)

    def missing(self, words: Sequence[Word]) -> list[str]:
        """The words of a call this pack has no clip for (their text, in order, once each)."""
        return list(dict.fromkeys(w.text for w in words if w.id not in self.clips))


def load_pack(folder: str | Path) -> Pack | None:
    """The pack in `folder`, or None (logged) when it has no readable manifest. Clips that are
    missing or damaged are left out with one warning each."""
    folder = Path(folder)
    try:
        manifest = parse_manifest((folder / MANIFEST).read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ManifestError) as exc:
        logger.warning("voice pack in %s not used: %s", folder, exc)
        return None
    clips = {}
    for pid, entry in manifest.prompts.items():
        try:
            data = (folder / entry.file).read_bytes()
            if hashlib.sha256(data).hexdigest() != entry.sha256:
                raise ValueError("its bytes do not match the manifest")
            samples = read_pcm(data, manifest.rate)
            if not 0 < len(samples) <= MAX_CLIP_S * manifest.rate:
                raise ValueError(f"it lasts {len(samples) / manifest.rate:.1f} s")
        except (OSError, ValueError) as exc:
            logger.warning("voice pack clip %s left out: %s", pid, exc)
            continue
        clips[pid] = samples
    return Pack(manifest.version, manifest.rate, clips)


def assemble(parts: Sequence[array.array], rate: int = PACK_RATE, gap_s: float = WORD_GAP_S) -> bytes:
    """The clips one after another with `gap_s` of silence between them, as one 16-bit mono WAV."""
    gap = array.array("h", bytes(2 * round(gap_s * rate)))
    out = array.array("h")
    for i, part in enumerate(parts):
        if i:
            out.extend(gap)
        out.extend(part)
    return to_wav(out, rate)
