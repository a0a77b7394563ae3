"""Builders of hub batches for tests: a centre's events as the engine writes them."""

from __future__ import annotations

from queuebox.hub_protocol import Batch, HubEvent

DAY = "2026-11-23"


def event(seq: int, type_: str = "paused", *, ticket: int | None = None, minute: int | None = None,
          counter: str | None = "1", actor: str | None = "web/clerk1", **data: object) -> HubEvent:
    """Event `seq` at 09:00 + `minute` (default: seq seconds) on DAY, Ho Chi Minh time."""
    seconds = seq if minute is None else minute * 60
    at = f"{DAY}T{9 + seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.000+07:00"
    return HubEvent(seq, at, type_, ticket, counter, actor, dict(data))


def batch(centre: str, first: int, last: int, epoch: int = 0) -> Batch:
    """Events `first` … `last` of plain counter pauses (no tickets)."""
    return Batch(centre, epoch, first, tuple(event(s) for s in range(first, last + 1)))


def ticket_story(start_seq: int, ticket: int, label: str, service: str = "A") -> list[HubEvent]:
    """Issued, called, started, done, rated: five events of one ticket, a minute apart."""
    s = start_seq
    return [event(s, "issued", ticket=ticket, counter=None, actor="kiosk/1", minute=s, service=service,
                  label=label, priority=False, kiosk="1"),
            event(s + 1, "called", ticket=ticket, minute=s + 1, queue=service, rejoined=False, label=label),
            event(s + 2, "started", ticket=ticket, minute=s + 2, label=label),
            event(s + 3, "done", ticket=ticket, minute=s + 3, service_s=60.0, label=label),
            event(s + 4, "rated", ticket=ticket, minute=s + 4, score=2, label=label)]
