"""How the dashboard writes times, shares and faults, in the page's language."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.overview import Fault
from hub.web.common import settings
from hub.web.i18n import N_, _, current_language

# The fault messages of hub.overview (FAULT_MESSAGES, DEVICE_OFFLINE, DEVICE_FAULT), marked for the catalogs.
_MARKED = [N_("printer out of paper"), N_("printer offline"), N_("printer failed to print"), N_("device offline"),
           N_("device fault")]


def decimal(value: float, digits: int) -> str:
    text = f"{value:.{digits}f}"
    return text.replace(".", ",") if current_language() == "vi" else text


def wait(seconds: float | None) -> str:
    """A wait as minutes ("12 ph" / "12 min"), under a minute as "<1"; "—" for none."""
    if seconds is None:
        return "—"
    minutes = int(seconds // 60)
    return _("%(num)s min", num=minutes) if minutes else _("<1 min")


def percent(value: float | None) -> str:
    return "—" if value is None else decimal(value, 0) + " %"


def cell(column: str, value: Any) -> str:
    """A cell of a report table: shares with " %", minutes to 0.1, the language's decimal mark."""
    if value is None:
        return "—"
    if column.endswith("_pct"):
        return decimal(value, 1) + " %"
    if isinstance(value, float):
        return decimal(value, 1)
    return str(value)


def heard(moment: datetime) -> str:
    """When a centre was last heard from, in the site's time: "14:05" today, else "02/12 14:05"."""
    s = settings()
    local = moment.astimezone(s.config.zone)
    today = s.now().astimezone(s.config.zone).date()
    return local.strftime("%H:%M" if local.date() == today else "%d/%m %H:%M")


def fault(f: Fault) -> str:
    return f"{_(f.message)} ({f.device})"


def format_helpers() -> dict[str, Any]:
    return {"zip": zip, "fmt_wait": wait, "fmt_percent": percent, "fmt_cell": cell, "fmt_heard": heard, "fmt_fault": fault}
