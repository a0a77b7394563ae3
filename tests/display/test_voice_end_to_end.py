"""A recorded voice from the administration to the hall: clips imported on the server, the
retained `voice` message through a real Mosquitto, the pack downloaded from the server's real
waitress, and the next call spoken from those clips, then a re-recorded word taken up without
a restart."""

from __future__ import annotations

import dataclasses
import threading
import time

import pygame
import pytest

from display.announce import Announcer
from display.app import DisplayApp, display_client_id
from display.main import display_subscriptions
from display.render import Fonts, Renderer
from display.voicefetch import VoiceFetcher, load_current
from queuebox.bus import Bus
from queuebox.protocol import Topics
from queuebox.voice import read_pcm
from queuebox.words import call_words
from server import httpd
from server.voice_store import engine_voice_dir, import_files, read_manifest
from server.web import create_app
from tests.display.fakes import FakePlayer, FakeSynth, fake_wav
from tests.display.test_voicepack import expected_call
from tests.integration.test_server_mqtt import WAIT_S, Client, Server, config, server  # noqa: F401 (fixtures)
from tests.test_voice_import import spoken

WORDS = ("lead", "letter_a", "digit_1", "to_counter", "digit_2")


@pytest.fixture
def web(server):
    app = create_app(server.engine, secret_key="voice test secret")
    listener = httpd.staff_listener(app, server.engine.config.server, "127.0.0.1", 0)
    thread = threading.Thread(target=listener.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.port}"
    app.extensions["queuebox.hub"].close()
    listener.close()
    thread.join(timeout=10)


def test_clips_recorded_on_the_server_call_the_next_ticket(config, server, web, broker, tmp_path, example_config):
    config = dataclasses.replace(config, display=dataclasses.replace(config.display, voice_dir=str(tmp_path / "dv")))
    import_files(server.engine, "web/manager", [(f"{w}.wav", spoken(freq=200 + 50 * i)) for i, w in enumerate(WORDS)])
    topics = Topics(config.mqtt.root, config.site.id)
    bus = Bus(config.mqtt, topics, display_client_id(config), subscriptions=display_subscriptions(topics))
    player, synth = FakePlayer(time.monotonic), FakeSynth(seconds=0.05)
    announcer = Announcer(config, player, synth, chime=fake_wav(0.05), threaded=False)
    fetcher = VoiceFetcher(config.display.voice_dir, web, announcer.use_pack)
    fonts = Fonts(example_config.display.font_path, example_config.display.font_bold_path)
    app = DisplayApp(config, Renderer(pygame.Surface((640, 360)), fonts), bus.inbox, connected=bus.connected.is_set,
                     topics=topics, announcer=announcer, voice=fetcher.wanted)
    client = Client(broker, [])
    bus.start()

    def run_until(predicate, what):
        deadline, wait = time.monotonic() + WAIT_S, 0.0
        while time.monotonic() < deadline:
            wait = min(app.step(wait), 0.05)
            if predicate():
                return
        raise AssertionError(f"never {what}")
    try:
        version = read_manifest(engine_voice_dir(server.engine)).version
        run_until(lambda: announcer.pack is not None and announcer.pack.version == version, "got the pack")
        client.publish(topics.kiosk_take("kiosk1"), {"id": "t-1", "service": "A"})
        client.publish(topics.counter_command("2"), {"id": "n-1", "action": "next"})
        run_until(lambda: any(c.kind == "vi" for _, c in player.started), "spoke the call")
        [said] = [c for _, c in player.started if c.kind == "vi"]
        clips = load_current(tmp_path / "dv").clips
        assert read_pcm(said.wav).tolist() == expected_call(clips, [w.id for w in call_words("A001", "Quầy 2", "2")]
                                                            ).tolist()
        assert synth.calls == []

        import_files(server.engine, "web/manager", [("digit_1.wav", spoken(freq=900))])  # recorded again
        newer = read_manifest(engine_voice_dir(server.engine)).version
        run_until(lambda: announcer.pack.version == newer, "took up the new recording")
        assert announcer.pack.clips["digit_1"] != clips["digit_1"]
    finally:
        client.close()
        fetcher.close()
        bus.stop()
