"""What a scanned chip ID card does at the kiosk: elderly priority, decided by age alone.

A scan whose holder is `elderly_age` or older arms "elderly priority" for `window_s`, like the
priority button does: the next service press takes a priority ticket of `elderly_group` (a
plain priority ticket when no group is set). A kiosk with a single service button takes that
ticket at once (the kiosk does it; see `Kiosk`). A younger holder gets nothing special (a
normal press), a scan that is not a card QR is reported for one blink of the fault LED.

With `one_ticket_per_card`, a card that already took an elderly ticket of a service today is
refused that service again; the ledger holds a keyed hash per day, in memory (`CardLedger`).

Logs say only "not a CCCD QR (<reason>)" or "elderly: yes/no"; nothing of the card's text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Callable
from zoneinfo import ZoneInfo

from device.cccd import CardLedger, NotACard, read_card
from device.scanner import Scan
from queuebox.clock import local_date
from queuebox.config import Config

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CardSettings:
    """The scan rules of a kiosk, from `[queue]` and `[kiosk]`."""
    elderly_group: str
    elderly_age: int
    one_ticket_per_card: bool
    window_s: float
    zone: ZoneInfo

    @classmethod
    def from_config(cls, config: Config) -> CardSettings:
        return cls(config.queue.elderly_group, config.queue.elderly_age, config.kiosk.one_ticket_per_card,
                   config.kiosk.priority_window_s, config.zone)


@dataclass(frozen=True)
class Claim:
    """An armed elderly priority used by a press: the group, and the card's hash for the day
    (None when the duplicate check is off)."""
    group: str
    card_key: str | None
    day: date


class CardPriority:
    """The state between a scan and the press it arms. `wall_clock` gives the UTC time that
    decides the local day; `now` arguments are the kiosk's monotonic clock."""

    def __init__(self, settings: CardSettings, *, ledger: CardLedger | None = None,
                 wall_clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.settings = settings
        self.ledger = ledger or CardLedger()
        self.wall_clock = wall_clock
        self._armed: tuple[float, Claim] | None = None  # (until, claim)

    def on_scan(self, scan: Scan, now: float) -> str:
        """Judge a scan: "elderly" (priority armed), "not_elderly", or "not_card"."""
        if not scan.complete:
            logger.warning("not a CCCD QR (partial_line)")
            return "not_card"
        day = local_date(self.wall_clock(), self.settings.zone)
        key = self.ledger.key(day) if self.settings.one_ticket_per_card else None
        try:
            facts = read_card(scan.text, today=day, elderly_age=self.settings.elderly_age, key=key)
        except NotACard as refused:
            logger.warning("not a CCCD QR (%s)", refused.reason)
            return "not_card"
        logger.info("ID card scanned: elderly: %s", "yes" if facts.elderly else "no")
        if not facts.elderly:
            self._armed = None
            return "not_elderly"
        self._armed = (now + self.settings.window_s, Claim(self.settings.elderly_group, facts.card_key, day))
        return "elderly"

    def armed(self, now: float) -> bool:
        """Whether a service press at `now` would be an elderly priority one."""
        return self._armed is not None and now <= self._armed[0]

    def armed_until(self) -> float | None:
        return None if self._armed is None else self._armed[0]

    def claim(self, now: float) -> Claim | None:
        """The armed priority, used up by a press at `now`; None if none is armed."""
        armed, self._armed = self._armed, None
        return armed[1] if armed is not None and now <= armed[0] else None

    def already_took(self, claim: Claim, service: str) -> bool:
        """Whether the duplicate check refuses this card `service` again today."""
        return claim.card_key is not None and self.ledger.taken(claim.day, claim.card_key, service)

    def took(self, claim: Claim, service: str) -> None:
        """The card's ticket of `service` was printed."""
        if claim.card_key is not None:
            self.ledger.record(claim.day, claim.card_key, service)
