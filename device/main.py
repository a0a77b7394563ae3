"""`queuebox kiosk` and `queuebox ticket-preview`: the composition root of the kiosk process.

`KioskApp` wires the parts from the config: the MQTT bus (client id and account
``kiosk-<id>``), the gpiozero panel on a pin factory, the printer, the ticket renderer and
the `Kiosk` loop on its own thread. `run_kiosk` builds the real ones (or, with
``--simulate``, MockFactory pins pressed from the keyboard or the simulation topic and a
Dummy printer whose tickets are saved as files) and runs until SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TextIO

from device.buttons import PRIORITY, Panel, group_button
from device.card_priority import CardPriority, CardSettings
from device.fonts import read_fonts
from device.kiosk import Kiosk, Outcome, PrintedTicket, kiosk_client_id
from device.loop import DeviceBus
from device.preview import printed_look
from device.printer import EscposPrinter, PrinterStatus, PrintJob, TicketPrinter
from device.scanner import Scan, ScannerReader
from device.ticket import PAPER_WIDTH_PX, FontData, SiteText, TicketRenderer, compose, missing_glyphs, \
    sample_ticket, texts
from queuebox import notify
from queuebox.bus import Bus, Message
from queuebox.config import Config
from queuebox.errors import QueueboxError
from queuebox.protocol import Topics

if TYPE_CHECKING:
    from PIL import Image

    from device.touch_screen import TouchScreen

logger = logging.getLogger(__name__)

STOP_TIMEOUT_S = 5.0
STUCK_AFTER_S = 10.0  # a kiosk loop turn longer than this is stuck (a print takes ~1 s, a USB write times out)


class KioskError(QueueboxError, RuntimeError):
    """The kiosk cannot start: no GPIO on this machine, or its parts cannot be set up."""


class KioskApp:
    """The kiosk's parts, wired; `start` connects and starts the loop, `stop` ends both.

    `bus` defaults to a real `Bus`; `extra_subscriptions` are added to it (the simulation
    topic); `on_message` gets messages on them (see `Kiosk`). Scans are judged when
    `kiosk.scanner` is set or `cards_always` (simulation); the scanner is read when it is set
    and `read_scanner`.
    """

    def __init__(self, config: Config, *, pin_factory: Any, printer: TicketPrinter, fonts: FontData,
                 bus: DeviceBus | None = None, on_printed: Callable[[PrintedTicket], None] | None = None,
                 on_outcome: Callable[[Outcome], None] | None = None,
                 on_message: Callable[[Message], bool] | None = None, extra_subscriptions: tuple[str, ...] = (),
                 clock: Callable[[], float] = time.monotonic, on_fault: Callable[[str | None], None] | None = None,
                 on_ignored: Callable[[str], None] | None = None, cards_always: bool = False,
                 read_scanner: bool = True) -> None:
        k = config.kiosk
        topics = Topics(config.mqtt.root, config.site.id)
        self.config = config
        self.bus: Any = bus or Bus(config.mqtt, topics, kiosk_client_id(k.id),
                                   subscriptions=[topics.kiosk_reply(k.id), *extra_subscriptions])
        self.printer = printer
        self.renderer = TicketRenderer(fonts, printer.width_px)
        self.site = SiteText.from_config(config)
        self.panel = Panel(k, pin_factory, self.bus.inbox.put, clock=clock)
        self._turned_at = time.monotonic()

        def loop_clock() -> float:  # the kiosk loop reads its clock on every turn, at least every MAX_WAIT_S
            self._turned_at = time.monotonic()
            return clock()

        cards = CardPriority(CardSettings.from_config(config)) if k.scanner or cards_always else None
        self.kiosk = Kiosk(k, self.site, self.bus, printer, self.renderer, self.panel.lights, clock=loop_clock,
                           on_printed=on_printed, on_outcome=on_outcome, on_message=on_message,
                           on_fault=on_fault, on_ignored=on_ignored, cards=cards)
        self.scanner = ScannerReader(k.scanner, self.bus.inbox.put, timeout_s=k.scan_timeout_s, clock=clock) \
            if k.scanner and read_scanner else None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.kiosk.run, args=(self._stop,), name="kiosk", daemon=True)

    def check_fonts(self) -> list[str]:
        """Problems with the fonts: characters of this config's tickets they cannot draw."""
        problems = []
        now = datetime.now(self.config.zone)
        groups = [None, *self.config.priority_groups]
        for service, group in [(s, None) for s in self.config.services] + [(s, g) for s in self.config.services[:1]
                                                                            for g in groups if g]:
            info = sample_ticket(service, now, self.config.server.public_url, priority=True, group=group)
            for style, text in texts(compose(info, self.site)):
                lost = missing_glyphs(self.renderer.font(style, self.renderer.sizes["body"]), text)
                if lost:
                    problems.append(f"{text!r}: no glyph for {' '.join(lost)} in the {style} font")
        return problems

    def warm_up(self) -> None:
        """Draw a ticket of each service once: the lines every ticket shares are then ready."""
        now = datetime.now(self.config.zone)
        for service in self.config.services:
            for priority in (False, True):
                self.renderer.render(sample_ticket(service, now, self.config.server.public_url,
                                                   priority=priority), self.site)

    def start(self) -> None:
        self.bus.start()
        self._turned_at = time.monotonic()
        self._thread.start()
        if self.scanner is not None:
            self.scanner.start()

    def alive(self, stuck_after_s: float = STUCK_AFTER_S) -> bool:
        """The kiosk loop runs and went round within `stuck_after_s` seconds (for the watchdog)."""
        return self._thread.is_alive() and time.monotonic() - self._turned_at < stuck_after_s

    def stop(self) -> None:
        """Stop the loop, say "offline", release pins and printer."""
        self._stop.set()
        if self.scanner is not None:
            self.scanner.stop()
        if self._thread.is_alive():
            self._thread.join(STOP_TIMEOUT_S)
        try:
            self.bus.stop()
        finally:
            self.panel.close()
            self.printer.close()


class Simulator:
    """Presses MockFactory pins for the buttons a text names: a service code (``a``),
    ``p`` or ``priority`` for the priority button; several at once (``pa``: priority, then A);
    ``g`` and a group code for that group's button (``g ct a``: group CT, then A).
    ``scan:`` and a text is that text read by the ID card scanner, handed to `scan_sink`."""

    SCAN = "scan:"

    def __init__(self, config: Config, pin_factory: Any, scan_sink: Callable[[Scan], None] | None = None) -> None:
        self.scan_sink = scan_sink
        self.factory = pin_factory
        self.pins = {code.upper(): pin for code, pin in config.kiosk.buttons.items()}
        if config.kiosk.priority_button:
            self.pins[PRIORITY] = config.kiosk.priority_button
        self.pins.update((group_button(code), pin) for code, pin in config.kiosk.group_buttons.items())

    def press_text(self, text: str) -> list[str]:
        """Press what `text` names, in order; returns the buttons pressed (``scan`` for a scan)."""
        if text.lstrip().lower().startswith(self.SCAN):
            if self.scan_sink is None:
                logger.warning("no ID card scanner to simulate")
                return []
            line = text.lstrip()[len(self.SCAN):].rstrip("\r\n")
            self.scan_sink(Scan(line, True, time.monotonic()))
            return ["scan"]
        words = text.strip().upper().split()
        names = []
        for i, word in enumerate(words):
            if i and words[i - 1] == "G" and "G" not in self.pins:
                names.append(group_button(word))
            elif word == "G" and "G" not in self.pins:
                continue  # the next word is a group code
            elif word == "PRIORITY":
                names.append(PRIORITY)
            elif word in self.pins:  # a code of several letters
                names.append(word)
            else:
                names += [PRIORITY if ch == "P" and "P" not in self.pins else ch for ch in word]
        pressed = []
        for name in names:
            pin = self.pins.get(name)
            if pin is None:
                logger.warning("no button %r (buttons: %s)", name.lower(), ", ".join(sorted(self.pins)).lower())
                continue
            self.factory.pin(pin).drive_low()
            self.factory.pin(pin).drive_high()
            pressed.append(name)
        return pressed

    def read_keyboard(self, stream: TextIO, stop: threading.Event) -> None:
        """Press buttons for each line read from `stream`; `q` sets `stop`. At the end of the
        input (no terminal: a service, the demo) the kiosk keeps running for the simulation topic."""
        for line in stream:
            if line.strip().lower() in ("q", "quit", "exit"):
                stop.set()
                return
            self.press_text(line)
        logger.info("no more keyboard input; buttons can still be pressed through the simulation topic")


class SlowPrinter:
    """A `TicketPrinter` that takes `delay_s` before handing each ticket to `inner`, as a real
    thermal printer takes about a second to print one (``--print-delay`` of a simulated kiosk:
    the time between the server's reply and the ticket in the tray, where a crash loses it)."""

    def __init__(self, inner: TicketPrinter, delay_s: float) -> None:
        self.inner = inner
        self.delay_s = delay_s
        self.width_px = inner.width_px

    def status(self) -> PrinterStatus:
        return self.inner.status()

    def print_ticket(self, image: Image.Image, qr_text: str) -> PrintJob:
        time.sleep(self.delay_s)  # the printer's own time: the kiosk loop waits for it like for a USB write
        return self.inner.print_ticket(image, qr_text)

    def close(self) -> None:
        self.inner.close()


class TicketFiles:
    """Saves each printed ticket into `folder`: the bytes the printer got (.bin) and a
    picture of the paper with its QR code (.png)."""

    def __init__(self, folder: Path, module_px: int) -> None:
        self.folder = folder
        self.module_px = module_px
        folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, printed: PrintedTicket) -> None:
        stem = self.folder / f"{printed.ticket.issued_at:%Y%m%d-%H%M%S}-{printed.ticket.label}"
        stem.with_suffix(".bin").write_bytes(printed.job.data)
        partial = stem.with_name(f".{stem.name}.partial.png")  # written whole, then renamed: readers never see half
        printed_look(printed.image, printed.ticket.status_url, self.module_px).save(partial)
        os.replace(partial, stem.with_suffix(".png"))
        logger.info("ticket %s saved as %s.bin and .png (%.1f ms from press to printed)", printed.ticket.label,
                    stem, (printed.printed_at - printed.pressed_at) * 1000)


def run_kiosk(config: Config, *, simulate: bool = False, out: Path | None = None,
              stdin: TextIO | None = None, print_delay_s: float = 0.0) -> int:
    """The kiosk process: run until SIGTERM, Ctrl-C (or, simulating, `q` typed).
    `print_delay_s`: simulating, the seconds the simulated printer takes per ticket."""
    k = config.kiosk
    if k.id not in config.devices.kiosks:
        logger.warning("kiosk.id %r is not one of devices.kiosks (%s): the broker may refuse its account",
                       k.id, ", ".join(config.devices.kiosks))
    fonts = read_fonts(config.printer)
    topics = Topics(config.mqtt.root, config.site.id)
    stop = threading.Event()
    extra: tuple[str, ...] = ()
    saver: TicketFiles | None = None
    if simulate:
        from escpos.printer import Dummy
        from gpiozero.pins.mock import MockFactory

        pin_factory: Any = MockFactory()
        simulated = EscposPrinter(Dummy(), PAPER_WIDTH_PX[config.printer.paper_width_mm], keep_dummy_output=False)
        printer: TicketPrinter = SlowPrinter(simulated, print_delay_s) if print_delay_s > 0 else simulated
        simulator = Simulator(config, pin_factory)
        extra = (topics.kiosk_simulate(k.id),)
        saver = TicketFiles(out or Path("var/tickets"), simulated.qr_size)
    else:
        pin_factory = None  # gpiozero's default for this board (lgpio on a Pi 5, …)
        printer = EscposPrinter.from_config(config.printer)
        if config.printer.kind == "dummy":
            logger.warning("printer.kind is \"dummy\": tickets are issued but not printed on paper")

    screen: TouchScreen | None = None
    if k.screen == "touch":
        from device.touch_screen import subscriptions as touch_subscriptions

        screen = touch_screen(config, simulate, out or Path("var/tickets"))
        extra += touch_subscriptions(topics)

    def on_message(message: Message) -> bool:
        if simulate and message.topic == extra[0]:
            text = message.payload.decode("utf-8", "replace")
            if screen is not None and not text.startswith("scan:"):  # a card scan goes to the scanner's path
                screen.simulate(text)
            else:
                simulator.press_text(text)
            return True
        return screen is not None and screen.on_message(message)

    def on_printed(printed: PrintedTicket) -> None:
        if saver is not None:
            saver(printed)
        if screen is not None:
            screen.on_printed(printed)

    try:
        app = KioskApp(config, pin_factory=pin_factory, printer=printer, fonts=fonts, on_printed=on_printed,
                       on_message=on_message, extra_subscriptions=extra,
                       on_outcome=screen.on_outcome if screen else None, on_fault=screen.on_fault if screen else None,
                       on_ignored=screen.on_ignored if screen else None, cards_always=simulate,
                       read_scanner=not simulate)
        if screen is not None:
            screen.press = app.bus.inbox.put
    except QueueboxError:
        raise
    except Exception as exc:  # gpiozero: BadPinFactory on a PC, GPIOPinInUse, no permission on /dev/gpiochip*
        raise KioskError(f"cannot set up the buttons and LEDs: {type(exc).__name__}: {exc} "
                         "(no GPIO here? try --simulate)") from exc
    for problem in app.check_fonts():
        logger.warning("ticket font: %s", problem)
    app.warm_up()
    if simulate:
        simulator.scan_sink = app.bus.inbox.put

    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    app.start()
    logger.info("kiosk %s of %s: buttons %s, printer %s (%d mm), MQTT %s:%d", k.id, config.site.name,
                ", ".join(f"{code}=GPIO{pin}" for code, pin in k.buttons.items()) or "none",
                "simulated" if simulate else config.printer.kind, config.printer.paper_width_mm,
                config.mqtt.host, config.mqtt.port)
    if simulate and screen is not None:
        print(f"Simulated touch kiosk {k.id} ({screen.size[0]}x{screen.size[1]}): type what to touch and Enter — "
              "a service code (a, or pa for priority), tile:A, priority, group:CT, lookup, field:A, procedure:ID, "
              "checklist, "
              f"back, done, lang or touch:X,Y; q to quit.\nOr publish the same text to {extra[0]}. "
              f"Printed tickets go to {saver.folder if saver else ''}/.", flush=True)
        threading.Thread(target=read_lines, args=(stdin or sys.stdin, stop, screen.simulate), name="keyboard",
                         daemon=True).start()
    elif simulate:
        print(f"Simulated kiosk {k.id}: type a service code ({', '.join(sorted(k.buttons)).lower()})"
              f"{', p then a code for priority' if k.priority_button else ''}"
              f"{', g and a group code then a code for a priority group' if k.group_buttons else ''}"
              " and Enter to press; scan: and a chip ID card's QR text for a scan; q to quit.\n"
              f"Or publish the same text to {extra[0]}. Printed tickets go to {saver.folder if saver else ''}/.",
              flush=True)
        threading.Thread(target=simulator.read_keyboard, args=(stdin or sys.stdin, stop), name="keyboard",
                         daemon=True).start()
    watchdog = notify.ready(f"kiosk {k.id}: printer {'simulated' if simulate else config.printer.kind}")
    try:
        if screen is not None:  # the screen's loop on this thread: SDL wants its window on the main thread
            screen.run(stop, lambda: watchdog.ping(app.alive()))
        while not stop.wait(0.5):
            watchdog.ping(app.alive())
    except KeyboardInterrupt:
        pass
    finally:
        notify.stopping()
        signal.signal(signal.SIGTERM, previous)
        app.stop()
    return 0


def touch_screen(config: Config, simulate: bool, out: Path) -> TouchScreen:
    """The touch screen of `config.kiosk`: full screen, or simulating a window on a desktop or
    (none) drawn in memory, whose screen is saved then as touch-screen.png beside the tickets."""
    from device.touch_screen import TouchScreen, open_surface

    k = config.kiosk
    desktop = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    headless = simulate and not desktop
    surface = open_surface(k.screen_width, k.screen_height, k.fullscreen and not simulate, headless=headless)
    def save_picture() -> None:  # written whole, then renamed: a viewer never sees half a picture
        import pygame

        out.mkdir(parents=True, exist_ok=True)
        pygame.image.save(surface, str(out / ".touch-screen.partial.png"))
        os.replace(out / ".touch-screen.partial.png", out / "touch-screen.png")

    present = save_picture if headless else None
    return TouchScreen(surface, fonts=(config.printer.font_path, config.printer.font_bold_path),
                       topics=Topics(config.mqtt.root, config.site.id), press=lambda item: None,
                       site=SiteText.from_config(config), public_url=config.server.public_url,
                       idle_timeout_s=k.idle_timeout_s, minutes={s.code: s.service_min for s in config.services},
                       groups=config.priority_groups, present=present)


def read_lines(stream: TextIO, stop: threading.Event, handle: Callable[[str], None]) -> None:
    """`handle` each line read from `stream`; `q` sets `stop`."""
    for line in stream:
        if line.strip().lower() in ("q", "quit", "exit"):
            stop.set()
            return
        handle(line)
    logger.info("no more keyboard input; the simulation topic still works")


def preview_ticket(config: Config, service_code: str, out: Path, *, priority: bool = False,
                   waiting_ahead: int = 4, paper_width_mm: int | None = None,
                   at: datetime | None = None, group: str | None = None) -> Path:
    """Draw a sample ticket of `service_code` as it would print (with its QR code) into `out` (PNG);
    a `group` (a priority group code) makes it a priority ticket of that group."""
    service = config.service(service_code.upper())
    if service is None:
        raise KioskError(f"no service {service_code!r} in the configuration "
                         f"(services: {', '.join(s.code for s in config.services)})")
    chosen = config.priority_group(group.upper()) if group else None
    if group and chosen is None:
        raise KioskError(f"no priority group {group!r} in the configuration "
                         f"(groups: {', '.join(g.code for g in config.priority_groups) or 'none'})")
    width = PAPER_WIDTH_PX[paper_width_mm or config.printer.paper_width_mm]
    renderer = TicketRenderer(read_fonts(config.printer), width)
    info = sample_ticket(service, at or datetime.now(config.zone), config.server.public_url,
                         waiting_ahead=waiting_ahead, priority=priority, group=chosen)
    image = renderer.render(info, SiteText.from_config(config))
    out.parent.mkdir(parents=True, exist_ok=True)
    printed_look(image, info.status_url, 6 if width >= 576 else 5).save(out)
    return out
