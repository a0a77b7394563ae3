"""The demo's voice pack: every prompt of the centre spoken by espeak-ng, one clip each, so that
`queuebox demo` (and the tests) call through the recorded-voice path: import, trimming, loudness,
download by the display, assembly. Nothing binary is kept in the repository: the clips are made
at the demo's start, cached by text in a folder (var/demo/voice-cache), and imported through
the same `import_files` as a manager's recordings.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from queuebox.espeak import EspeakSynthesizer, SpeechError
from server.voice_store import centre_prompts, engine_voice_dir, import_files, read_manifest

logger = logging.getLogger(__name__)


def espeak_clips(config: Any, cache: Path, synthesize: Any = None) -> list[tuple[str, bytes]]:
    """(file name, WAV) of each prompt of `config`, spoken by espeak-ng (cached in `cache`)."""
    synthesize = synthesize or EspeakSynthesizer()
    cache.mkdir(parents=True, exist_ok=True)
    clips = []
    for prompt in centre_prompts(config):
        path = cache / f"{prompt.id}-{hashlib.sha256(prompt.text.encode()).hexdigest()[:12]}.wav"
        if not path.exists():
            path.write_bytes(synthesize(prompt.text, "vi"))
        clips.append((f"{prompt.id}.wav", path.read_bytes()))
    return clips


def seed_voice(engine: Any, cache: Path) -> int:
    """Import the espeak-ng pack when the server has no voice pack yet; how many clips it imported
    (0 when a pack is there, as a manager left it, or espeak-ng is missing: logged)."""
    if read_manifest(engine_voice_dir(engine)).prompts:
        return 0
    try:
        clips = espeak_clips(engine.config, cache)
    except SpeechError as exc:
        logger.warning("no demo voice pack (%s): calls are spoken by espeak-ng directly", exc)
        return 0
    result = import_files(engine, "demo", clips)
    for refused in result.refused:
        logger.warning("demo voice clip %s not imported: %s", refused.name, refused.code)
    return len(result.imported)
