"""`queuebox display`: the waiting-room screen's process around its loop (display/app.py).

`run_display` wires the screen, the bus, the announcer and the loop; `render_screenshot` draws
one board off-screen to a PNG (the `--screenshot` option); `DrawnLog` (the `--drawn-log FILE`
option) appends one JSON line per frame drawn: which board is on the screen and since when,
for tests and monitoring to read.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from display.announce import Announcer
from display.sound import open_player
from queuebox.espeak import EspeakSynthesizer
from display.voicefetch import VoiceFetcher, load_current, server_url
from display.app import DisplayApp, display_client_id, wall_clock
from display.board import Board, follow, read_board, sample_board, with_services
from display.layout import fixed_texts, layout
from display.slides import SlideSources, read_lookup_url, read_summary, sample_sources, with_summary
from queuebox import notify
from queuebox.bus import Message
from queuebox.config import Config
from queuebox.errors import QueueboxError
from queuebox.protocol import ProtocolError, Topics
from queuebox.protocol_messages import parse_board, parse_procedures, parse_services

logger = logging.getLogger(__name__)
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # pygame is imported later, inside functions

DEFAULT_WINDOW = (1280, 720)
DEFAULT_SCREENSHOT = (1920, 1080)
SERVICES_GRACE_S = 1.0  # after the board, how long a screenshot waits for the services snapshot
SAMPLE_TIME = datetime(2026, 11, 23, 2, 41, tzinfo=timezone.utc)  # --sample: a Monday, 09:41 in Vietnam


def _fonts(config: Config, counter: str = "") -> Any:
    from display.counter_layout import counter_fixed_texts
    from display.render import Fonts, check_glyphs

    fonts = Fonts(config.display.font_path, config.display.font_bold_path)
    for text, chars in check_glyphs(fonts, counter_fixed_texts(config) if counter else fixed_texts(config)).items():
        logger.warning("the board font has no glyph for %s (in %r)", " ".join(chars), text)
    return fonts


def render_screenshot(config: Config, path: str | Path, size: tuple[int, int], board: Board,
                      now: datetime | None = None, *, sources: SlideSources = SlideSources(),
                      slide: str = "history") -> Path:
    """Draw `board` off-screen at `size` with the first slide of kind `slide` under the newest
    call (from `sources`), and save it as a PNG; returns the path. QueueboxError when there is
    no such slide (nothing to show on it)."""
    import pygame

    from display.render import Renderer

    now = now or wall_clock()
    fonts = _fonts(config)
    lay = layout(board, now, config, size, highlight=follow(None, board, now), measure=fonts.measure,
                 sources=sources, slide=slide)
    if slide != "history" and not lay.slide:
        raise QueueboxError(f"no {slide} slide to show: nothing for it from the server (or in --sample)")
    renderer = Renderer(pygame.Surface(size), fonts)
    renderer.draw(lay)
    return renderer.save_png(path)


def display_subscriptions(topics: Topics) -> list[str]:
    """What a display reads: the board, the events (to announce calls), the services and the
    procedures summaries (for the slides), the version of the recorded voice pack."""
    return [topics.board(), topics.events(), topics.services(), topics.all_procedures(), topics.voice()]


def _wait_for_board(config: Config, timeout_s: float) -> tuple[Board, Config, SlideSources]:
    """The live board, `config` with the server's services, and what the slides show (all
    retained, so they come at once; a server older than the `services` topic sends none: then
    the config's own)."""
    from queuebox.bus import Bus

    topics = Topics(config.mqtt.root, config.site.id)
    bus = Bus(config.mqtt, topics, display_client_id(config),
              subscriptions=[topics.board(), topics.services(), topics.all_procedures()])
    bus.start()
    board: Board | None = None
    shown = config
    sources = SlideSources()
    try:
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                item = bus.inbox.get(timeout=left)
            except queue.Empty:
                break
            if not isinstance(item, Message):
                continue
            try:
                if item.topic == topics.board():
                    board = read_board(parse_board(item.payload))
                    deadline = min(deadline, time.monotonic() + SERVICES_GRACE_S)
                elif item.topic == topics.services():
                    raw = parse_services(item.payload)
                    shown = with_services(config, raw)
                    sources = SlideSources(sources.procedures, read_lookup_url(raw))
                elif (route := topics.route(item.topic)) is not None and route.kind == "procedures":
                    summary = parse_procedures(item.payload)
                    if summary is not None:
                        sources = with_summary(sources, str(route.device), read_summary(str(route.device), summary))
            except ProtocolError as exc:
                logger.warning("ignored a bad %s: %s", item.topic.rsplit("/", 1)[-1], exc.message)
    finally:
        bus.stop()
    if board is None:
        raise QueueboxError(f"no board from the broker at {config.mqtt.host}:{config.mqtt.port} within "
                            f"{timeout_s:g} s (is `queuebox server` running?); --sample draws an example board "
                            "without one")
    return board, shown, sources


# What pygame-ce's own SDL loads from the system to draw full screen without a desktop (KMSDRM),
# and the Debian package of each (the installer installs them for the display role).
SCREEN_LIBRARIES = {"libdrm.so.2": "libdrm2", "libgbm.so.1": "libgbm1", "libEGL.so.1": "libegl1",
                    "libGLESv2.so.2": "libgles2"}


def missing_screen_libraries(find: Callable[[str], str | None] | None = None) -> list[str]:
    """The libraries of SCREEN_LIBRARIES the dynamic loader cannot find (`find`: ctypes.util.find_library)."""
    if find is None:
        from ctypes.util import find_library as find
    return [lib for lib in SCREEN_LIBRARIES if not find(lib.split(".so")[0].removeprefix("lib"))]


def screen_size(config: Config, windowed: bool, size: tuple[int, int] | None) -> tuple[tuple[int, int], bool]:
    """(size, full screen) for set_mode: (0, 0) means the screen's own size."""
    if size:
        return size, False
    if config.display.fullscreen and not windowed:
        return (config.display.width, config.display.height), True
    return (config.display.width or DEFAULT_WINDOW[0], config.display.height or DEFAULT_WINDOW[1]), False


class DrawnLog:
    """Appends one JSON line per frame drawn to a file (`--drawn-log`), flushed at once:
    ``{"mono": s, "at": ISO time, "seq": board seq (-1 before any), "calls": [[ticket, counter,
    recall], ...] newest first, "offline": bool, "confirmed": bool}`` (``confirmed``: the board
    came live from the server, see the module docstring). ``mono`` is CLOCK_MONOTONIC, one clock for
    every process of the machine, so another program can tell how long after an event a board
    was on the screen."""

    def __init__(self, path: str | Path) -> None:
        self._file = open(path, "a", encoding="utf-8")

    def __call__(self, board: Board, offline: bool, confirmed: bool) -> None:
        line = {"mono": round(time.monotonic(), 4), "at": wall_clock().isoformat(), "seq": board.seq,
                "calls": [[c.ticket, c.counter, c.recall] for c in board.calls], "offline": offline,
                "confirmed": confirmed}
        self._file.write(json.dumps(line, ensure_ascii=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def run_display(config: Config, *, windowed: bool = False, screenshot: str | None = None, sample: bool = False,
                size: tuple[int, int] | None = None, wait_s: float = 10.0, follow: bool = False,
                drawn_log: str | None = None, slide: str = "history", counter: str = "") -> int:
    """The `queuebox display` command: the board full screen (or in a window), or one screenshot
    (with the previous calls, or the first `slide` of that kind, under the newest call), or
    (`follow`) the live board headless, rewriting the screenshot after every frame.
    `drawn_log`: a file to append a line to for each frame drawn (see `DrawnLog`). `counter`: a
    counter display of that counter instead of the board (display/counter_app.py)."""
    if follow and (not screenshot or sample):
        raise QueueboxError("--follow goes with --screenshot PNG (and not with --sample)")
    if slide != "history" and (not screenshot or follow or counter):
        raise QueueboxError("--slide goes with --screenshot PNG of the board (and not with --follow)")
    if counter and screenshot and not (sample or follow):
        raise QueueboxError("--screenshot of a counter display goes with --sample (an example) or --follow (live)")
    if counter and screenshot and sample:
        from display.counter_app import render_counter_screenshot, sample_screen

        shot_size = size or (config.display.width or DEFAULT_SCREENSHOT[0],
                             config.display.height or DEFAULT_SCREENSHOT[1])
        path = render_counter_screenshot(config, screenshot, shot_size, sample_screen(config, counter), SAMPLE_TIME,
                                         _fonts(config, counter))
        print(f"wrote {path} ({shot_size[0]}x{shot_size[1]})")
        return 0
    if screenshot and follow:
        os.environ["SDL_VIDEODRIVER"] = "dummy"  # before pygame starts its video: no screen needed
        size = size or (config.display.width or DEFAULT_SCREENSHOT[0], config.display.height or DEFAULT_SCREENSHOT[1])
    elif screenshot:
        shot_size = size or (config.display.width or DEFAULT_SCREENSHOT[0],
                             config.display.height or DEFAULT_SCREENSHOT[1])
        now = SAMPLE_TIME if sample else wall_clock()  # a sample is the same picture every time
        if sample:
            board, shown, sources = sample_board(config, now), config, sample_sources(config)
        else:
            board, shown, sources = _wait_for_board(config, wait_s)
        path = render_screenshot(shown, screenshot, shot_size, board, now, sources=sources, slide=slide)
        print(f"wrote {path} ({shot_size[0]}x{shot_size[1]})")
        return 0
    if sample:
        raise QueueboxError("--sample only goes with --screenshot")

    import pygame

    from display.render import Renderer
    from queuebox.bus import Bus

    fonts = _fonts(config, counter)
    try:
        pygame.display.init()
        wanted, full = screen_size(config, windowed, size)
        screen = pygame.display.set_mode(wanted, pygame.FULLSCREEN if full else 0)
    except pygame.error as exc:
        missing = missing_screen_libraries()
        need = (f"; the libraries SDL's KMSDRM driver loads are missing: {', '.join(missing)} "
                f"(sudo apt install {' '.join(SCREEN_LIBRARIES[lib] for lib in missing)})") if missing else ""
        raise QueueboxError(f"no screen to draw on ({exc}){need}; on a Pi without a desktop set SDL_VIDEODRIVER=kmsdrm "
                            "and add the user to the video and render groups; --screenshot works without one") \
            from None
    pygame.display.set_caption(f"queuebox — {config.site.name}" + (f" — {counter}" if counter else ""))
    renderer = Renderer(screen, fonts)
    present = _to_file(renderer, Path(screenshot)) if follow and screenshot else pygame.display.update
    if full:
        pygame.mouse.set_visible(False)
    pygame.event.set_allowed([pygame.QUIT, pygame.KEYDOWN])
    announcer = fetcher = None
    if config.display.announce and not counter:  # a counter display is silent: the board speaks
        player = open_player(config.display.volume)
        if player is not None:
            speech = EspeakSynthesizer()
            if not speech.available:
                logger.warning("espeak-ng is not installed: calls are chimed, not spoken")
            voice_dir = config.display.voice_dir
            announcer = Announcer(config, player, speech if speech.available else None,
                                  pack=load_current(Path(voice_dir)) if voice_dir else None)
            if voice_dir:
                fetcher = VoiceFetcher(voice_dir, server_url(config), announcer.use_pack)
    topics = Topics(config.mqtt.root, config.site.id)
    log = DrawnLog(drawn_log) if drawn_log else None
    app: DisplayApp
    if counter:
        from display.counter_app import CounterApp, counter_subscriptions

        bus = Bus(config.mqtt, topics, display_client_id(config), subscriptions=counter_subscriptions(topics, counter))
        app = CounterApp(config, counter, renderer, bus.inbox, connected=bus.connected.is_set, topics=topics,
                         present=present, on_drawn=log)
    else:
        bus = Bus(config.mqtt, topics, display_client_id(config), subscriptions=display_subscriptions(topics))
        app = DisplayApp(config, renderer, bus.inbox, connected=bus.connected.is_set, topics=topics,
                         announcer=announcer, present=present, on_drawn=log,
                         voice=fetcher.wanted if fetcher is not None else None)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    watchdog = notify.Watchdog()  # pinged on every turn of the loop: a stuck loop gets restarted by systemd

    def pump() -> bool:
        watchdog.ping()
        for event in pygame.event.get():
            if event.type == pygame.QUIT or (event.type == pygame.KEYDOWN and event.key in (pygame.K_ESCAPE,
                                                                                              pygame.K_q)):
                return False
        return True

    logger.info("queuebox display %s for %s%s: %dx%d%s, MQTT %s:%d", config.display.id, config.site.name,
                f", counter {counter}" if counter else "",
                *screen.get_size(), " full screen" if full else f" headless to {screenshot}" if follow else "",
                config.mqtt.host, config.mqtt.port)
    bus.start()
    notify.ready(f"display {config.display.id}: {screen.get_width()}x{screen.get_height()}")
    try:
        app.run(stop, pump)
    finally:
        notify.stopping()
        bus.stop()
        if fetcher is not None:
            fetcher.close()
        if announcer is not None:
            announcer.close()
        if log is not None:
            log.close()
        pygame.quit()
    return 0


def _to_file(renderer: Any, target: Path) -> Callable[[list[Any]], None]:
    """A `present` for --follow: each frame rewrites `target`; readers never see a half-written file."""
    def present(rects: list[Any]) -> None:
        partial = target.with_name(f".{target.stem}.partial{target.suffix}")
        renderer.save_png(partial)
        os.replace(partial, target)
    return present


def parse_size(text: str) -> tuple[int, int]:
    """'1920x1080' -> (1920, 1080); ValueError otherwise."""
    w, sep, h = text.lower().partition("x")
    if not sep or not w.isdigit() or not h.isdigit() or not (0 < int(w) <= 8192 and 0 < int(h) <= 8192):
        raise ValueError(f"{text!r} is not WIDTHxHEIGHT, e.g. 1920x1080")
    return int(w), int(h)

