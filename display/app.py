"""The waiting-room screen's loop: what `queuebox display` runs (see display/main.py).

One loop (`DisplayApp.run`) owns pygame: it takes the bus's messages from its inbox (paho's
thread only enqueues), keeps the last board, works out the layout (display/layout.py),
draws what changed (display/render.py) and plays the announcements (display/announce.py).
It sleeps until a message comes, the layout would change by time (the next minute, the
next blink of the newest call) or a clip ends — idle it wakes twice a second to notice a
lost connection and keep the window responsive.

- The retained `board` is drawn as soon as it arrives, so a (re)connection redraws at once.
- A board that comes with the retain flag set was sent because this display (re)subscribed,
  not because the server published it now: after a power cut it can be the one Mosquitto
  restored from its file, older than the truth. Until a board comes live from the server
  (which republishes the board whenever a display says "online", server/mqtt.py) the board
  is "unconfirmed": drawn, but its newest call neither blinks nor releases the calls held
  for announcing, and it never replaces a newer board the display already shows.
- Broker unreachable for more than `OFFLINE_AFTER_S`: a discreet "offline" mark; the
  last board stays.
- A board that does not follow the protocol but is a JSON object is drawn as far as it
  can be (clipped and sane, display/board.py) with one warning; anything else is dropped.
- The information slides under the newest call (display/slides.py) read the retained
  `procedures/<service>` summaries (an empty payload: that field has none any more) and the
  `lookup_url` of `services`; a summary that does not follow the protocol is dropped with one
  warning and the last good one stays. The loop wakes at each turn of the slides and draws
  nothing in between.
- The retained `voice` names the server's recorded voice pack; `voice(version)` (the
  VoiceFetcher of display/voicefetch.py) downloads it on a thread of its own.

The process around it (`run_display`, screenshots, the drawn log) is display/main.py.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable

from display.announce import Announcer, CallGate
from display.board import Board, Highlight, follow, next_change, read_board, with_services
from display.boxes import Layout
from display.layout import layout
from display.slides import SlideSources, next_turn, read_lookup_url, read_summary, with_summary
from queuebox.bus import Connected, Message
from queuebox.config import Config
from queuebox.protocol import ProtocolError, Topics
from queuebox.protocol_messages import parse_board, parse_event, parse_procedures, parse_services, parse_voice

logger = logging.getLogger(__name__)
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # pygame is imported later, inside functions

OFFLINE_AFTER_S = 5.0
IDLE_WAKE_S = 0.5  # longest sleep: notice a lost connection, answer the window
MAX_LENIENT_BYTES = 64 * 1024  # a non-conforming board bigger than this is not even looked at


def display_client_id(config: Config) -> str:
    """The display's fixed MQTT client id, also its account name: display-<id>."""
    return f"display-{config.display.id}"


def wall_clock() -> datetime:
    return datetime.now(timezone.utc)


class DisplayApp:
    """The display's state and loop; see the module docstring.

    `renderer` draws on the screen (or any surface); `present(rects)` pushes changed
    rectangles to the screen; `connected()` says whether the bus is connected now;
    `on_drawn(board, offline)` is told after each layout drawn and presented (also when no
    pixel changed: the screen then already showed it). `confirmed` says whether the board
    on the screen came live from the server since the last (re)connection (module docstring).
    """

    def __init__(self, config: Config, renderer: Any, inbox: queue.Queue[Message | Connected], *,
                 connected: Callable[[], bool], topics: Topics, announcer: Announcer | None = None,
                 present: Callable[[list[Any]], None] = lambda rects: None,
                 clock: Callable[[], datetime] = wall_clock, monotonic: Callable[[], float] = time.monotonic,
                 offline_after_s: float = OFFLINE_AFTER_S,
                 on_drawn: Callable[[Board, bool, bool], None] | None = None,
                 voice: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.board_config = config  # with the services the server sends (names, open or closed) in place
        self.renderer = renderer
        self.inbox = inbox
        self.connected = connected
        self.topics = topics
        self.announcer = announcer
        self.present = present
        self.clock = clock
        self.monotonic = monotonic
        self.offline_after_s = offline_after_s
        self.on_drawn = on_drawn  # (board, offline, confirmed) after each frame presented
        self.voice = voice  # told the version of the server's voice pack (VoiceFetcher.wanted)
        self.board = Board()
        self.sources = SlideSources()  # what the slides show: the procedures and the lookup page's address
        self.highlight: Highlight | None = None
        self.gate = CallGate()
        self.offline = False
        self.confirmed = False  # the board came live from the server since the last (re)connection
        self.size = renderer.surface.get_size()
        self._down_since: float | None = monotonic()
        self._next_change: datetime | None = None
        self._drawn_at: datetime | None = None
        self._dirty = True
        self._warned: set[str] = set()

    @property
    def drawn(self) -> Layout | None:
        """The layout on the screen now."""
        return self.renderer.drawn

    # --- one turn of the loop -------------------------------------------------------------------

    def step(self, timeout: float = 0.0) -> float:
        """Wait up to `timeout` s for a message, handle every queued one, redraw if the layout
        changed, move the announcements on. Returns how long the loop may sleep next."""
        try:
            item = self.inbox.get(timeout=timeout) if timeout > 0 else self.inbox.get_nowait()
        except queue.Empty:
            item = None
        while item is not None:
            self.handle(item)
            try:
                item = self.inbox.get_nowait()
            except queue.Empty:
                item = None
        self._check_connection()
        for event in self.gate.tick(self.monotonic()):
            self._announce(event)
        self.redraw()
        wait = IDLE_WAKE_S
        if self._next_change is not None:
            wait = min(wait, max(0.0, (self._next_change - self.clock()).total_seconds()))
        if self.announcer is not None:
            more = self.announcer.poll()
            if more is not None:
                wait = min(wait, more)
        return wait

    def redraw(self) -> bool:
        """Draw the layout if it changed (board, connection, or time); True if pixels changed."""
        now = self.clock()
        # a clock set back (a Pi has no clock battery; NTP corrects it) must not freeze the board
        unchanged = self._drawn_at is not None and self._next_change is not None and \
            self._drawn_at <= now < self._next_change
        if not self._dirty and unchanged:
            return False
        self._dirty = False
        self._drawn_at = now
        highlight = self.highlight if self.confirmed else None  # an unconfirmed call is not shown as new
        lay = layout(self.board, now, self.board_config, self.size, highlight=highlight, offline=self.offline,
                     measure=self.renderer.fonts.measure, sources=self.sources)
        self._next_change = next_change(now, highlight, self.config, paging=lay.paging)
        if lay.rotating:  # the next slide: drawn at its turn, nothing in between
            self._next_change = min(self._next_change, next_turn(now, highlight, self.config))
        rects = self.renderer.draw(lay)
        if rects:
            self.present(rects)
        if self.on_drawn is not None:  # the screen shows this layout now, whether or not pixels changed
            self.on_drawn(self.board, self.offline, self.confirmed)
        return bool(rects)

    def run(self, stop: threading.Event, pump: Callable[[], bool] = lambda: True) -> None:
        """Loop until `stop` is set or `pump()` (the window's events) returns False."""
        wait = 0.0
        while not stop.is_set():
            if not pump():
                break
            try:
                wait = self.step(wait)
            except Exception:  # a bug must not blank the waiting room: log it, keep the last picture
                logger.exception("display loop failed; carrying on")
                wait = IDLE_WAKE_S

    # --- input ------------------------------------------------------------------------------------

    def handle(self, item: Message | Connected) -> None:
        if isinstance(item, Connected):
            self.gate.connected(self.monotonic())
            self.confirmed = False  # until the server sends a board live again
            self._dirty = True
            return
        route = self.topics.route(item.topic)
        if route is None or route.kind not in ("board", "events", "services", "procedures", "voice"):
            self._warn_once(f"topic:{item.topic}", "dropped a message on unexpected topic %r", item.topic)
        elif route.kind == "board":
            self._on_board(item.payload, restored=item.retain)
        elif route.kind == "services":
            self._on_services(item.payload)
        elif route.kind == "procedures":
            self._on_procedures(str(route.device), item.payload)
        elif route.kind == "voice":
            self._on_voice(item.payload)
        else:
            self._on_event(item.payload)

    def _on_board(self, payload: bytes, restored: bool = False) -> None:
        """`restored`: the board came with the retain flag (see the module docstring)."""
        try:
            raw: Any = parse_board(payload)
        except ProtocolError as exc:
            raw = _lenient_json(payload)
            if not isinstance(raw, dict):
                self._warn_once("board:unreadable", "dropped a board that is not a JSON object: %s", exc.message)
                return
            self._warn_once("board:nonconforming", "a board does not follow the protocol (%s); drawn as far as "
                            "it can be", exc.message)
        board = read_board(raw)
        if restored:
            if self.board.seq >= 0 and board.seq <= self.board.seq:
                return  # the screen shows this board or a newer one (a broker's file is older)
            self.board = board
            self.confirmed = False
            self.gate.board_seq = board.seq  # calls it shows are not announced; the newer ones stay held
            self._dirty = True
            return
        shown = self.board.seq
        self.board = board
        self.highlight = follow(self.highlight, board, self.clock())
        self.confirmed = True
        self._dirty = True
        # calls held since the (re)connection that the screen never showed are announced (made
        # while the broker was away); those it showed, or a fresh display's history, are not
        released = self.gate.board(shown) if shown >= 0 else []
        for event in released + self.gate.board(board.seq):
            self._announce(event)

    def _on_services(self, payload: bytes) -> None:
        try:
            raw = parse_services(payload)
        except ProtocolError as exc:
            self._warn_once("services", "dropped a bad services snapshot: %s", exc.message)
            return
        self.board_config = with_services(self.config, raw)
        self.sources = SlideSources(self.sources.procedures, read_lookup_url(raw))
        self._dirty = True

    def _on_procedures(self, service: str, payload: bytes) -> None:
        """A field's procedures summary; an empty payload: the field has none any more."""
        try:
            raw = parse_procedures(payload)
        except ProtocolError as exc:
            self._warn_once(f"procedures:{service}", "dropped a bad procedures summary of %s: %s", service,
                            exc.message)
            return
        if raw is not None and raw.get("service") != service:
            self._warn_once(f"procedures:{service}", "dropped a procedures summary of %s sent on the topic of %s",
                            raw.get("service"), service)
            return
        self.sources = with_summary(self.sources, service, read_summary(service, raw) if raw is not None else None)
        self._dirty = True

    def _on_voice(self, payload: bytes) -> None:
        try:
            version = parse_voice(payload)["version"]
        except ProtocolError as exc:
            self._warn_once("voice", "dropped a bad voice message: %s", exc.message)
            return
        if self.voice is not None:
            self.voice(version)

    def _on_event(self, payload: bytes) -> None:
        try:
            event = parse_event(payload)
        except ProtocolError as exc:
            self._warn_once("event", "dropped a bad event: %s", exc.message)
            return
        for accepted in self.gate.event(event, self.monotonic()):
            self._announce(accepted)

    def _announce(self, event: dict[str, Any]) -> None:
        if self.announcer is None:
            return
        counter_id = str(event.get("counter") or "")
        configured = self.config.counter(counter_id)
        shown = next((c.counter_name for c in self.board.calls if c.counter == counter_id), "")
        self.announcer.offer(event, configured.name if configured else shown or counter_id)

    def _check_connection(self) -> None:
        now = self.monotonic()
        if self.connected():
            self._down_since = None
            offline = False
        else:
            if self._down_since is None:
                self._down_since = now
            offline = now - self._down_since > self.offline_after_s
        if offline != self.offline:
            self.offline = offline
            self._dirty = True
            if offline:
                logger.warning("broker unreachable for more than %g s: showing the last board as offline",
                               self.offline_after_s)
            else:
                logger.info("broker reachable again")

    def _warn_once(self, key: str, message: str, *args: Any) -> None:
        if key not in self._warned:
            self._warned.add(key)
            logger.warning(message, *args)
        else:
            logger.debug(message, *args)


def _lenient_json(payload: bytes) -> Any:
    if len(payload) > MAX_LENIENT_BYTES:
        return None
    try:
        return json.loads(payload)
    except (ValueError, RecursionError):
        return None


# --- the process ------------------------------------------------------------------------------------
