"""The display downloads the server's voice pack (display/voicefetch.py) from a real waitress serving
the server's app, keeps the last good pack when anything fails, and reloads without a restart."""

from __future__ import annotations

import logging
import threading

import pytest

from display.voicefetch import DownloadError, VoiceFetcher, current_version, download, http_get, load_current
from server.voice_store import engine_voice_dir, import_files, read_manifest
from tests.test_voice_import import spoken
from tests.web.hall.site import Hall, wait_until


@pytest.fixture
def hall(tmp_path):
    site = Hall(tmp_path / "server")
    yield site
    site.close()


def base(hall):
    return f"http://127.0.0.1:{hall.staff.port}"


def test_the_pack_is_downloaded_checked_and_made_current(hall, tmp_path):
    import_files(hall.engine, "web/manager", [("lead.wav", spoken()), ("tens.wav", spoken(freq=300))])
    version = download(tmp_path / "voice", base(hall))
    assert version == read_manifest(engine_voice_dir(hall.engine)).version == current_version(tmp_path / "voice")
    pack = load_current(tmp_path / "voice")
    assert pack is not None and set(pack.clips) == {"lead", "tens"}


def test_a_new_pack_replaces_the_old_and_only_new_clips_are_fetched(hall, tmp_path):
    import_files(hall.engine, "web/manager", [("lead.wav", spoken()), ("tens.wav", spoken(freq=300))])
    download(tmp_path / "voice", base(hall))
    import_files(hall.engine, "web/manager", [("tens.wav", spoken(freq=500))])
    fetched = []

    def get(url):
        fetched.append(url.split("/voice/")[1].split("?")[0])
        return http_get(url)
    version = download(tmp_path / "voice", base(hall), get)
    assert fetched == ["pack.json", "tens.wav"]
    assert [p.name for p in (tmp_path / "voice").iterdir() if p.is_dir()] == [version]


def test_a_damaged_download_keeps_the_last_good_pack(hall, tmp_path):
    import_files(hall.engine, "web/manager", [("lead.wav", spoken())])
    first = download(tmp_path / "voice", base(hall))
    import_files(hall.engine, "web/manager", [("tens.wav", spoken())])

    def garbled(url):
        body = http_get(url)
        return body[:-10] + b"x" * 10 if "tens.wav" in url else body
    with pytest.raises(DownloadError, match="does not match its hash"):
        download(tmp_path / "voice", base(hall), garbled)
    assert current_version(tmp_path / "voice") == first
    assert set(load_current(tmp_path / "voice").clips) == {"lead"}


def test_the_fetcher_retries_until_the_server_answers_and_hands_over_the_pack(hall, tmp_path, caplog):
    import_files(hall.engine, "web/manager", [("lead.wav", spoken())])
    version = read_manifest(engine_voice_dir(hall.engine)).version
    packs, got = [], threading.Event()
    down = {"tries": 2}

    def flaky(url):
        if down["tries"]:
            down["tries"] -= 1
            raise ConnectionRefusedError("server restarting")
        return http_get(url)
    fetcher = VoiceFetcher(tmp_path / "voice", base(hall), lambda pack: (packs.append(pack), got.set()),
                           get=flaky, retry_s=(0.05,))
    try:
        with caplog.at_level(logging.WARNING, logger="display.voicefetch"):
            fetcher.wanted(version)
            assert got.wait(10)
    finally:
        fetcher.close()
    assert packs[0].version == version and set(packs[0].clips) == {"lead"}
    assert len([r for r in caplog.records if "not downloaded" in r.message]) == 1  # logged once, not per try
    assert wait_until(lambda: current_version(tmp_path / "voice") == version, 2)


def test_a_voice_dir_whose_folder_is_missing_is_one_warning_and_nothing_made(tmp_path, caplog):
    fetched = []
    fetcher = VoiceFetcher(tmp_path / "no-such-state-dir" / "voice", "http://127.0.0.1:9", lambda pack: None,
                           get=lambda url: fetched.append(url) or b"")
    try:
        with caplog.at_level(logging.WARNING, logger="display.voicefetch"):
            fetcher.wanted("0123456789abcdef")
            assert wait_until(lambda: "cannot be made" in caplog.text, 5)
    finally:
        fetcher.close()
    assert fetched == [] and not (tmp_path / "no-such-state-dir").exists()
