"""Spoken calls (display/announce.py): the words, which events are spoken, and the queue, with a fake
player and a fake clock; espeak-ng itself once, when it is installed."""

from __future__ import annotations

import dataclasses
import logging
import shutil

import pytest

from display.announce import Announcer, CallGate
from display.sound import Clip, make_chime, wav_seconds
from queuebox.espeak import EspeakSynthesizer
from queuebox.words import call_text, spoken_counter, spoken_label, vietnamese_number
from tests.display.fakes import Clock, FakePlayer, FakeSynth, fake_wav


def called(seq, ticket="A023", counter="3", kind="called"):
    return {"seq": seq, "at": "2026-11-23T09:41:00.000+07:00", "type": kind, "ticket": ticket, "counter": counter,
            "service": "A"}


def run_until_idle(announcer, clock, limit_s=600):
    """Drive the announcer as the display's loop does, moving the fake clock by what poll asks."""
    end = clock.now + limit_s
    while not announcer.idle and clock.now < end:
        wait = announcer.poll()
        clock.now += wait if wait else 0.05
    assert announcer.idle, "the announcer did not finish"


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def player(clock):
    return FakePlayer(clock)


@pytest.fixture
def synth():
    return FakeSynth()


def make(config, player, synth, clock, **display):
    config = dataclasses.replace(config, display=dataclasses.replace(config.display, **display))
    return Announcer(config, player, synth, chime=fake_wav(1.0), monotonic=clock, threaded=False)


# --- the words -----------------------------------------------------------------------------------

@pytest.mark.parametrize("n,words", [
    (0, "không"), (1, "một"), (5, "năm"), (10, "mười"), (11, "mười một"), (15, "mười lăm"), (20, "hai mươi"),
    (21, "hai mươi mốt"), (23, "hai mươi ba"), (24, "hai mươi tư"), (25, "hai mươi lăm"), (100, "một trăm"),
    (101, "một trăm linh một"), (105, "một trăm linh năm"), (110, "một trăm mười"), (115, "một trăm mười lăm"),
    (999, "chín trăm chín mươi chín"), (1000, "một nghìn"), (1005, "một nghìn không trăm linh năm"),
    (2024, "hai nghìn không trăm hai mươi tư"), (12345, "mười hai nghìn ba trăm bốn mươi lăm"),
])
def test_numbers_are_read_the_vietnamese_way(n, words):
    assert vietnamese_number(n) == words


@pytest.mark.parametrize("label,words", [
    ("A023", "a hai mươi ba"), ("B105", "bê một trăm linh năm"), ("C001", "xê một"), ("E-015", "e mười lăm"),
    ("0042", "bốn mươi hai"),
])
def test_labels_spell_letters_and_read_numbers(label, words):
    assert spoken_label(label) == words


@pytest.mark.parametrize("name,words", [
    ("Quầy 3", "quầy số ba"), ("quầy số 12", "quầy số mười hai"), ("Phòng 2", "Phòng hai"),
    ("Bàn tiếp nhận", "Bàn tiếp nhận"),
])
def test_counter_names(name, words):
    assert spoken_counter(name) == words


def test_the_call_sentences():
    assert call_text("A023", "Quầy 3", "3") == {
        "vi": "Mời công dân có số thứ tự a hai mươi ba đến quầy số ba",
        "en": "Ticket number A 23, please go to counter 3.",
    }


# --- which events are spoken --------------------------------------------------------------------

def test_gate_passes_calls_and_recalls_once_each():
    gate = CallGate()
    assert gate.event(called(5), 0) == [called(5)]
    assert gate.event(called(5), 0) == []  # QoS 1 redelivery
    assert gate.event(called(6, kind="recalled"), 0) == [called(6, kind="recalled")]
    assert gate.event({"seq": 7, "type": "issued", "ticket": "A024"}, 0) == []
    assert gate.event({"seq": "8", "type": "called"}, 0) == []


def test_gate_ignores_events_older_than_the_board():
    gate = CallGate()
    gate.board(40)
    assert gate.event(called(39), 0) == [] and gate.event(called(40), 0) == []
    assert gate.event(called(41), 0) == [called(41)]


def test_after_a_connection_queued_events_wait_for_the_board_and_old_ones_are_dropped():
    gate = CallGate(hold_s=3)
    gate.board(10)
    gate.connected(now=100)
    # the broker hands over what was queued while away, then the retained board (seq 13)
    assert [gate.event(called(s), 100.1) for s in (11, 12, 13)] == [[], [], []]
    assert gate.board(13) == []
    assert gate.event(called(14), 101) == [called(14)]


def test_held_events_newer_than_the_board_are_spoken_in_order():
    gate = CallGate(hold_s=3)
    gate.connected(now=0)
    for s in (9, 7, 8):
        assert gate.event(called(s), 0.1) == []
    assert [e["seq"] for e in gate.board(7)] == [8, 9]


def test_without_a_board_held_events_are_released_after_hold_s():
    gate = CallGate(hold_s=3)
    gate.connected(now=0)
    assert gate.event(called(1), 0.5) == [] and gate.tick(2.9) == []
    assert gate.tick(3.0) == [called(1)] and not gate.holding


# --- the queue ------------------------------------------------------------------------------------

def test_a_call_is_a_chime_then_the_vietnamese_sentence(example_config, player, synth, clock):
    announcer = make(example_config, player, synth, clock)
    announcer.offer(called(1), "Quầy 3")
    run_until_idle(announcer, clock)
    assert [(c.kind, c.text) for _, c in player.started] == [
        ("chime", ""), ("vi", "Mời công dân có số thứ tự a hai mươi ba đến quầy số ba")]
    assert synth.calls == [("Mời công dân có số thứ tự a hai mươi ba đến quầy số ba", "vi")]


def test_a_burst_is_spoken_in_order_without_overlap(example_config, player, synth, clock):
    announcer = make(example_config, player, synth, clock)
    for seq, ticket in enumerate(["A023", "B015", "C007", "A024", "E030"], start=1):
        announcer.offer(called(seq, ticket=ticket), "Quầy 3")
    run_until_idle(announcer, clock)
    assert [c.seq for _, c in player.started if c.kind == "chime"] == [1, 2, 3, 4, 5]
    spans = [(at, at + c.seconds) for at, c in player.started]
    assert all(end <= next_start for (_, end), (next_start, _) in zip(spans, spans[1:]))  # FakePlayer checks too


def test_repeat_and_english(example_config, player, synth, clock):
    announcer = make(example_config, player, synth, clock, announce_repeat=2, announce_english=True)
    announcer.offer(called(1), "Quầy 3")
    run_until_idle(announcer, clock)
    assert [c.kind for _, c in player.started] == ["chime", "vi", "en", "vi", "en"]
    assert ("Ticket number A 23, please go to counter 3.", "en") in synth.calls
    assert len(synth.calls) == 2  # the repeat reuses the synthesised speech


def test_a_recall_is_spoken_again_and_a_redelivery_is_not(example_config, player, synth, clock):
    gate = CallGate()
    announcer = make(example_config, player, synth, clock)
    for event in (called(1), called(1), called(2, kind="recalled"), called(2, kind="recalled")):
        for accepted in gate.event(event, clock.now):
            announcer.offer(accepted, "Quầy 3")
    run_until_idle(announcer, clock)
    assert [c.seq for _, c in player.started if c.kind == "vi"] == [1, 2]


def test_events_older_than_the_board_are_not_spoken(example_config, player, synth, clock):
    gate = CallGate()
    announcer = make(example_config, player, synth, clock)
    gate.board(20)
    for event in (called(19), called(20), called(21, ticket="B002")):
        for accepted in gate.event(event, clock.now):
            announcer.offer(accepted, "Quầy 3")
    run_until_idle(announcer, clock)
    assert [c.seq for _, c in player.started] == [21, 21]


def test_speech_failure_still_chimes_and_logs_once(example_config, player, clock, caplog):
    def broken(text, voice):
        raise OSError("no voice")
    announcer = make(example_config, player, broken, clock)
    with caplog.at_level(logging.WARNING, logger="display.announce"):
        announcer.offer(called(1), "Quầy 3")
        announcer.offer(called(2), "Quầy 3")
        run_until_idle(announcer, clock)
    assert [c.kind for _, c in player.started] == ["chime", "chime"]
    assert len([r for r in caplog.records if "speech failed" in r.message]) == 1


def test_synthesis_on_the_worker_thread_keeps_the_order(example_config, player, synth, clock):
    announcer = Announcer(example_config, player, synth, chime=fake_wav(1.0), monotonic=clock, threaded=True)
    try:
        for seq in range(1, 6):
            announcer.offer(called(seq, ticket=f"A{seq:03d}"), "Quầy 1")
        run_until_idle(announcer, clock)
    finally:
        announcer.close()
    assert [c.seq for _, c in player.started if c.kind == "vi"] == [1, 2, 3, 4, 5]


def test_the_built_in_chime_is_a_wav_of_about_a_second():
    assert 1.0 < wav_seconds(make_chime()) < 2.0


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_espeak_speaks_vietnamese_to_a_wav():
    wav = EspeakSynthesizer()("Mời công dân có số thứ tự a hai mươi ba đến quầy số ba", "vi")
    assert wav[:4] == b"RIFF" and 2.0 < wav_seconds(wav) < 10.0


# --- the pygame player ---------------------------------------------------------------------------

def test_pygame_player_plays_on_the_dummy_audio_driver():
    import pygame

    from display.sound import open_player
    player = open_player(0.5)
    try:
        assert player is not None and not player.busy()
        chime = make_chime()
        player.play(Clip("chime", "", chime, wav_seconds(chime)))
        assert player.busy()
        assert abs(player.sound.get_volume() - 0.5) < 0.01
    finally:
        pygame.mixer.quit()


def test_no_audio_device_is_one_log_line_and_no_player(monkeypatch, caplog):
    import pygame

    from display.sound import open_player
    monkeypatch.setenv("SDL_AUDIODRIVER", "no-such-driver")
    with caplog.at_level(logging.WARNING, logger="display.sound"):
        assert open_player(0.8) is None
    pygame.mixer.quit()
    assert [r.message.split(" (")[0] for r in caplog.records] == ["no audio device"]
