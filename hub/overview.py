"""The province at a glance, as plain rules: one `CentreRow` per centre from what the hub keeps
(its retained live summary and when it was last heard from), the order of the rows, and what
a device fault means in words. No Flask, no SQL: the dashboard's pages and tests share these.

A centre is *online* when it was heard from within `ONLINE_S`: its uplink publishes the live
summary whenever it changes (a waiting citizen's wait grows every second), and unchanged at
least every `LIVE_HEARTBEAT_S` (a closed centre at night), and sends events as they happen; a
centre not heard for two heartbeats shows when it was last heard.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from hub.store import Centre
from queuebox.hub_protocol import LIVE_HEARTBEAT_S

ONLINE_S = 2 * LIVE_HEARTBEAT_S  # heard from within this many seconds: online
SORTS = ("waiting", "longest", "satisfaction", "centre")

# The reasons a kiosk gives on its status topic (docs/protocol.md `status/<client>`), and a
# device that went away (its last will), as message ids the web translates.
FAULT_MESSAGES = {
    "paper_out": "printer out of paper",
    "offline": "printer offline",
    "write_failed": "printer failed to print",
}
DEVICE_OFFLINE = "device offline"
DEVICE_FAULT = "device fault"


@dataclass(frozen=True)
class Fault:
    """One device that is not `online`: its client id and what is wrong (a message id)."""
    device: str
    message: str


@dataclass(frozen=True)
class CentreRow:
    """One centre on the overview. The figures are today's, from the live summary (None when
    the centre never sent one)."""
    id: str
    online: bool
    last_heard: datetime
    counters_open: int | None = None
    waiting: int | None = None
    longest_wait_s: int | None = None
    over_target: bool = False  # some service's longest wait is past its target
    served_today: int | None = None
    satisfied_pct: float | None = None
    rated_today: int = 0
    faults: tuple[Fault, ...] = ()
    services: tuple[dict[str, Any], ...] = field(default=(), compare=False)
    software: str | None = None


def fault_of(device: str, status: str) -> Fault:
    """What a device's retained status says: `offline`, or `fault <reason>: <message>`."""
    if status == "offline":
        return Fault(device, DEVICE_OFFLINE)
    reason = status.removeprefix("fault ").split(":", 1)[0].strip()
    return Fault(device, FAULT_MESSAGES.get(reason, DEVICE_FAULT))


def centre_row(centre: Centre, now: datetime) -> CentreRow:
    """The overview row of `centre` at `now` (timezone-aware)."""
    online = (now - centre.last_heard).total_seconds() <= ONLINE_S
    live = centre.live
    if not live:
        return CentreRow(centre.id, online, centre.last_heard)
    services = tuple(s for s in live.get("services", []) if isinstance(s, dict))
    faults = tuple(fault_of(str(device), str(status)) for device, status in sorted((live.get("faults") or {}).items()))
    return CentreRow(
        centre.id, online, centre.last_heard,
        counters_open=live.get("counters_open"), waiting=live.get("waiting"),
        longest_wait_s=live.get("longest_wait_s"), over_target=any(s.get("over_target") for s in services),
        served_today=live.get("served_today"), satisfied_pct=live.get("satisfied_pct"),
        rated_today=int(live.get("rated_today") or 0), faults=faults, services=services,
        software=live.get("software"))


def sort_rows(rows: list[CentreRow], by: str) -> list[CentreRow]:
    """Rows ordered for the overview: most waiting, longest wait, or least satisfied first (the
    centres that need the province's attention on top; unknown figures last), or by centre id."""
    keys: dict[str, Callable[[CentreRow], Any]] = {
        "waiting": lambda r: (r.waiting is None, -(r.waiting or 0), r.id),
        "longest": lambda r: (r.longest_wait_s is None, -(r.longest_wait_s or 0), r.id),
        "satisfaction": lambda r: (r.satisfied_pct is None, r.satisfied_pct or 0.0, r.id),
        "centre": lambda r: r.id,
    }
    return sorted(rows, key=keys.get(by, keys["centre"]))
