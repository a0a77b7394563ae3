"""What a counter display shows, one definition for the pygame screen (display/counter_layout.py)
and the web page (server/web/counter_display.py): pure, stdlib only.

A counter display stands above one counter and shows its name and the number it is calling or
serving, very large. `screen_of` reads the counter's retained `counter/<id>/state` (already
validated by `queuebox.protocol_messages.parse_counter_state`, or None before any, or "removed" after the
server deleted it) into a `CounterScreen`; `WORDS` are its texts, Vietnamese and English.

The number blinks for `display.highlight_s` after each call of it, a recall included: a call is
known by the board's newest entry for this counter (ticket, time of the call, recall count),
which changes on every call and recall, whereas a new `seq` of the state comes with any change
at the centre.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PHASES = ("calling", "serving", "idle", "paused", "removed", "unknown")
WORDS = {
    "calling": {"vi": "MỜI SỐ", "en": "Now calling"},
    "serving": {"vi": "ĐANG PHỤC VỤ", "en": "Now serving"},
    "idle": {"vi": "Mời số tiếp theo", "en": "Next number, please"},
    "paused": {"vi": "Tạm dừng", "en": "Paused"},
    "removed": {"vi": "Quầy không hoạt động", "en": "This counter is not in use"},
    "unknown": {"vi": "Đang chờ máy chủ…", "en": "Waiting for the server…"},
    "call_n": {"vi": "Gọi lần {n}", "en": "Call {n}"},
    "offline": {"vi": "Mất kết nối máy chủ", "en": "Server offline"},
}
REMOVED = "removed"  # what the display passes for a state the server deleted (an empty retained payload)


@dataclass(frozen=True)
class CounterScreen:
    """One counter as its display shows it. `phase` is one of PHASES; `ticket` is the label it
    calls or serves ("" otherwise); `reason` why it is paused ("" if none given); `name` its full
    name ("" when neither the state nor the configuration names it); `seq` the state's (-1 before any)."""
    counter: str
    phase: str = "unknown"
    ticket: str = ""
    reason: str = ""
    name: str = ""
    seq: int = -1


def screen_of(counter: str, state: dict[str, Any] | str | None, name: str = "") -> CounterScreen:
    """The screen of `counter` from its validated state (None: none yet; REMOVED: deleted by the
    server). `name` is the configured name, used when the state carries none (an older server)."""
    if state is None:
        return CounterScreen(counter, "unknown", name=name)
    if state == REMOVED or not isinstance(state, dict):
        return CounterScreen(counter, "removed", name=name)
    phase = state.get("state") if state.get("state") in ("calling", "serving", "idle", "paused") else "unknown"
    ticket = state.get("ticket") if isinstance(state.get("ticket"), str) else ""
    if phase in ("calling", "serving") and not ticket:
        phase = "idle"  # a state that holds nothing is free, whatever it says
    reason = state.get("reason") if phase == "paused" and isinstance(state.get("reason"), str) else ""
    given = state.get("name") if isinstance(state.get("name"), str) else ""
    seq = state.get("seq") if type(state.get("seq")) is int else -1
    return CounterScreen(counter, phase, ticket if phase in ("calling", "serving") else "", reason,
                         given or name, seq)


def counter_call(calls: list[dict[str, Any]], counter: str) -> dict[str, Any] | None:
    """The newest call of `counter` among a board's `calls` (newest first, as the protocol sends
    them), or None."""
    return next((c for c in calls if isinstance(c, dict) and c.get("counter") == counter), None)
