"""The ticket kiosk: buttons in, `take` over MQTT, the server's reply printed.

One loop (`Kiosk.run`) owns everything: it reads one queue, the bus's inbox, where the bus
puts MQTT messages and gpiozero's callbacks put `ButtonEvent`s (`Panel(..., bus.inbox.put)`),
and it alone talks to the printer and the LEDs. A press goes:

1. `PressRules` accept it (debounce, cooldown, one request at a time, priority window);
2. the printer's status is read: paper out or offline → red LED, no `take` is sent;
3. yellow LED; ``take`` with a fresh id; no reply within `retry_every_s` → the same id is
   sent again (the server applies an id once and answers a repeat with the first reply);
4. a reply with that id: an error (service closed, daily limit, unknown service) → red LED
   blinking slowly, logged, nothing printed; a ticket → rendered, printed, green LED;
5. no reply by `reply_timeout_s` → red LED blinking fast, logged, nothing printed. A reply
   that comes later is logged as a ticket issued but not printed, and not printed.

A line from the ID card scanner (`device.scanner.Scan`, put on the same inbox by the scanner's
thread) goes to `CardPriority` (device/card_priority.py): an elderly holder arms priority of
the elderly group for the next press, or takes the ticket at once on a kiosk with a single
service button; a line that is not a card blinks the red LED.

Replies with another id are ignored (a repeat answered twice, an old request). While the
broker is unreachable no `take` is handed to paho (which would send it whenever the
connection comes back, maybe long after the kiosk gave up); it is sent on reconnection if
the deadline has not passed.

Printer faults go to the retained status topic of the kiosk's MQTT client,
``status/kiosk-<id>``, where the bus already says ``online`` and its last will
``offline``. While the printer cannot print the payload is ``fault <reason>: <message>``
(reason ``paper_out``, ``offline`` or ``write_failed``); when it clears, ``online`` again.
The same topic, not a sub-topic, because the broker's ACL lets a kiosk write only its own
status topic, and a display that reads ``status/#`` sees the kiosk's whole state in one
message. A fault is logged once when it starts and once when it clears.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from device import loop
from device.buttons import ButtonEvent, Light, Lights, PressRules
from device.card_priority import CardPriority, Claim
from device.printer import PrinterFault, PrinterStatus, PrintJob, TicketPrinter
from device.scanner import Scan
from device.ticket import Block, SiteText, TicketInfo, TicketRenderer
from queuebox.bus import Connected, Message
from queuebox.config_devices import KioskConfig
from queuebox.protocol import ProtocolError
from queuebox.protocol_messages import parse_reply

if TYPE_CHECKING:
    from PIL import Image

logger = logging.getLogger(__name__)

NOTICE_S = 5.0  # how long a refusal or a missing answer shows on the LEDs
STATUS_POLL_S = 5.0  # printer status read while idle
FAULT_POLL_S = 1.0  # ... and while the printer is faulted, to see it clear soon
MAX_WAIT_S = 0.5  # the loop wakes at least this often
SCAN_NOTICE_S = 2.0  # the fault LED's blink for a scan that is not an ID card
ABANDONED_KEPT = 64  # ids given up on, remembered to recognise a late reply


@dataclass
class Request:
    """A `take` in flight."""
    id: str
    service: str
    priority: bool
    group: str | None  # a priority group's code, sent as "group" (a group button's, or a scanned card's)
    pressed_at: float
    deadline: float
    next_send: float
    sends: int = 0
    claim: Claim | None = None  # the scanned card's elderly priority this request uses


@dataclass(frozen=True)
class PrintedTicket:
    """A ticket that came out of the printer, with where its time went (seconds)."""
    ticket: TicketInfo
    request_id: str
    image: Image.Image
    job: PrintJob
    pressed_at: float
    replied_at: float
    printed_at: float
    render_s: float
    sends: int


@dataclass(frozen=True)
class ExtraPrint:
    """A print that is not a ticket (the touch screen's checklist of a procedure's documents),
    put in the kiosk's inbox: the loop that owns the printer prints it when no ticket is being
    asked for, after the same status check, and calls `done` (on the loop) with whether it printed.
    `blocks` are drawn by the kiosk's own ticket renderer (its fonts are already loaded)."""
    blocks: list[Block]
    qr_text: str
    done: Callable[[bool], None]


@dataclass(frozen=True)
class Outcome:
    """How an accepted press ended: `result` is printed (detail: the label), refused (the
    error code), no_reply, bad_reply, print_failed (the label issued but not printed) or
    printer_fault (no take was sent); `request_id` is None when none was sent."""
    service: str
    request_id: str | None
    result: str
    detail: str


def kiosk_client_id(kiosk_id: str) -> str:
    """The kiosk's MQTT client id and account name (see `queuebox mqtt-credentials`)."""
    return f"kiosk-{kiosk_id}"


def id_maker(kiosk_id: str) -> Callable[[], str]:
    """Fresh request ids: the kiosk id, a random token for this process, a counter
    (``kiosk1-9f3a0c1e-000042``): unique across restarts, at most 64 characters."""
    token = secrets.token_hex(4)
    count = 0

    def new_id() -> str:
        nonlocal count
        count += 1
        return f"{kiosk_id}-{token}-{count:06d}"
    return new_id


class Kiosk:
    """The kiosk's loop and state; see the module docstring.

    `clock` is the monotonic clock the button events are stamped with. `on_printed` is
    called (on the loop) after each printed ticket, for simulation output and benchmarks;
    `on_outcome` at the end of every accepted press, whatever came of it.
    `handle` and `tick` are the loop's two steps; tests call them directly.
    """

    def __init__(self, config: KioskConfig, site: SiteText, bus: loop.DeviceBus, printer: TicketPrinter,
                 renderer: TicketRenderer, lights: Lights, *, clock: Callable[[], float] = time.monotonic,
                 new_id: Callable[[], str] | None = None,
                 on_printed: Callable[[PrintedTicket], None] | None = None,
                 on_outcome: Callable[[Outcome], None] | None = None,
                 on_message: Callable[[Message], bool] | None = None,
                 on_fault: Callable[[str | None], None] | None = None,
                 on_ignored: Callable[[str], None] | None = None,
                 cards: CardPriority | None = None) -> None:
        """`on_fault` is told the printer fault's reason when it begins and None when it clears;
        `on_ignored` the service of a press the rules ignored (bounce, busy, cooldown); `cards`
        judges ID card scans (None: no scanner)."""
        self.config = config
        self.cards = cards  # None: no scanner
        self.site = site
        self.bus = bus
        self.printer = printer
        self.renderer = renderer
        self.lights = lights
        self.clock = clock
        self.inbox = bus.inbox
        self.rules = PressRules(cooldown_s=config.cooldown_s, priority_window_s=config.priority_window_s)
        self.pending: Request | None = None
        self.fault: tuple[str, str] | None = None  # (reason, message) while the printer cannot print
        self.printed = 0
        self._new_id = new_id or id_maker(config.id)
        self._on_printed = on_printed
        self._on_outcome = on_outcome
        self._on_message = on_message
        self._on_fault = on_fault
        self._on_ignored = on_ignored
        self._topics = bus.topics
        self._reply_topic = bus.topics.kiosk_reply(config.id)
        self._status_topic = bus.topics.status(bus.client_id)
        self._notice: tuple[Light, float] | None = None
        self._next_poll = -float("inf")
        self._paper_low = False
        self._abandoned: dict[str, None] = {}

    # --- the loop -------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Handle events and timers until `stop` is set. Nothing that happens stops the loop."""
        loop.serve(self.inbox, self.handle, self.tick, self._wait_s, stop, "kiosk")

    def handle(self, item: ButtonEvent | Message | Connected | ExtraPrint) -> None:
        """One item of the inbox."""
        if isinstance(item, ButtonEvent):
            self._on_button(item)
        elif isinstance(item, ExtraPrint):
            self._print_extra(item)
        elif isinstance(item, Message):
            self._on_message_item(item)
        elif isinstance(item, Scan):
            self._on_scan(item)
        elif isinstance(item, Connected):
            if self.fault:  # the bus said "online" on connecting: say what is wrong again
                self._publish_status()
            if self.pending:
                self._send(self.pending, self.clock())
        self._refresh_lights()

    def tick(self) -> None:
        """Timers: resend or give up the pending request, read the printer's status, end notices."""
        now = self.clock()
        request = self.pending
        if request is not None:
            if now >= request.deadline:
                self._give_up(request, now)
            elif now >= request.next_send:
                self._send(request, now)
        elif now >= self._next_poll:
            self._check_printer(now)
        if self._notice and now >= self._notice[1]:
            self._notice = None
        self._refresh_lights()

    def _wait_s(self) -> float:
        now = self.clock()
        times = [self._next_poll] if self.pending is None else [self.pending.deadline, self.pending.next_send]
        if self._notice:
            times.append(self._notice[1])
        for armed in (self.rules.armed_until(), self.cards.armed_until() if self.cards else None):
            if armed is not None and armed > now:
                times.append(armed)
        return min(MAX_WAIT_S, max(0.0, min(times) - now))

    # --- buttons ----------------------------------------------------------------------

    def _on_button(self, event: ButtonEvent) -> None:
        decision = self.rules.on_event(event)
        if decision.reason in ("bounce", "busy", "cooldown"):
            logger.debug("ignored a press of %s: %s", event.button, decision.reason)
            if self._on_ignored is not None:
                self._on_ignored(event.button)
        if not decision.take:
            return
        now = self.clock()
        self._notice = None
        if not self._check_printer(now):
            logger.warning("press of %s ignored: the printer cannot print (%s)", decision.service,
                           self.fault[0] if self.fault else "?")
            self._end(decision.service, None, "printer_fault", self.fault[0] if self.fault else "", now)
            return
        claim = self.cards.claim(now) if self.cards else None
        if claim is not None and self.cards is not None and self.cards.already_took(claim, decision.service):
            logger.warning("service %s refused: this ID card already took an elderly ticket of it today",
                           decision.service)
            self._end(decision.service, None, "refused", "one_ticket_per_card", now, Light.REFUSED)
            return
        group = decision.group or (claim.group if claim else None) or None  # a group button's, else the card's
        request = Request(self._new_id(), decision.service, decision.priority or claim is not None, group,
                          pressed_at=event.at, deadline=now + self.config.reply_timeout_s, next_send=now,
                          claim=claim)
        self.pending = request
        self.lights.show(Light.BUSY)
        self._send(request, now)

    def _send(self, request: Request, now: float) -> None:
        request.next_send = now + self.config.retry_every_s
        if not self.bus.connected.is_set():  # paho would keep it and send it late, maybe after the deadline
            logger.debug("take %s waits for the broker", request.id)
            return
        # expires with the wait: a server that comes back later must not issue a ticket nobody prints
        take: dict[str, Any] = {"id": request.id, "service": request.service, "priority": request.priority}
        if request.group:  # only then: a server from before groups reads the take as it always did
            take["group"] = request.group
        self.bus.publish(self._topics.kiosk_take(self.config.id), take, expiry_s=self.config.reply_timeout_s)
        request.sends += 1
        if request.sends > 1:
            logger.info("no answer yet to take %s: sent it again (%d)", request.id, request.sends)

    def _give_up(self, request: Request, now: float) -> None:
        self.pending = None
        self._abandoned[request.id] = None
        while len(self._abandoned) > ABANDONED_KEPT:
            del self._abandoned[next(iter(self._abandoned))]
        logger.error("no answer from the server to take %s (service %s) within %g s (%d sends): nothing printed",
                     request.id, request.service, self.config.reply_timeout_s, request.sends)
        self._end(request.service, request.id, "no_reply", f"{request.sends} sends", now, Light.NO_SERVER)

    # --- the ID card scanner ------------------------------------------------------------

    def _on_scan(self, scan: Scan) -> None:
        """A scanned line: elderly priority armed (a single service taken at once), nothing
        for a younger citizen, a blink for what is not a card. Ignored while a ticket is on its way."""
        if self.cards is None:
            return
        now = self.clock()
        if self.pending is not None:
            logger.info("a scan while a ticket is being asked for or printed: ignored")
            return
        result = self.cards.on_scan(scan, now)
        if result == "not_card":
            self._notice = (Light.REFUSED, now + SCAN_NOTICE_S)
        elif result == "elderly" and len(self.config.buttons) == 1:
            self._notice = None
            self._on_button(ButtonEvent(next(iter(self.config.buttons)), True, now))

    # --- replies ------------------------------------------------------------------------

    def _on_message_item(self, message: Message) -> None:
        if message.topic != self._reply_topic:
            if self._on_message is None or not self._on_message(message):
                logger.warning("dropped a message on unexpected topic %r", message.topic)
            return
        try:
            reply = parse_reply(message.payload)
        except ProtocolError as exc:
            logger.warning("dropped a bad reply: %s", exc.message)
            return
        request = self.pending
        if request is None or reply.get("id") != request.id:
            self._stray(reply)
            return
        now = self.clock()
        self.pending = None
        if not reply["ok"]:
            error = reply["error"]
            logger.warning("service %s gave no ticket (take %s): %s: %s", request.service, request.id,
                           error["code"], error["message"])
            self._end(request.service, request.id, "refused", error["code"], now, Light.REFUSED)
            return
        try:
            info = TicketInfo.from_reply(reply.get("ticket") or {})
        except ValueError as exc:
            logger.error("the server's ticket for take %s cannot be printed: %s", request.id, exc)
            self._end(request.service, request.id, "bad_reply", str(exc), now, Light.NO_SERVER)
            return
        self._print(request, info, now)

    def _stray(self, reply: dict[str, Any]) -> None:
        reply_id = reply.get("id")
        if reply_id in self._abandoned and reply.get("ok"):
            label = (reply.get("ticket") or {}).get("label")
            logger.error("ticket %s was issued for take %s after this kiosk gave up waiting: it was NOT printed",
                         label, reply_id)
            del self._abandoned[reply_id]
        else:
            logger.debug("ignored a reply to another request (%s)", reply_id)

    def _print(self, request: Request, info: TicketInfo, replied_at: float) -> None:
        start = time.perf_counter()
        image = self.renderer.render(info, self.site)
        render_s = time.perf_counter() - start
        try:
            job = self.printer.print_ticket(image, info.status_url)
        except PrinterFault as exc:
            logger.error("ticket %s was issued but could not be printed: %s", info.label, exc.message)
            self._set_fault(exc.reason, exc.message)
            self._end(request.service, request.id, "print_failed", info.label, self.clock())
            return
        now = self.clock()
        self.printed += 1
        logger.info("printed %s%s (take %s)", info.label, " (priority)" if info.priority else "", request.id)
        if self.fault and self.fault[0] == "write_failed":
            self._set_fault(None)
        if request.claim is not None and self.cards is not None:
            self.cards.took(request.claim, request.service)
        if self._on_printed is not None:
            self._on_printed(PrintedTicket(info, request.id, image, job, request.pressed_at, replied_at, now,
                                           render_s, request.sends))
        self._end(request.service, request.id, "printed", info.label, now)

    def _print_extra(self, job: ExtraPrint) -> None:
        printed = False
        if self.pending is not None:
            logger.warning("a checklist was not printed: a ticket is being printed")
        elif self._check_printer(self.clock()):
            try:
                self.printer.print_ticket(self.renderer.draw(job.blocks), job.qr_text)
                printed = True
                if self.fault and self.fault[0] == "write_failed":
                    self._set_fault(None)
            except PrinterFault as exc:
                logger.error("a checklist could not be printed: %s", exc.message)
                self._set_fault(exc.reason, exc.message)
        job.done(printed)

    def _end(self, service: str, request_id: str | None, result: str, detail: str, now: float,
             notice: Light | None = None) -> None:
        """A press's request ended: the button cools down, the LEDs may show a notice."""
        self.rules.finish(service, now)
        if notice is not None:
            self._notice = (notice, now + NOTICE_S)
        if self._on_outcome is not None:
            self._on_outcome(Outcome(service, request_id, result, detail))

    # --- printer status -------------------------------------------------------------------

    def _check_printer(self, now: float) -> bool:
        """Read the printer's status, note a fault starting or clearing; whether it can print."""
        status = self.printer.status()
        if status is PrinterStatus.PAPER_OUT:
            self._set_fault("paper_out", "the printer is out of paper")
        elif status is PrinterStatus.OFFLINE:
            self._set_fault("offline", "the printer is offline (cover open, error, or not connected)")
        elif status in (PrinterStatus.READY, PrinterStatus.PAPER_LOW):
            self._set_fault(None)
        if (status is PrinterStatus.PAPER_LOW) != self._paper_low:
            self._paper_low = status is PrinterStatus.PAPER_LOW
            if self._paper_low:
                logger.warning("the printer's paper roll is nearly empty")
        self._next_poll = now + (FAULT_POLL_S if self.fault else STATUS_POLL_S)
        return status.can_print

    def _set_fault(self, reason: str | None, message: str = "") -> None:
        new = (reason, message) if reason else None
        if new == self.fault:
            return
        if new:
            logger.error("printer fault: %s", message)
        else:
            logger.info("printer fault cleared (%s)", self.fault[0] if self.fault else "")
        self.fault = new
        self._publish_status()
        if self._on_fault is not None:
            self._on_fault(reason)

    def _publish_status(self) -> None:
        payload = f"fault {self.fault[0]}: {self.fault[1]}" if self.fault else "online"
        self.bus.publish(self._status_topic, payload.encode("utf-8"), retain=True)

    def _refresh_lights(self) -> None:
        now = self.clock()
        if self.pending is not None:
            light = Light.BUSY
        elif self.fault:
            light = Light.FAULT
        elif self._notice:
            light = self._notice[0]
        elif self.rules.armed(now) or (self.cards is not None and self.cards.armed(now)):
            light = Light.PRIORITY
        else:
            light = Light.READY
        self.lights.show(light)
