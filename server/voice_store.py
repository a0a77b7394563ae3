"""The centre's voice pack on the server: a folder (`server.voice_dir`, default voice/ beside the
database) of clips and manifest.json (queuebox/voice.py), filled from the administration.

`import_files` takes WAV files named by prompt id, or a ZIP of them, prepares each clip
(server/voice_audio.py) and writes the good ones; a bad file is listed with its reason and the
pack keeps the clip it had for that prompt. A ZIP whose members would land outside the folder
(`../`, absolute paths) or that unpacks to far more than it weighs is refused whole, before
anything is written. Clips are written first and the manifest last, each by rename, so a
display downloading at the same time sees the old pack or the new one. Every change is one
`voice_changed` event; the MQTT bridge then announces the new version on the retained `voice`
topic and the displays download it (`/voice/…`, server/web/voice_files.py).
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from queuebox.config import Config
from queuebox.voice import MANIFEST, PACK_RATE, Manifest, ManifestError, PackEntry, clip_file, parse_manifest
from queuebox.words import Prompt, pack_prompts
from server.voice_audio import ClipError, prepare

EVENT = "voice_changed"
MAX_ZIP_MEMBERS = 300
MAX_MEMBER_BYTES = 20 * 1024 * 1024  # one WAV: a minute of 48 kHz stereo 24-bit is 17 MB
MAX_UNPACKED_BYTES = 64 * 1024 * 1024  # the whole ZIP unpacked (an upload is at most 8 MB)
MAX_RATIO = 50  # recorded WAVs barely compress; a big member unpacking to 50× its size is a bomb


class VoiceFileError(ClipError):
    """An upload refused whole (a ZIP that is unsafe or unreadable); `code` and `values` say why."""


@dataclass(frozen=True)
class Refused:
    """A file of an upload that was not imported."""
    name: str
    code: str
    values: dict[str, Any]


@dataclass(frozen=True)
class ImportResult:
    imported: list[str]  # prompt ids
    refused: list[Refused]


def voice_dir(config: Config, db_path: str | Path | None = None) -> Path:
    """`server.voice_dir`, or voice/ beside the database file (`db_path`, else the config's)."""
    if config.server.voice_dir:
        return Path(config.server.voice_dir)
    return Path(db_path or config.database.path).resolve().parent / "voice"


def engine_voice_dir(engine: Any) -> Path:
    """The voice pack folder of a running server's engine."""
    return voice_dir(engine.config, engine.db_path)


def centre_prompts(config: Config) -> list[Prompt]:
    """The prompts the centre's calls need (its service letters and named counters)."""
    return pack_prompts([s.code for s in config.services], [(c.id, c.name) for c in config.counters])


def read_manifest(folder: Path) -> Manifest:
    """The pack's manifest; an empty pack when there is none (or it is damaged)."""
    try:
        return parse_manifest((folder / MANIFEST).read_bytes())
    except (OSError, ManifestError):
        return Manifest(PACK_RATE, {})


def _write(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def unpack(name: str, data: bytes) -> list[tuple[str, bytes]]:
    """The files of an upload: a ZIP's WAV members (by base name), or the file itself."""
    if not name.lower().endswith(".zip") and data[:4] != b"PK\x03\x04":
        return [(name, data)]
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [m for m in archive.infolist() if not m.is_dir()]
    except (zipfile.BadZipFile, ValueError) as exc:
        raise VoiceFileError("bad_zip", detail=str(exc)) from None
    if len(members) > MAX_ZIP_MEMBERS:
        raise VoiceFileError("zip_too_many", n=len(members), max=MAX_ZIP_MEMBERS)
    for m in members:
        path = PurePosixPath(m.filename.replace("\\", "/"))
        if path.is_absolute() or ".." in path.parts or ":" in m.filename:
            raise VoiceFileError("zip_slip", member=m.filename)
    total = sum(m.file_size for m in members)
    if total > MAX_UNPACKED_BYTES or any(m.file_size > MAX_MEMBER_BYTES or (
            m.file_size > 1024 * 1024 and m.file_size > MAX_RATIO * m.compress_size) for m in members):
        raise VoiceFileError("zip_bomb", size=total)
    files = []
    read = 0
    for m in members:
        base = PurePosixPath(m.filename.replace("\\", "/")).name
        if base.startswith(".") or "__MACOSX" in m.filename:
            continue
        with archive.open(m) as f:
            content = f.read(MAX_MEMBER_BYTES + 1)  # the header's size may lie
        read += len(content)
        if len(content) > MAX_MEMBER_BYTES or read > MAX_UNPACKED_BYTES:
            raise VoiceFileError("zip_bomb", size=read)
        files.append((base, content))
    return files


def prompt_of(name: str, known: dict[str, Prompt]) -> str | None:
    """The prompt id a file is for: its name without .wav ("digit_5.wav" → digit_5)."""
    stem = PurePosixPath(name).name
    stem = stem[:-4] if stem.lower().endswith(".wav") else stem
    return stem.lower() if stem.lower() in known else None


def import_files(engine: Any, actor: str, uploads: list[tuple[str, bytes]], prompt_id: str | None = None) -> ImportResult:
    """Import uploaded files (each a WAV or a ZIP of WAVs named by prompt id; with `prompt_id`,
    one WAV for that prompt whatever its name). VoiceFileError when a ZIP is refused whole."""
    known = {p.id: p for p in centre_prompts(engine.config)}
    files = [f for name, data in uploads for f in unpack(name, data)]
    folder = engine_voice_dir(engine)
    manifest = read_manifest(folder)
    entries = dict(manifest.prompts)
    imported, refused = [], []
    for name, data in files:
        pid = prompt_id if prompt_id in known else prompt_of(name, known)
        if pid is None:
            refused.append(Refused(name, "unknown_prompt", {"known": ", ".join(sorted(known))}))
            continue
        try:
            clip = prepare(data)
        except ClipError as exc:
            refused.append(Refused(name, exc.code, exc.values))
            continue
        folder.mkdir(parents=True, exist_ok=True)
        _write(folder / clip_file(pid), clip.wav)
        entries[pid] = PackEntry(known[pid].text, clip_file(pid), hashlib.sha256(clip.wav).hexdigest())
        imported.append(pid)
    if imported:
        _save(engine, actor, folder, Manifest(PACK_RATE, entries), {"imported": sorted(set(imported))})
    return ImportResult(imported, refused)


def remove(engine: Any, actor: str, prompt_id: str) -> bool:
    """Take one clip out of the pack; False when it has none."""
    folder = engine_voice_dir(engine)
    manifest = read_manifest(folder)
    if prompt_id not in manifest.prompts:
        return False
    entries = {pid: e for pid, e in manifest.prompts.items() if pid != prompt_id}
    _save(engine, actor, folder, Manifest(PACK_RATE, entries), {"removed": [prompt_id]})
    (folder / clip_file(prompt_id)).unlink(missing_ok=True)
    return True


def _save(engine: Any, actor: str, folder: Path, manifest: Manifest, data: dict[str, Any]) -> None:
    _write(folder / MANIFEST, manifest.to_json())
    engine.write(EVENT, actor, lambda conn, config, stamp: {**data, "version": manifest.version})


def clip_bytes(folder: Path, prompt_id: str, sha256: str | None = None) -> bytes | None:
    """A clip of the pack in `folder` (only if its hash is `sha256`, when given); None if there is none."""
    entry = read_manifest(folder).prompts.get(prompt_id)
    if entry is None:
        return None
    try:
        data = (folder / entry.file).read_bytes()
    except OSError:
        return None
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        return None
    return data
