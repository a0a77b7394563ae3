"""The display's copy of the server's voice pack: downloaded when the retained `voice` message
names a version the display does not have, kept on disk, reloaded without a restart.

The folder (`display.voice_dir`) holds one sub-folder per pack version and a `current` file
naming the one in use. A download goes into the sub-folder of the new version (clips the
display already has are copied, not fetched again), every clip is checked against the
manifest's sha256, and only a complete pack is made current (by renaming `current` into
place); then the older folders are deleted. A server that is down, a clip that changed
meanwhile (404) or a damaged one leaves the last good pack in use, and the download is tried
again later. Downloads run on a thread of their own; the pack reaches the announcer through
`on_pack`, which `Announcer.use_pack` takes from any thread.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from display.voicepack import Pack, load_pack
from queuebox.config import Config
from queuebox.voice import MANIFEST, ManifestError, parse_manifest

logger = logging.getLogger(__name__)

CURRENT = "current"
TIMEOUT_S = 10.0
RETRY_S = (5.0, 15.0, 30.0, 60.0)  # after a failed download; the last repeats
MAX_DOWNLOAD = 4 * 1024 * 1024  # one clip or the manifest

Get = Callable[[str], bytes]  # URL -> body; raises OSError (urllib's errors are OSErrors)


class DownloadError(OSError):
    """A pack could not be downloaded whole."""


def http_get(url: str) -> bytes:
    """The body of a GET, at most MAX_DOWNLOAD bytes."""
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:  # noqa: S310 (http(s) from the config)
        body: bytes = response.read(MAX_DOWNLOAD + 1)
    if len(body) > MAX_DOWNLOAD:
        raise DownloadError(f"{url} is over {MAX_DOWNLOAD} bytes")
    return body


def server_url(config: Config) -> str:
    """Where the display downloads the pack: `display.server_url`, else port 8080 of the broker's host."""
    return (config.display.server_url or f"http://{config.mqtt.host}:8080").rstrip("/")


def current_version(folder: Path) -> str | None:
    try:
        return (folder / CURRENT).read_text().strip() or None
    except OSError:
        return None


def load_current(folder: Path) -> Pack | None:
    """The pack in use (None when there is none yet)."""
    version = current_version(folder)
    return load_pack(folder / version) if version else None


def download(folder: Path, base_url: str, get: Get = http_get) -> str:
    """Download the server's pack into `folder` and make it current; returns its version.
    DownloadError (the current pack untouched) when anything is missing or does not match."""
    try:
        manifest = parse_manifest(get(f"{base_url}/voice/pack.json"))
    except (ManifestError, OSError) as exc:
        raise DownloadError(f"the manifest: {exc}") from None
    version = manifest.version
    if version == current_version(folder):
        return version
    target = folder / version
    have = folder / (current_version(folder) or "-")
    target.mkdir(parents=True, exist_ok=True)
    for pid, entry in manifest.prompts.items():
        path = target / entry.file
        if path.exists() and _sha256(path.read_bytes()) == entry.sha256:
            continue
        if (have / entry.file).exists() and _sha256((have / entry.file).read_bytes()) == entry.sha256:
            shutil.copyfile(have / entry.file, path)
            continue
        try:
            data = get(f"{base_url}/voice/{pid}.wav?sha256={entry.sha256}")
        except OSError as exc:
            raise DownloadError(f"clip {pid}: {exc}") from None
        if _sha256(data) != entry.sha256:
            raise DownloadError(f"clip {pid} does not match its hash")
        _write(path, data)
    _write(target / MANIFEST, manifest.to_json())
    _write(folder / CURRENT, version.encode())
    for old in folder.iterdir():
        if old.is_dir() and old.name != version:
            shutil.rmtree(old, ignore_errors=True)
    return version


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)


class VoiceFetcher:
    """Keeps `folder` at the version the server announces (`wanted`), on a thread of its own,
    and hands each new pack to `on_pack`."""

    def __init__(self, folder: str | Path, base_url: str, on_pack: Callable[[Pack | None], None], *,
                 get: Get = http_get, retry_s: tuple[float, ...] = RETRY_S) -> None:
        self.folder = Path(folder)
        self.base_url = base_url
        self.on_pack = on_pack
        self.get = get
        self.retry_s = retry_s
        self._wanted: str | None = None
        self._wake = threading.Condition()
        self._stopped = False
        self._thread: threading.Thread | None = None

    def wanted(self, version: str) -> None:
        """The server's pack is `version` (from the retained `voice` message)."""
        with self._wake:
            if version == self._wanted:
                return
            self._wanted = version
            self._wake.notify_all()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="voice-fetch", daemon=True)
                self._thread.start()

    def close(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=TIMEOUT_S + 1)

    def _run(self) -> None:
        failures = 0
        while True:
            with self._wake:
                while not self._stopped and self._wanted == current_version(self.folder):
                    self._wake.wait()
                if self._stopped:
                    return
                wanted = self._wanted
            try:
                self.folder.mkdir(exist_ok=True)  # in the display's state folder, which systemd makes
            except OSError as exc:
                logger.warning("display.voice_dir %s cannot be made (%s): calls are spoken by espeak-ng",
                               self.folder, exc)
                with self._wake:
                    self._wake.wait_for(lambda: self._stopped or self._wanted != wanted)
                continue
            try:
                got = download(self.folder, self.base_url, self.get)
            except OSError as exc:
                if failures == 0:
                    logger.warning("voice pack %s not downloaded (%s): the last good one stays in use", wanted, exc)
                delay = self.retry_s[min(failures, len(self.retry_s) - 1)]
                failures += 1
                with self._wake:
                    self._wake.wait_for(lambda: self._stopped or self._wanted != wanted, timeout=delay)
                continue
            failures = 0
            logger.info("voice pack %s downloaded from %s", got, self.base_url)
            self.on_pack(load_current(self.folder))
            if got != wanted:  # the server changed the pack between its message and the download
                with self._wake:
                    if self._wanted == wanted:
                        self._wanted = got
