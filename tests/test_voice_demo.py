"""The demo's voice pack (server/voice_demo.py): every prompt spoken by espeak-ng, imported like a
manager's recordings, cached, and enough for the display to call every ticket from clips."""

from __future__ import annotations

import shutil

import pytest

from display.voicepack import load_pack
from queuebox.espeak import EspeakSynthesizer
from queuebox.words import call_words
from server.engine import Engine
from server.voice_demo import espeak_clips, seed_voice
from server.voice_store import centre_prompts, engine_voice_dir, read_manifest
from tests.factories import FakeClock, make_config

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


@pytest.fixture
def engine(tmp_path):
    counters = [{"id": "1", "name": "Quầy 1", "services": {"A": 1}},
                {"id": "tn", "name": "Bàn trả kết quả", "services": {"B": 1, "C": 1}}]
    eng = Engine(make_config(counters=counters), tmp_path / "q.db", clock=FakeClock())
    yield eng
    eng.close()


@needs_espeak
def test_the_demo_pack_has_every_prompt_and_calls_from_clips(engine, tmp_path):
    assert seed_voice(engine, tmp_path / "cache") == len(centre_prompts(engine.config))
    pack = load_pack(engine_voice_dir(engine))
    for label, counter, cid in (("A021", "Quầy 1", "1"), ("B105", "Bàn trả kết quả", "tn"), ("C999", "Quầy 1", "1")):
        assert pack.missing(call_words(label, counter, cid, priority=True)) == []
    assert seed_voice(engine, tmp_path / "cache") == 0  # a pack is there: left as it is
    assert read_manifest(engine_voice_dir(engine)).prompts["counter_tn"].text == "đến Bàn trả kết quả"


@needs_espeak
def test_clips_are_made_once_and_then_come_from_the_cache(engine, tmp_path):
    made = []

    def counting(text, voice):
        made.append(text)
        return EspeakSynthesizer()(text, voice)
    first = espeak_clips(engine.config, tmp_path / "cache", counting)
    again = espeak_clips(engine.config, tmp_path / "cache", counting)
    assert len(made) == len(first) and first == again


def test_without_espeak_the_demo_has_no_pack_and_says_so(engine, tmp_path, caplog, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no espeak-ng on it
    assert seed_voice(engine, tmp_path / "cache") == 0
    assert read_manifest(engine_voice_dir(engine)).prompts == {}
    assert "no demo voice pack" in caplog.text
