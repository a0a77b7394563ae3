"""A touch kiosk for tests: `TouchScreen` on pygame's dummy video driver beside a real
`KioskApp` (MockFactory pins, escpos Dummy printer), talking to a real Mosquitto. Touches are
pygame FINGER / MOUSEBUTTON events posted to the event queue; `run_until` turns the screen's
loop (this thread) until a condition holds."""

from __future__ import annotations

import queue
import time
from typing import Any, Callable

from device.main import KioskApp
from device.printer import EscposPrinter
from device.ticket import SiteText
from device.touch_layout import Widget, find
from device.touch_screen import TouchScreen, open_surface, pygame
from device.touch_screen import subscriptions as touch_subscriptions
from escpos.printer import Dummy
from queuebox.protocol import Topics
from tests.device.escpos_job import parse_jobs

WAIT_S = 10.0


class SkippingClock:
    """The monotonic clock, plus whatever the test skipped forward (a minute-long touch)."""

    def __init__(self) -> None:
        self.skipped = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.skipped


class TouchRig:
    def __init__(self, config: Any, factory: Any, fonts: Any, *, size: tuple[int, int] = (1280, 800),
                 connection: Any = None) -> None:
        k = config.kiosk
        topics = Topics(config.mqtt.root, config.site.id)
        self.clock = SkippingClock()
        self.surface = open_surface(*size, False, headless=True)
        self.screen = TouchScreen(self.surface, fonts=(config.printer.font_path, config.printer.font_bold_path),
                                  topics=topics, press=lambda item: None, site=SiteText.from_config(config),
                                  public_url=config.server.public_url, idle_timeout_s=k.idle_timeout_s,
                                  groups=config.priority_groups, clock=self.clock)
        self.printed: queue.Queue[Any] = queue.Queue()
        self.printer = EscposPrinter(connection or Dummy(), 576)
        self.app = KioskApp(config, pin_factory=factory, printer=self.printer, fonts=fonts, clock=self.clock,
                            on_printed=self._printed, on_outcome=self.screen.on_outcome,
                            on_message=self.screen.on_message, on_fault=self.screen.on_fault,
                            on_ignored=self.screen.on_ignored,
                            extra_subscriptions=touch_subscriptions(topics))
        self.screen.press = self.app.bus.inbox.put
        pygame.event.clear()
        self.app.start()
        assert self.app.bus.wait_connected(WAIT_S), "kiosk bus did not connect"

    def _printed(self, printed: Any) -> None:
        self.screen.on_printed(printed)
        self.printed.put(printed)

    def run_until(self, condition: Callable[[], bool], timeout: float = WAIT_S, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what or condition}"
            self.screen.step(0.05)

    def next_printed(self) -> Any:
        """The next ticket (or checklist job) out of the printer, turning the screen's loop meanwhile."""
        self.run_until(lambda: not self.printed.empty(), what="a ticket printed")
        return self.printed.get_nowait()

    def settle(self, seconds: float = 0.5) -> None:
        """Turn the loop for a while (nothing more is expected to happen)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.screen.step(0.05)

    def widget(self, name: str) -> Widget:
        widget = find(self.screen.widgets, name)
        assert widget is not None, f"no {name} on {self.screen.model.state.screen}"
        return widget

    def ready(self) -> None:
        """Wait until the tiles came from the server and are enabled."""
        self.run_until(lambda: bool(self.screen.model.state.services) and self.widget("tile:A").enabled,
                       what="the services snapshot")

    # --- touches ---------------------------------------------------------------------------

    def finger(self, down: bool, x: int, y: int, finger: int = 0) -> None:
        w, h = self.screen.size
        pygame.event.post(pygame.event.Event(pygame.FINGERDOWN if down else pygame.FINGERUP, touch_id=1,
                                             finger_id=finger, x=x / w, y=y / h, dx=0.0, dy=0.0, pressure=1.0))

    def mouse(self, down: bool, x: int, y: int, *, touch: bool = False) -> None:
        pygame.event.post(pygame.event.Event(pygame.MOUSEBUTTONDOWN if down else pygame.MOUSEBUTTONUP,
                                             pos=(x, y), button=1, touch=touch))

    def tap(self, name: str) -> None:
        x, y = self.widget(name).rect.centre
        self.finger(True, x, y)
        self.finger(False, x, y)
        self.screen.step(0)

    def jobs(self) -> list[Any]:
        return parse_jobs(self.printer.connection.output)

    def stop(self) -> None:
        self.app.stop()
