"""A counter display's loop: `queuebox display --counter ID` (or `display.counter`), a small screen
above one counter showing its number (display/counter_layout.py draws it; no voice: the board speaks).

`CounterApp` is the board's loop (display/app.py: the inbox, the offline mark, the clock, the
"confirmed" rule after a power cut) with the counter's retained `counter/<id>/state` added and a
different picture:
- The state is what the screen shows: the number called or served, paused with its reason, free.
  One that is not valid is dropped with one warning and the last good one stays; an empty
  retained payload (the server deleted it: the counter was removed) shows "not in use".
- A state that comes with the retain flag is drawn at once but, like the board's, may be one the
  broker restored from its file after a power cut: it never replaces a newer state already shown.
- The number blinks for `display.highlight_s` after each call or recall of it, known from the
  board's newest call of this counter (queuebox/counter_screen.py says why), and only once the
  board came live from the server (`confirmed`), as on the board: an old call never blinks again
  after a restart or an outage.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
from datetime import datetime
from typing import Any, Callable

from display.app import DisplayApp
from display.board import CLIP, Board, Highlight, clean, follow, next_change
from display.counter_layout import call_highlight, counter_layout
from queuebox.bus import Connected, Message
from queuebox.config import Config
from queuebox.counter_screen import REMOVED, CounterScreen, screen_of
from queuebox.protocol import MAX_REASON, ProtocolError, Topics
from queuebox.protocol_messages import parse_counter_state

logger = logging.getLogger(__name__)


def counter_subscriptions(topics: Topics, counter: str) -> list[str]:
    """What a counter display reads: its counter's state, the board (its calls) and the services."""
    return [topics.counter_state(counter), topics.board(), topics.services()]


def sample_screen(config: Config, counter: str) -> CounterScreen:
    """An example: `counter` calling its services' fourth ticket (for `--sample` screenshots and docs)."""
    cfg = config.counter(counter)
    code = next(iter(cfg.services), "A") if cfg else "A"
    svc = config.service(code)
    return CounterScreen(counter, "calling", svc.label(23) if svc else f"{code}023", name=cfg.name if cfg else counter,
                         seq=412)


class CounterApp(DisplayApp):
    """The loop of a counter display for counter `counter`; see the module docstring. Arguments
    as for `DisplayApp` (no announcer)."""

    def __init__(self, config: Config, counter: str, renderer: Any, inbox: queue.Queue[Message | Connected], *,
                 connected: Callable[[], bool], topics: Topics, **options: Any) -> None:
        super().__init__(config, renderer, inbox, connected=connected, topics=topics, announcer=None, **options)
        self.counter = counter
        self.state: dict[str, Any] | str | None = None  # the last good state, REMOVED, or None before any
        self.call: Highlight | None = None  # the counter's newest call on the board, as `follow` tracks it

    @property
    def screen(self) -> CounterScreen:
        """What the screen shows now."""
        configured = self.config.counter(self.counter)
        screen = screen_of(self.counter, self.state, configured.name if configured else "")
        return dataclasses.replace(screen, ticket=clean(screen.ticket, CLIP["ticket"]),
                                   name=clean(screen.name, CLIP["counter_name"]), reason=clean(screen.reason, MAX_REASON))

    def handle(self, item: Message | Connected) -> None:
        route = self.topics.route(item.topic) if isinstance(item, Message) else None
        if route is not None and route.kind == "state" and route.device == self.counter:
            self._on_state(item.payload, restored=item.retain)  # type: ignore[union-attr]
            return
        super().handle(item)

    def _on_board(self, payload: bytes, restored: bool = False) -> None:
        super()._on_board(payload, restored)
        if not restored and self.confirmed:  # calls count once the board came live (module docstring)
            own = Board(seq=self.board.seq, calls=tuple(c for c in self.board.calls if c.counter == self.counter))
            self.call = follow(self.call, own, self.clock())

    def _on_state(self, payload: bytes, restored: bool) -> None:
        if not payload:
            if self.state != REMOVED:
                logger.warning("counter %s is no longer in use (the server deleted its state)", self.counter)
            self.state, self._dirty = REMOVED, True
            return
        try:
            state = parse_counter_state(payload)
        except ProtocolError as exc:
            self._warn_once("state", "dropped a bad state of counter %s, kept the last good one: %s", self.counter,
                            exc.message)
            return
        shown = self.state.get("seq", -1) if isinstance(self.state, dict) else -1
        if restored and shown >= 0 and state["seq"] <= shown:
            return  # the screen shows this state or a newer one (a broker's file is older)
        self.state, self._dirty = state, True

    def redraw(self) -> bool:
        """Draw the counter's picture if it changed (state, board, connection, or time)."""
        now = self.clock()
        unchanged = self._drawn_at is not None and self._next_change is not None and \
            self._drawn_at <= now < self._next_change  # a clock set back must not freeze the screen
        if not self._dirty and unchanged:
            return False
        self._dirty = False
        self._drawn_at = now
        screen = self.screen
        highlight = call_highlight(screen, self.call) if self.confirmed else None
        lay = counter_layout(screen, now, self.config, self.size, highlight=highlight, offline=self.offline,
                             measure=self.renderer.fonts.measure)
        self._next_change = next_change(now, highlight, self.config)
        rects = self.renderer.draw(lay)
        if rects:
            self.present(rects)
        if self.on_drawn is not None:
            self.on_drawn(self.board, self.offline, self.confirmed)
        return bool(rects)


def render_counter_screenshot(config: Config, path: Any, size: tuple[int, int], screen: CounterScreen,
                              now: datetime, fonts: Any) -> Any:
    """Draw `screen` off-screen at `size` and save it as a PNG; returns the path."""
    import pygame

    from display.render import Renderer

    renderer = Renderer(pygame.Surface(size), fonts)
    renderer.draw(counter_layout(screen, now, config, size, measure=fonts.measure))
    return renderer.save_png(path)
