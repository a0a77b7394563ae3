"""The touch kiosk's screens and what a touch on each does. Pure: no pygame, no MQTT, no clock
(times come in as arguments); `TouchKiosk` holds what the screen shows and returns the effects
its shell must carry out (`Take`, `Fetch`, `PrintChecklist`).

Screens, each with one decision and a way back:
- ``home``: a tile per service of the `services` snapshot, in the centre's order: an open one
  takes a ticket on one touch; a closed one stays, greyed, saying it is closed (a citizen sees
  the field exists and why it gives no ticket). The invitation to touch, the "priority" and
  "look up a procedure" buttons, the language switch. While the printer cannot print, the
  screen says so and no tile takes a touch.
- ``groups``: "priority" opens the centre's priority groups (`[[priority_groups]]`), one large
  button each; a group leads to the tiles of ``priority`` (a priority ticket of a group in
  three touches from home). A centre without groups goes straight to ``priority``.
- ``priority``: the same tiles, each taking a priority ticket (of the group chosen, if any).
- ``result``: "printing…", then the ticket's number big, or why there is none; back home by
  itself after `RESULT_S`.
- ``fields`` → ``procedures`` → ``procedure``: the lookup: a field, its procedures a page at a
  time, one procedure (fee, time, documents fetched from the server) with a button printing its
  checklist of documents, and one taking a ticket of its field.

Every screen but home goes back home after `idle_timeout_s` without a touch, in Vietnamese.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

from queuebox.config import PriorityGroupConfig

RESULT_S = 10.0  # a ticket's number (or why there is none) stays this long
LOOKUP_SCREENS = ("fields", "procedures", "procedure")
PRINTER_FAULTS = ("paper_out", "offline", "write_failed")


@dataclass(frozen=True)
class ServiceTile:
    """A service as the `services` snapshot names it."""
    code: str
    name_vi: str
    name_en: str = ""
    open: bool = True

    def name(self, lang: str) -> str:
        return self.name_en if lang == "en" and self.name_en else self.name_vi


@dataclass(frozen=True)
class Take:
    """Ask for a ticket of `service`: the kiosk's press of that service's button, after the
    press of the priority button (`priority`) or of the button of priority group `group`."""
    service: str
    priority: bool
    group: str | None = None


@dataclass(frozen=True)
class Fetch:
    """Fetch procedure `procedure_id`'s details (its documents) from the server."""
    procedure_id: int


@dataclass(frozen=True)
class PrintChecklist:
    """Print the checklist of documents of `detail` (a procedure as the server's JSON gives it)."""
    detail: dict[str, Any]


Effect = Union[Take, Fetch, PrintChecklist]


@dataclass
class Result:
    """What the result screen shows: `state` printing, printed, refused, no_reply, print_failed,
    printer_fault or bad_reply; `label`, `ahead` and `wait_min` of a printed ticket; `code` of a refusal."""
    service: str
    priority: bool
    state: str = "printing"
    label: str = ""
    ahead: int | None = None
    wait_min: int | None = None
    code: str = ""
    group: str = ""  # the priority group's code, "" for none
    at: float = 0.0


@dataclass
class TouchState:
    """Everything the screen draws."""
    services: tuple[ServiceTile, ...] = ()
    groups: tuple[PriorityGroupConfig, ...] = ()  # the centre's priority groups, in its order
    waiting: dict[str, int] = field(default_factory=dict)
    procedures: dict[str, tuple[dict[str, Any], ...]] = field(default_factory=dict)
    minutes: dict[str, int] = field(default_factory=dict)  # expected minutes per citizen, where known
    fault: str | None = None  # why the printer cannot print, or None
    lang: str = "vi"
    screen: str = "home"
    group: str | None = None  # the priority group chosen on the way to the priority tiles
    field_code: str | None = None
    page: int = 0
    procedure: dict[str, Any] | None = None  # the summary of the procedure shown
    detail: dict[str, Any] | None = None  # its details from the server
    detail_status: str = "none"  # loading, ok, failed
    checklist: str | None = None  # printing, printed, failed
    result: Result | None = None
    busy: bool = False  # a ticket or a checklist is being asked for or printed

    def service(self, code: str | None) -> ServiceTile | None:
        return next((s for s in self.services if s.code == code), None)

    def priority_group(self, code: str | None) -> PriorityGroupConfig | None:
        return next((g for g in self.groups if g.code == code), None)

    def can_take(self) -> bool:
        return self.fault is None and not self.busy

    def estimate_min(self, code: str) -> int | None:
        """About how many minutes a ticket of `code` taken now waits, if the minutes per citizen are known."""
        per = self.minutes.get(code)
        waiting = self.waiting.get(code)
        return None if per is None or waiting is None else per * waiting


class TouchKiosk:
    """The screen's state and its rules; see the module docstring."""

    def __init__(self, *, idle_timeout_s: float, minutes: dict[str, int] | None = None,
                 groups: tuple[PriorityGroupConfig, ...] = (), now: float = 0.0) -> None:
        self.state = TouchState(minutes=dict(minutes or {}), groups=tuple(groups))
        self.idle_timeout_s = idle_timeout_s
        self.touched_at = now

    # --- touches ----------------------------------------------------------------------

    def press(self, action: tuple[Any, ...], now: float) -> list[Effect]:
        """A touch on the button whose action is `action` (see `device.touch_layout`)."""
        s = self.state
        self.touched_at = now
        kind = action[0]
        if kind == "take":
            return self._take(action[1], bool(action[2]), now)
        if kind == "lang":
            s.lang = "en" if s.lang == "vi" else "vi"
        elif kind == "goto":
            self._go("groups" if action[1] == "priority" and s.groups else action[1])
        elif kind == "group":
            if s.priority_group(action[1]) is not None:
                s.group = action[1]
                self._go("priority")
        elif kind == "home":
            self._go("home")
        elif kind == "back":  # one step up the lookup, or from the priority tiles to the groups
            self._go({"procedure": "procedures", "procedures": "fields",
                      "priority": "groups" if s.groups else "home"}.get(s.screen, "home"))
        elif kind == "field":
            s.field_code, s.page = action[1], 0
            self._go("procedures")
        elif kind == "page":
            s.page = max(0, int(action[1]))
        elif kind == "procedure":
            s.procedure, s.detail, s.detail_status, s.checklist = action[1], None, "loading", None
            self._go("procedure")
            return [Fetch(int(action[1]["id"]))]
        elif kind == "checklist":
            if s.detail is not None and s.can_take():
                s.busy, s.checklist = True, "printing"
                return [PrintChecklist(s.detail)]
        return []

    def _take(self, code: str, priority: bool, now: float) -> list[Effect]:
        s = self.state
        tile = s.service(code)
        if tile is None or not tile.open or not s.can_take():
            return []
        group = s.group if priority else None
        s.busy = True
        s.result = Result(code, priority, group=group or "", at=now)
        self._go("result")
        return [Take(code, priority, group)]

    def _go(self, screen: str) -> None:
        s = self.state
        s.screen = screen
        if screen in ("home", "groups"):
            s.group = None
        if screen == "home":
            s.field_code, s.page, s.procedure, s.detail, s.detail_status, s.checklist = None, 0, None, None, "none", None
        elif screen == "fields":
            s.field_code, s.page = None, 0

    # --- what the kiosk and the server say -----------------------------------------------

    def on_services(self, snapshot: dict[str, Any]) -> None:
        """A `services` snapshot (parsed): tiles follow names and open/closed live."""
        s = self.state
        s.services = tuple(ServiceTile(i["code"], i["name_vi"], i.get("name_en") or "", bool(i.get("open", True)))
                           for i in snapshot.get("services", ()))
        if s.field_code is not None and s.service(s.field_code) is None:  # the field shown was removed
            self._go("home")

    def on_board(self, board: dict[str, Any]) -> None:
        """A `board` snapshot (parsed): the numbers waiting per service."""
        self.state.waiting = dict(board.get("waiting") or {})

    def on_procedures(self, service: str, summary: dict[str, Any] | None) -> None:
        """A `procedures/<service>` summary (parsed; None when the service has none any more)."""
        if summary:
            self.state.procedures[service] = tuple(summary.get("procedures", ()))
        else:
            self.state.procedures.pop(service, None)

    def on_fault(self, reason: str | None) -> None:
        """The printer's fault began (`reason`) or cleared (None)."""
        self.state.fault = reason

    def on_outcome(self, service: str, result: str, detail: str, now: float, *, ahead: int | None = None,
                   wait_min: int | None = None) -> None:
        """A ticket request ended (`device.kiosk.Outcome`): the result screen says how."""
        s = self.state
        s.busy = False
        r = s.result
        if r is None or r.service != service or r.state != "printing" or s.screen != "result":
            return  # the citizen left the screen meanwhile: nothing to show
        r.state, r.at = result, now
        if result in ("printed", "print_failed"):
            r.label, r.ahead, r.wait_min = detail, ahead, wait_min
        elif result == "refused":
            r.code = detail

    def on_ignored(self, service: str) -> None:
        """The kiosk ignored the press of `service` (a double touch within its cooldown): no ticket
        comes of it, and the one already printed was shown."""
        s = self.state
        if s.result is not None and s.result.service == service and s.result.state == "printing":
            s.busy = False
            s.result = None
            self._go("home")

    def on_detail(self, procedure_id: int, detail: dict[str, Any] | None) -> None:
        """The server's details of a procedure came (None: they could not be fetched)."""
        s = self.state
        if s.procedure is None or s.procedure.get("id") != procedure_id:
            return
        s.detail, s.detail_status = detail, "ok" if detail is not None else "failed"

    def on_checklist(self, printed: bool) -> None:
        """The checklist was printed, or not."""
        s = self.state
        s.busy = False
        s.checklist = "printed" if printed else "failed"

    # --- time -------------------------------------------------------------------------

    def tick(self, now: float) -> bool:
        """Back home after a result was shown, or when nobody touched the screen for a while;
        whether the screen changed."""
        s = self.state
        if s.screen == "result" and s.result is not None and s.result.state != "printing":
            if now - s.result.at >= RESULT_S:
                s.result = None
                self._go("home")
                s.lang = "vi"
                return True
            return False
        if s.screen == "result":
            return False  # printing: the kiosk's own timeout ends it
        if (s.screen != "home" or s.lang != "vi") and now - self.touched_at >= self.idle_timeout_s:
            self._go("home")
            s.lang = "vi"
            return True
        return False

    def next_due(self, now: float) -> float | None:
        """When `tick` may next change something, or None."""
        s = self.state
        if s.screen == "result":
            return s.result.at + RESULT_S if s.result and s.result.state != "printing" else None
        if s.screen != "home" or s.lang != "vi":
            return self.touched_at + self.idle_timeout_s
        return None
