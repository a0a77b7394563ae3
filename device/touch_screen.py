"""The touch kiosk's screen loop: pygame events in, `TouchKiosk` rules, the kiosk's presses out.

It runs on the process's main thread (SDL wants its window there) beside the kiosk's own loop
(`device.kiosk.Kiosk`), which alone talks to the printer and MQTT. A touch on a service tile
becomes a press of that service's button (`ButtonEvent`s into the kiosk's inbox, after a press
of the priority button for a priority ticket), so the press rules, the `take` protocol, its
retries and the printing are the button kiosk's own. A checklist goes to the same loop as an
`ExtraPrint`. What comes back — the `services`, `board` and `procedures/+` snapshots, outcomes,
printer faults, fetched details — is posted here from other threads (`post`), which wakes the
loop with a pygame user event.

Simulation (`queuebox kiosk --simulate`, typed or published to ``kiosk/<id>/simulate``):
``touch:X,Y`` taps at pixel (X, Y); a widget's name taps its centre — ``tile:A``, ``priority``,
``group:CT``, ``lookup``, ``lang``, ``back``, ``done``, ``field:A``, ``procedure:12``, ``next``, ``prev``,
``checklist``, ``take_here``; a button kiosk's text (``a``, ``pa``) taps what takes that ticket.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any, Callable

from device.buttons import PRIORITY, ButtonEvent, group_button
from device.checklist import compose_checklist, fetch_procedure
from device.kiosk import ExtraPrint, Outcome, PrintedTicket
from device.ticket import SiteText
from device.touch_input import MOUSE, Pointer, Tap, Taps
from device.touch_layout import Widget, find, hit, layout
from device.touch_model import Fetch, PrintChecklist, Take, TouchKiosk
from device.touch_render import TouchRenderer, pygame
from queuebox.bus import Message
from queuebox.config import PriorityGroupConfig
from queuebox.errors import QueueboxError
from queuebox.protocol import ProtocolError, Topics
from queuebox.protocol_messages import parse_board, parse_procedures, parse_services

logger = logging.getLogger(__name__)

WAKE = pygame.event.custom_type()
MAX_WAIT_S = 0.5


def subscriptions(topics: Topics) -> tuple[str, ...]:
    """What the screen shows comes from: the `services`, `board` and every `procedures/<service>`."""
    return topics.services(), topics.board(), topics.board().rsplit("/", 1)[0] + "/procedures/+"


class TouchScreen:
    """The screen of a touch kiosk on `surface`; see the module docstring. `press` puts items in
    the kiosk's inbox; `fetch(public_url, id)` gets a procedure's details (run on a thread)."""

    def __init__(self, surface: Any, *, fonts: tuple[str, str], topics: Topics, press: Callable[[Any], None],
                 site: SiteText, public_url: str, idle_timeout_s: float, minutes: dict[str, int] | None = None,
                 groups: tuple[PriorityGroupConfig, ...] = (),
                 fetch: Callable[[str, int], dict[str, Any] | None] = fetch_procedure,
                 clock: Callable[[], float] = time.monotonic, present: Callable[[], Any] | None = None) -> None:
        self.surface = surface
        self.size = surface.get_size()
        self.renderer = TouchRenderer(surface, *fonts)
        self.model = TouchKiosk(idle_timeout_s=idle_timeout_s, minutes=minutes, groups=groups, now=clock())
        self.topics = topics
        self.press = press
        self.site = site
        self.public_url = public_url
        self.fetch = fetch
        self.clock = clock
        self.present = present or pygame.display.flip
        self.inbox: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self.taps = Taps()
        self.widgets: list[Widget] = []
        self.problems: list[str] = []  # texts cut on the last frame
        self.frames = 0
        self._dirty = True
        self._printed: PrintedTicket | None = None

    # --- from other threads ----------------------------------------------------------------

    def post(self, *item: Any) -> None:
        """Hand the loop something to apply (any thread)."""
        self.inbox.put(item)
        try:
            pygame.event.post(pygame.event.Event(WAKE))
        except pygame.error:  # the queue is full or video is not up yet: the loop wakes within MAX_WAIT_S
            pass

    def on_message(self, message: Message) -> bool:
        """The kiosk's hook for topics it does not know: the snapshots the screen shows."""
        topic = message.topic
        try:
            if topic == self.topics.services():
                self.post("services", parse_services(message.payload))
            elif topic == self.topics.board():
                self.post("board", parse_board(message.payload))
            else:
                route = self.topics.route(topic)
                if route is None or route.kind != "procedures":
                    return False
                self.post("procedures", route.device, parse_procedures(message.payload))
        except ProtocolError as exc:
            logger.warning("dropped a bad %s message: %s", topic.rsplit("/", 1)[-1], exc.message)
        return True

    def on_printed(self, printed: PrintedTicket) -> None:
        self.post("printed", printed)

    def on_outcome(self, outcome: Outcome) -> None:
        self.post("outcome", outcome)

    def on_fault(self, reason: str | None) -> None:
        self.post("fault", reason)

    def on_ignored(self, service: str) -> None:
        self.post("ignored", service)

    def simulate(self, text: str) -> None:
        """Tap what `text` names (see the module docstring), from any thread."""
        self.post("simulate", text)

    # --- the loop ----------------------------------------------------------------------------

    def run(self, stop: threading.Event, turned: Callable[[], None] = lambda: None) -> None:
        """Draw and handle touches until `stop` is set or the window is closed; `turned` is called every turn."""
        while not stop.is_set():
            if not self.step(MAX_WAIT_S):
                stop.set()
            turned()

    def step(self, wait_s: float) -> bool:
        """One turn: wait up to `wait_s` for something, handle everything waiting, redraw if needed;
        False when the window was closed."""
        now = self.clock()
        due = self.model.next_due(now)
        if self._dirty:
            wait_s = 0
        elif due is not None:
            wait_s = max(0.0, min(wait_s, due - now))
        wait_ms = int(wait_s * 1000)  # pygame waits forever for 0
        events = [pygame.event.wait(wait_ms)] if wait_ms > 0 and self.inbox.empty() else []
        events += pygame.event.get()
        for event in events:
            if event.type == pygame.QUIT:
                return False
            self.handle_event(event)
        while True:
            try:
                item = self.inbox.get_nowait()
            except queue.Empty:
                break
            self.apply(item)
        if self.model.tick(self.clock()):
            self._dirty = True
        if self._dirty:
            self.draw()
        return True

    def handle_event(self, event: Any) -> None:
        """One pygame event: fingers and the mouse's left button make taps."""
        w, h = self.size
        if event.type in (pygame.FINGERDOWN, pygame.FINGERUP):
            pointer = Pointer((event.touch_id, event.finger_id), event.type == pygame.FINGERDOWN,
                              int(event.x * w), int(event.y * h))
        elif event.type in (pygame.MOUSEBUTTONDOWN, pygame.MOUSEBUTTONUP) and event.button == 1:
            if getattr(event, "touch", False):  # SDL's mouse copy of a finger, already seen as one
                return
            pointer = Pointer(MOUSE, event.type == pygame.MOUSEBUTTONDOWN, *event.pos)
        elif event.type in (pygame.WINDOWFOCUSLOST, pygame.WINDOWLEAVE):
            self.taps.reset()
            return
        else:
            return
        tap = self.taps.on(pointer)
        if tap is not None:
            self.on_tap(tap)

    def on_tap(self, tap: Tap) -> None:
        """A tap counts on the button it went down and came up on; anywhere else it does nothing."""
        target = hit(self.widgets, *tap.down)
        if target is None or target is not hit(self.widgets, *tap.up):
            return
        self._dirty = True
        for effect in self.model.press(target.action or (), self.clock()):
            self._carry_out(effect)
        self.draw()  # at once: the next tap of a simulation sees the new screen

    def _carry_out(self, effect: Any) -> None:
        if isinstance(effect, Take):
            at = self.clock()
            first = group_button(effect.group) if effect.group else PRIORITY if effect.priority else None
            buttons = ([first] if first else []) + [effect.service]
            for button in buttons:  # a press of each: down, then up
                self.press(ButtonEvent(button, True, at))
                self.press(ButtonEvent(button, False, at))
        elif isinstance(effect, Fetch):
            threading.Thread(target=self._fetch, args=(effect.procedure_id,), name="procedure-fetch",
                             daemon=True).start()
        elif isinstance(effect, PrintChecklist):
            self.press(ExtraPrint(compose_checklist(effect.detail, self.site), effect.detail.get("portal_url") or "",
                                  done=lambda printed: self.post("checklist", printed)))

    def _fetch(self, procedure_id: int) -> None:
        self.post("detail", procedure_id, self.fetch(self.public_url, procedure_id))

    def apply(self, item: tuple[Any, ...]) -> None:
        """One item posted from another thread."""
        kind, *args = item
        m = self.model
        self._dirty = True
        if kind == "services":
            m.on_services(args[0])
        elif kind == "board":
            m.on_board(args[0])
        elif kind == "procedures":
            m.on_procedures(args[0], args[1])
        elif kind == "fault":
            m.on_fault(args[0])
        elif kind == "ignored":
            m.on_ignored(args[0])
        elif kind == "printed":
            self._printed = args[0]
        elif kind == "outcome":
            outcome: Outcome = args[0]
            ticket = self._printed.ticket if self._printed and self._printed.request_id == outcome.request_id else None
            m.on_outcome(outcome.service, outcome.result, outcome.detail, self.clock(),
                         ahead=ticket.waiting_ahead if ticket else None,
                         wait_min=ticket.estimated_wait_min if ticket else None)
        elif kind == "detail":
            m.on_detail(args[0], args[1])
        elif kind == "checklist":
            m.on_checklist(args[0])
        elif kind == "simulate":
            self._simulate(args[0])

    def _simulate(self, text: str) -> None:
        for word in text.strip().split():
            if word.startswith("touch:"):
                try:
                    x, y = (int(v) for v in word[6:].split(","))
                except ValueError:
                    logger.warning("simulate: %r is not touch:X,Y", word)
                    continue
                self.tap_at(x, y)
                continue
            for name in self._names(word):
                widget = find(self.widgets, name)
                if widget is None:
                    logger.warning("simulate: nothing called %r on this screen (%s)", name,
                                   ", ".join(w.name for w in self.widgets if w.button and w.name))
                    break
                self.tap_at(*widget.rect.centre)

    def _names(self, word: str) -> list[str]:
        """The widgets a simulation word taps, in order."""
        kind, _, code = word.partition(":")
        if code:
            return [f"{kind.lower()}:{code.upper() if kind.lower() in ('tile', 'field', 'group') else code}"]
        if find(self.widgets, word.lower()):
            return [word.lower()]
        code = word.upper()
        if code.startswith("P") and len(code) > 1 and find(self.widgets, f"tile:{code}") is None:
            return ["priority", f"tile:{code[1:]}"]
        return [f"tile:{code}"]

    def tap_at(self, x: int, y: int) -> None:
        """A tap of the mouse at (`x`, `y`), as a real one goes."""
        for down in (True, False):
            tap = self.taps.on(Pointer(MOUSE, down, x, y))
            if tap is not None:
                self.on_tap(tap)

    def draw(self) -> None:
        w, h = self.size
        self.widgets = layout(self.model.state, w, h)
        problems = self.renderer.draw(self.widgets)
        if problems and problems != self.problems:
            logger.warning("touch screen: texts cut to fit: %s", "; ".join(problems))
        self.problems = problems
        self.present()
        self.frames += 1
        self._dirty = False


DEFAULT_WINDOW = (1280, 800)


def open_surface(width: int, height: int, fullscreen: bool, *, headless: bool = False) -> Any:
    """The touch screen's surface: full screen (0x0: the screen's own size) or a window;
    `headless` draws in memory (SDL's dummy driver: a simulation without a desktop, tests)."""
    import os

    if headless:
        os.environ["SDL_VIDEODRIVER"] = "dummy"  # before pygame starts its video
    try:
        pygame.display.init()
        if fullscreen and not headless:
            surface = pygame.display.set_mode((width, height), pygame.FULLSCREEN)
            pygame.mouse.set_visible(False)
        else:
            surface = pygame.display.set_mode((width or DEFAULT_WINDOW[0], height or DEFAULT_WINDOW[1]))
    except pygame.error as exc:
        raise QueueboxError(f"no touch screen to draw on ({exc}); on a Pi without a desktop set "
                            "SDL_VIDEODRIVER=kmsdrm and add the user to the video, render and input groups; "
                            "--simulate works without one") from None
    pygame.display.set_caption("queuebox kiosk")
    pygame.event.set_blocked(None)
    pygame.event.set_allowed([pygame.QUIT, pygame.FINGERDOWN, pygame.FINGERUP, pygame.MOUSEBUTTONDOWN,
                              pygame.MOUSEBUTTONUP, pygame.WINDOWFOCUSLOST, pygame.WINDOWLEAVE, WAKE])
    return surface
