"""Importing recorded clips into the centre's voice pack (server/voice_store.py, server/voice_audio.py):
trimmed, normalised, and every bad file refused with its reason while the last good pack stays."""

from __future__ import annotations

import array
import hashlib
import io
import json
import math
import struct
import zipfile

import pytest

from queuebox.voice import PACK_RATE, parse_manifest, read_pcm
from server.engine import Engine
from server.voice_audio import ClipError, TARGET_DBFS, prepare
from server.voice_store import VoiceFileError, engine_voice_dir, import_files, read_manifest, remove
from tests.factories import FakeClock, make_config
from tests.helpers.voice import tone, wav_bytes


@pytest.fixture
def engine(tmp_path):
    eng = Engine(make_config(), tmp_path / "q.db", clock=FakeClock())
    yield eng
    eng.close()


def spoken(seconds=0.5, rate=44100, amplitude=3000, silence=0.4, channels=1, freq=220.0) -> bytes:
    """A 'word' (a tone) between stretches of silence, as a phone records it."""
    quiet = array.array("h", bytes(2 * int(silence * rate)))
    body = quiet + tone(freq, seconds, rate, amplitude) + quiet
    if channels == 2:
        body = array.array("h", (s for s in body for _ in (0, 1)))
    return wav_bytes(body, rate, channels)


def rms_dbfs(samples):
    return 20 * math.log10(math.sqrt(sum(s * s for s in samples) / len(samples)) / 32768)


def events(engine):
    rows = engine.read(lambda conn: conn.execute("SELECT type, actor, data FROM events ORDER BY seq").fetchall())
    return [(t, a, json.loads(d)) for t, a, d in rows]


def test_a_clip_is_trimmed_resampled_and_normalised():
    clip = prepare(spoken(seconds=0.5, rate=44100, amplitude=3000, silence=0.4))
    samples = read_pcm(clip.wav)
    assert 0.5 <= clip.seconds <= 0.5 + 2 * 0.03 + 0.04  # the silence cut, a little kept around
    assert clip.recorded_s == pytest.approx(1.3, abs=0.01)
    assert abs(len(samples) / PACK_RATE - clip.seconds) < 0.001
    assert rms_dbfs(samples[len(samples) // 4: 3 * len(samples) // 4]) == pytest.approx(TARGET_DBFS, abs=0.5)


def test_quiet_and_loud_recordings_come_out_at_the_same_level():
    quiet, loud = prepare(spoken(amplitude=600, channels=2, rate=48000)), prepare(spoken(amplitude=20000, rate=16000))
    levels = [rms_dbfs(read_pcm(c.wav)[2000:-2000]) for c in (quiet, loud)]
    assert abs(levels[0] - levels[1]) < 0.5


def test_24_bit_extensible_wav_from_a_phone_is_accepted():
    samples = tone(300, 0.4, 48000, 5000)
    pcm = b"".join(struct.pack("<i", s << 8)[:3] for s in samples)  # 24-bit: the 16-bit sample, 8 bits up
    fmt = struct.pack("<HHIIHHHHIH14s", 0xFFFE, 1, 48000, 48000 * 3, 3, 24, 22, 24, 4, 1,
                      b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71")
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(pcm)) + pcm
    clip = prepare(b"RIFF" + struct.pack("<I", len(body)) + body)
    assert clip.seconds == pytest.approx(0.4, abs=0.08)


def mp3_bytes():
    return b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 100


def adpcm_wav():
    fmt = struct.pack("<HHIIHH", 2, 1, 22050, 11100, 512, 4) + b"\x02\x00\xf4\x07"
    data = b"\x00" * 1000
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize("data,code", [
    (wav_bytes(array.array("B", [128] * 8000), 8000, width=1), "bits"),
    (adpcm_wav(), "compressed"),
    (mp3_bytes(), "mp3"),
    (b"", "not_wav"),
    (wav_bytes(array.array("h"), 22050), "empty"),
    (wav_bytes(array.array("h", bytes(2 * 22050)), 22050), "silent"),
    (spoken(seconds=30, rate=16000), "too_long"),
    (wav_bytes(tone(300, 0.3, 22050) * 3, 22050, channels=3), "channels"),
])
def test_bad_clips_are_refused_with_their_reason(data, code):
    with pytest.raises(ClipError) as caught:
        prepare(data)
    assert caught.value.code == code


def test_import_writes_the_pack_and_one_event(engine):
    result = import_files(engine, "web/manager", [("lead.wav", spoken()), ("digit_1.wav", spoken(freq=330))])
    assert sorted(result.imported) == ["digit_1", "lead"] and result.refused == []
    folder = engine_voice_dir(engine)
    manifest = parse_manifest((folder / "manifest.json").read_bytes())
    assert manifest.prompts["lead"].text == "Mời công dân có số thứ tự"
    assert manifest.prompts["digit_1"].sha256 == hashlib.sha256((folder / "digit_1.wav").read_bytes()).hexdigest()
    assert events(engine) == [("voice_changed", "web/manager",
                               {"imported": ["digit_1", "lead"], "version": manifest.version})]


def test_a_bad_file_keeps_the_last_good_clip_of_its_prompt(engine):
    import_files(engine, "web/manager", [("tens.wav", spoken())])
    before = read_manifest(engine_voice_dir(engine))
    result = import_files(engine, "web/manager", [("tens.wav", mp3_bytes()), ("nonsense.wav", spoken())])
    assert [(r.name, r.code) for r in result.refused] == [("tens.wav", "mp3"), ("nonsense.wav", "unknown_prompt")]
    assert read_manifest(engine_voice_dir(engine)) == before
    assert len(events(engine)) == 1  # nothing changed, nothing logged


def test_a_zip_of_clips_and_a_single_file_for_a_chosen_prompt(engine):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("giong-noi/ten.wav", spoken())
        z.writestr("giong-noi/hundred.wav", spoken(freq=300))
        z.writestr("__MACOSX/._ten.wav", b"junk")
    assert sorted(import_files(engine, "web/manager", [("pack.zip", buf.getvalue())]).imported) == ["hundred", "ten"]
    assert import_files(engine, "web/manager", [("Ghi âm 12.wav", spoken())], prompt_id="tens").imported == ["tens"]
    assert set(read_manifest(engine_voice_dir(engine)).prompts) == {"ten", "hundred", "tens"}


@pytest.mark.parametrize("member", ["../../etc/cron.d/evil.wav", "/tmp/lead.wav", "a/../../lead.wav",
                                    "..\\..\\lead.wav"])
def test_a_zip_with_paths_outside_its_folder_is_refused_whole(engine, tmp_path, member):
    import_files(engine, "web/manager", [("lead.wav", spoken())])
    before = read_manifest(engine_voice_dir(engine))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("ten.wav", spoken())
        z.writestr(member, spoken())
    with pytest.raises(VoiceFileError) as caught:
        import_files(engine, "web/manager", [("pack.zip", buf.getvalue())])
    assert caught.value.code == "zip_slip"
    assert read_manifest(engine_voice_dir(engine)) == before
    assert not (tmp_path / "lead.wav").exists() and not (engine_voice_dir(engine) / "ten.wav").exists()


def test_a_zip_bomb_is_refused_before_it_is_unpacked(engine):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("lead.wav", b"\0" * (15 * 1024 * 1024))
    assert len(buf.getvalue()) < 100_000
    with pytest.raises(VoiceFileError) as caught:
        import_files(engine, "web/manager", [("pack.zip", buf.getvalue())])
    assert caught.value.code == "zip_bomb"
    assert read_manifest(engine_voice_dir(engine)).prompts == {}


def test_removing_a_clip(engine):
    import_files(engine, "web/manager", [("lead.wav", spoken()), ("tens.wav", spoken())])
    assert remove(engine, "web/admin", "tens") and not remove(engine, "web/admin", "tens")
    assert set(read_manifest(engine_voice_dir(engine)).prompts) == {"lead"}
    assert not (engine_voice_dir(engine) / "tens.wav").exists()
    assert events(engine)[-1][:2] == ("voice_changed", "web/admin")
