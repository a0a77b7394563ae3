"""bench/display.py's calls on the display: a paho probe publishes takes and nexts through the
real broker and server, and the display's loop (DisplayApp + Renderer on SDL's dummy video
driver) runs here, in the thread that publishes, so both ends read one clock. Timed: next →
the frame showing the call presented (also while a slide shows), and that frame → the first
sound sample of the call handed to the player. The module docstring of bench/display.py says
what each number means; it sets the SDL drivers and the import path before importing this.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
import uuid
from datetime import timedelta
from typing import Any

import pygame

from benchlib import percentile  # bench/ is on the path
from mqtt_rig import BenchError, Probe, drain, json_or_none

from display.announce import Announcer
from display.app import DisplayApp, display_client_id
from display.main import SAMPLE_TIME
from display.render import Fonts, Renderer
from display.slides import sample_sources
from display.sound import Clip
from display.voicepack import Pack
from queuebox.bus import Bus
from queuebox.espeak import EspeakSynthesizer
from queuebox.protocol import Topics

TARGET_NEXT_TO_FRAME_P99_MS = 50
TARGET_FRAME_TO_SOUND_P99_MS = 300
SIZE = (1920, 1080)
KIOSK = "k1"
COUNTERS = ("1", "2")  # both serve A in the example config
WAIT_S = 5.0


class CountingSynth:
    """espeak-ng, counting the sentences it made."""

    def __init__(self) -> None:
        self.espeak = EspeakSynthesizer()
        self.count = 0

    def __call__(self, text: str, voice: str) -> bytes:
        self.count += 1
        return self.espeak(text, voice)


class NullPlayer:
    """Accepts every clip at once: the bench measures the board, not the loudspeaker."""

    def play(self, clip: Clip) -> None:
        pass

    def busy(self) -> bool:
        return False


class TimingPlayer(NullPlayer):
    """A NullPlayer that notes when each clip was handed to it (perf_counter seconds)."""

    def __init__(self) -> None:
        self.started: list[tuple[float, Clip]] = []

    def play(self, clip: Clip) -> None:
        self.started.append((time.perf_counter(), clip))


def summary(values_ms: list[float]) -> dict[str, Any]:
    ordered = sorted(values_ms)
    return {"count": len(ordered), "min_ms": round(ordered[0], 3), "p50_ms": round(percentile(ordered, 50), 3),
            "p90_ms": round(percentile(ordered, 90), 3), "p99_ms": round(percentile(ordered, 99), 3),
            "max_ms": round(ordered[-1], 3), "mean_ms": round(statistics.fmean(ordered), 3)}


# --- next -> frame ----------------------------------------------------------------------------------

class Window:
    """The display's window (pygame's dummy driver here), and when its last frame was presented."""

    def __init__(self) -> None:
        pygame.display.init()
        self.screen = pygame.display.set_mode(SIZE)
        self.presented_at = 0.0

    def present(self, rects: list[Any]) -> None:
        pygame.display.update(rects)
        self.presented_at = time.perf_counter()


class Bench:
    """The probe, the in-process display and the bookkeeping of takes and nexts."""

    def __init__(self, probe: Probe, topics: Topics, app: DisplayApp, window: Window, deadline: float,
                 wall: list[Any] | None = None) -> None:
        self.probe = probe
        self.window = window
        self.topics = topics
        self.app = app
        self.deadline = deadline
        self.wall = wall  # the display's wall clock, moved on to bring a slide before each call (mid-slide)
        self.slides_interrupted = 0
        self.run = uuid.uuid4().hex[:8]
        self.issued = 0
        self.calls = 0

    def take(self) -> None:
        command_id = f"take-{self.run}-{self.issued}"
        reply_topic = self.topics.kiosk_reply(KIOSK)
        self.probe.publish(self.topics.kiosk_take(KIOSK), {"id": command_id, "service": "A"})
        self.probe.wait(lambda at, topic, payload: topic == reply_topic and
                        (json_or_none(payload) or {}).get("id") == command_id, f"reply to {command_id}", self.deadline)
        self.issued += 1

    def newest(self) -> tuple[str | None, str | None]:
        drawn = self.app.drawn
        if drawn is None:
            return None, None
        label, counter = drawn.box("calling.label"), drawn.box("calling.counter")
        return (label.text if label else None), (counter.text if counter else None)

    def step_until(self, done: Any, what: str) -> None:
        end = min(time.monotonic() + WAIT_S, self.deadline)
        wait = 0.0
        while not done():
            if time.monotonic() > end:
                raise BenchError(f"the display did not show {what} within {WAIT_S:g} s")
            wait = min(self.app.step(wait), 0.02)

    def bring_a_slide(self) -> None:
        """Move the display's clock on past the highlight until a slide other than the previous calls shows."""
        assert self.wall is not None
        config = self.app.config.display
        self.wall[0] += timedelta(seconds=config.highlight_s)
        for _ in range(20):
            self.app.step()
            drawn = self.app.drawn
            if drawn is not None and drawn.slide not in ("", "history"):
                return
            self.wall[0] += timedelta(seconds=config.slide_s)
        raise BenchError("no slide ever showed under the newest call")

    def next(self) -> float:
        """One `next`; returns ms from publishing it to the frame that shows the call presented."""
        counter = COUNTERS[self.calls % len(COUNTERS)]
        command_id = f"next-{self.run}-{self.calls}"
        if self.wall is not None:
            self.bring_a_slide()
        before = self.newest()
        t0 = self.probe.publish(self.topics.counter_command(counter), {"id": command_id, "action": "next"})
        self.step_until(lambda: self.newest() != before, f"the call of {command_id}")
        drawn_ms = (self.window.presented_at - t0) * 1000
        reply_topic = self.topics.counter_reply(counter)
        replies: list[Any] = []

        def match(at: float, topic: str, payload: bytes) -> bool:
            body = json_or_none(payload) if topic == reply_topic else None
            if isinstance(body, dict) and body.get("id") == command_id:
                replies.append(body)
                return True
            return False
        self.probe.wait(match, f"reply to {command_id}", self.deadline)
        label = (replies[0].get("ticket") or {}).get("label")
        if self.newest()[0] != label:
            raise BenchError(f"the display shows {self.newest()} but {command_id} called {label}")
        if self.wall is not None:
            if self.app.drawn is None or self.app.drawn.slide != "history":
                raise BenchError(f"the call of {command_id} did not replace the slide with the previous calls")
            self.slides_interrupted += 1
        self.calls += 1
        return drawn_ms


def bench_next_to_frame(config: Any, fonts: Fonts, probe: Probe, topics: Topics, count: int, depth: int,
                        speech: bool, deadline: float, mid_slide: bool = False) -> dict[str, Any]:
    """Nexts timed to their frame; `mid_slide`: each arriving while a slide shows (the module docstring)."""
    slides = ("history", "procedures", "lookup", "message") if mid_slide else ("history",)
    config = dataclasses.replace(config, display=dataclasses.replace(config.display, slides=slides))
    window = Window()
    bus = Bus(config.mqtt, topics, display_client_id(config), subscriptions=[topics.board(), topics.events()])
    synth = CountingSynth() if speech else None
    announcer = Announcer(config, NullPlayer(), synth if synth and synth.espeak.available else None)
    wall = [SAMPLE_TIME] if mid_slide else None
    clock = {"clock": lambda: wall[0]} if wall is not None else {}
    app = DisplayApp(config, Renderer(window.screen, fonts), bus.inbox, connected=bus.connected.is_set,
                     topics=topics, announcer=announcer, present=window.present, **clock)
    if mid_slide:  # the procedures and the lookup address as the server's retained summaries would give them
        app.sources = sample_sources(config)
    bench = Bench(probe, topics, app, window, deadline, wall)
    bus.start()
    try:
        if mid_slide:  # after the first run: the board has its calls
            bench.step_until(lambda: app.drawn is not None and bool(app.board.calls), "the retained board")
        else:
            bench.step_until(lambda: app.drawn is not None and app.drawn.box("calling.none") is not None,
                             "the retained empty board")
        latencies: list[float] = []
        while len(latencies) < count:
            for _ in range(min(depth, count - len(latencies))):
                bench.take()
            drain(probe, quiet_s=0.05, deadline=deadline)
            for _ in range(min(depth, count - len(latencies))):
                latencies.append(bench.next())
        frames = app.renderer.frames
    finally:
        bus.stop()
        announcer.close()
        pygame.display.quit()
    return {**summary(latencies), "frames_drawn": frames, "slides": list(slides),
            **({"slides_interrupted": bench.slides_interrupted} if mid_slide else {}),
            "speech": bool(synth and synth.espeak.available), "calls_synthesised": synth.count if synth else 0,
            "target": f"p99 <= {TARGET_NEXT_TO_FRAME_P99_MS} ms",
            "meets_target": percentile(sorted(latencies), 99) <= TARGET_NEXT_TO_FRAME_P99_MS}


def bench_next_to_sound(config: Any, fonts: Fonts, probe: Probe, topics: Topics, count: int, pack: Pack | None,
                        deadline: float) -> dict[str, Any]:
    """Frame showing a call -> the first sound sample of that call handed to the player; `pack`: the
    recorded voice (None: espeak-ng)."""
    config = dataclasses.replace(config, display=dataclasses.replace(config.display, slides=("history",)))
    window = Window()
    bus = Bus(config.mqtt, topics, display_client_id(config), subscriptions=[topics.board(), topics.events()])
    player, synth, paused = TimingPlayer(), CountingSynth(), [0.0]
    announcer = Announcer(config, player, synth if synth.espeak.available else None, pack=pack,
                          monotonic=lambda: paused[0])
    app = DisplayApp(config, Renderer(window.screen, fonts), bus.inbox, connected=bus.connected.is_set,
                     topics=topics, announcer=announcer, present=window.present)
    bench = Bench(probe, topics, app, window, deadline)
    bus.start()
    latencies: list[float] = []
    try:
        bench.step_until(lambda: app.drawn is not None and bool(app.board.seq >= 0), "the retained board")
        while len(latencies) < count:
            bench.take()
            drain(probe, quiet_s=0.05, deadline=deadline)
            heard = len(player.started)
            bench.next()
            frame_at = window.presented_at  # the frame that shows the call (later frames blink it)
            bench.step_until(lambda: len(player.started) > heard, "the chime of the call")
            latencies.append((player.started[heard][0] - frame_at) * 1000)
            paused[0] += 1000.0  # the chime is over: the speech follows at once
            bench.step_until(lambda: announcer.idle, "the call spoken")
            paused[0] += 1000.0  # the speech and the pause after it are over: the next call finds a quiet hall
    finally:
        bus.stop()
        announcer.close()
        pygame.display.quit()
    spoken = [c for _, c in player.started if c.kind == "vi"]
    return {**summary(latencies), "voice": f"clips ({len(pack.clips)}, pack {pack.version})" if pack else "espeak-ng",
            "calls_synthesised": synth.count, "calls_spoken": len(spoken),
            "target": f"p99 <= {TARGET_FRAME_TO_SOUND_P99_MS} ms after the frame",
            "meets_target": percentile(sorted(latencies), 99) <= TARGET_FRAME_TO_SOUND_P99_MS}
