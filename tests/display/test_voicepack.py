"""Calls in a recorded voice (display/voicepack.py and the Announcer's clip path): synthetic packs
whose words are tones of known frequencies, checked sample for sample."""

from __future__ import annotations

import array
import dataclasses
import logging

import pytest

from display.announce import Announcer
from display.voicepack import WORD_GAP_S, assemble, load_pack
from queuebox.voice import PACK_RATE, read_pcm

from queuebox.words import call_words
from tests.display.fakes import Clock, FakePlayer, FakeSynth, fake_wav
from tests.display.test_announce import called, run_until_idle
from tests.helpers.voice import tone, tone_clips, write_pack


def expected_call(clips, ids):
    gap = array.array("h", bytes(2 * round(WORD_GAP_S * PACK_RATE)))
    out = array.array("h")
    for i, pid in enumerate(ids):
        out.extend(gap if i else array.array("h"))
        out.extend(clips[pid])
    return out


def test_clips_are_joined_sample_for_sample_with_gaps():
    a, b, c = tone(440, 0.05), tone(880, 0.03), tone(1320, 0.02)
    samples = read_pcm(assemble([a, b, c], gap_s=0.01))
    gap = [0] * round(0.01 * PACK_RATE)
    assert samples.tolist() == a.tolist() + gap + b.tolist() + gap + c.tolist()


@pytest.mark.parametrize("label", ["A001", "A010", "A015", "A021", "A024", "A105", "B100", "C999"])
def test_a_call_is_spoken_from_the_clips_in_order(tmp_path, example_config, label):
    clips = tone_clips()
    write_pack(tmp_path / "voice", clips)
    pack = load_pack(tmp_path / "voice")
    assert pack is not None and set(pack.clips) == set(clips)
    clock = Clock()
    player, synth = FakePlayer(clock), FakeSynth()
    announcer = Announcer(example_config, player, synth, chime=fake_wav(1.0), monotonic=clock, threaded=False,
                          pack=pack)
    announcer.offer(called(1, ticket=label, counter="3"), "Quầy 3")
    run_until_idle(announcer, clock)
    (_, chime), (_, spoken) = player.started
    ids = [w.id for w in call_words(label, "Quầy 3", "3")]
    assert read_pcm(spoken.wav).tolist() == expected_call(clips, ids).tolist()
    assert synth.calls == []  # no espeak-ng when the pack has every word


def test_a_priority_call_starts_with_the_uu_tien_clip(tmp_path, example_config):
    clips = tone_clips()
    write_pack(tmp_path / "voice", clips)
    clock = Clock()
    player = FakePlayer(clock)
    announcer = Announcer(example_config, player, FakeSynth(), chime=fake_wav(1.0), monotonic=clock, threaded=False,
                          pack=load_pack(tmp_path / "voice"))
    announcer.offer({**called(1, ticket="A001", counter="3"), "priority": True}, "Quầy 3")
    run_until_idle(announcer, clock)
    spoken = read_pcm(player.started[1][1].wav)
    assert spoken[:len(clips["priority"])].tolist() == clips["priority"].tolist()


def test_spoken_twice_with_the_configured_pause(tmp_path, example_config):
    write_pack(tmp_path / "voice", tone_clips())
    config = dataclasses.replace(example_config, display=dataclasses.replace(
        example_config.display, announce_repeat=2, announce_pause_s=1.5))
    clock = Clock()
    player = FakePlayer(clock)
    announcer = Announcer(config, player, FakeSynth(), chime=fake_wav(1.0), monotonic=clock, threaded=False,
                          pack=load_pack(tmp_path / "voice"))
    announcer.offer(called(1, ticket="A021", counter="3"), "Quầy 3")
    run_until_idle(announcer, clock)
    (_, _), (first_at, first), (second_at, second) = player.started
    assert first.wav == second.wav
    assert second_at - (first_at + first.seconds) == pytest.approx(1.5, abs=0.06)


def test_a_pack_missing_muoi_speaks_those_calls_with_espeak_and_logs_once(tmp_path, example_config, caplog):
    clips = tone_clips()
    del clips["tens"]
    write_pack(tmp_path / "voice", clips)
    clock = Clock()
    player, synth = FakePlayer(clock), FakeSynth(seconds=0.5)
    announcer = Announcer(example_config, player, synth, chime=fake_wav(1.0), monotonic=clock, threaded=False,
                          pack=load_pack(tmp_path / "voice"))
    with caplog.at_level(logging.WARNING, logger="display.announce"):
        for seq, label in enumerate(["A021", "A001", "A024"], start=1):
            announcer.offer(called(seq, ticket=label, counter="3"), "Quầy 3")
        run_until_idle(announcer, clock)
    spoken = [c for _, c in player.started if c.kind == "vi"]
    assert [s.text for s in spoken] == [f"Mời công dân có số thứ tự a {n} đến quầy số ba"
                                        for n in ("hai mươi mốt", "một", "hai mươi tư")]
    assert [t for t, _ in synth.calls] == [spoken[0].text, spoken[2].text]  # A001 came from the clips
    assert read_pcm(spoken[1].wav).tolist() == expected_call(
        clips, [w.id for w in call_words("A001", "Quầy 3", "3")]).tolist()
    warnings = [r.message for r in caplog.records if "no clip" in r.message]
    assert warnings == ["the voice pack has no clip for 'mươi': calls that need it are spoken by espeak-ng"]


def test_a_damaged_clip_is_left_out_and_the_rest_loads(tmp_path, caplog):
    write_pack(tmp_path / "voice", tone_clips())
    (tmp_path / "voice" / "digit_3.wav").write_bytes(b"RIFF....not a wav")
    with caplog.at_level(logging.WARNING, logger="display.voicepack"):
        pack = load_pack(tmp_path / "voice")
    assert pack is not None and "digit_3" not in pack.clips and "digit_4" in pack.clips
    assert any("digit_3 left out" in r.message for r in caplog.records)


def test_no_manifest_is_no_pack_and_a_bad_one_is_logged(tmp_path, caplog):
    assert load_pack(tmp_path) is None
    (tmp_path / "manifest.json").write_text('{"format": 1, "rate": 8000, "prompts": {}}')
    with caplog.at_level(logging.WARNING, logger="display.voicepack"):
        assert load_pack(tmp_path) is None
    assert "rate" in caplog.records[0].message
