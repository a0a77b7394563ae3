"""The chip ID card (căn cước công dân, CCCD) QR code: what a kiosk may learn from it.

The QR code printed on the card holds one line of seven ``|``-separated fields: the 12-digit
ID number, the old 9-digit ID (may be empty), the full name, the date of birth ``ddmmyyyy``,
the sex, the address and the date of issue ``ddmmyyyy``. The name and address are UTF-8
Vietnamese, which a keyboard-mode scanner may mangle or drop; only the ID number and the
dates are needed, and they are ASCII.

`read_card` checks the line and returns only what the kiosk may use (Decree 13/2023/NĐ-CP:
personal data is collected only for a stated purpose and no more than it needs): whether the
holder is elderly today, and, when the daily duplicate check is on, a keyed hash of the ID
number (HMAC-SHA256 under a random key that lives in memory for one business day, so the hash
cannot be matched against anything else and means nothing the next day). The name, address,
sex and the dates themselves never leave this module, and a refusal names only a reason code.

Pure: the day and the key come in as arguments; `CardLedger` holds the key and what was taken.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import date
from typing import Callable

FIELDS = 7
ID_DIGITS = 12

# Why a scan is not a usable CCCD QR. The codes alone are logged: none holds personal data.
REASONS = {
    "partial_line": "the scanner sent part of a line (no Enter)",
    "field_count": "not seven |-separated fields",
    "bad_id": "the ID number is not 12 digits",
    "bad_birth_date": "the date of birth is not a real ddmmyyyy date",
    "birth_in_future": "the date of birth is after today",
    "bad_issue_date": "the date of issue is not a real ddmmyyyy date",
    "issue_before_birth": "the date of issue is before the date of birth",
    "issue_in_future": "the date of issue is after today",
}


class NotACard(ValueError):
    """The scanned text is not a usable CCCD QR; `reason` is a code of `REASONS`."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"not a CCCD QR: {reason} ({REASONS[reason]})")
        self.reason = reason


@dataclass(frozen=True)
class CardFacts:
    """All a kiosk keeps of a scan: the age decision and, with the duplicate check on, the
    day's keyed hash of the ID number (hex), else None."""
    elderly: bool
    card_key: str | None = None

    def __repr__(self) -> str:  # the hash is not personal, but it has no business in a log either
        return f"CardFacts(elderly={self.elderly}, card_key={'…' if self.card_key else None})"


def age_on(birth: date, today: date) -> int:
    """Full years on `today` of someone born on `birth`. A birthday counts from its own day;
    someone born on 29 February has theirs on 1 March in a year without one."""
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def read_card(text: str, *, today: date, elderly_age: int, key: bytes | None = None) -> CardFacts:
    """Check a scanned line and decide: is its holder `elderly_age` or older on `today` (the
    local business day, in the site's time zone)? `key` (the day's secret) asks for the ID
    number's keyed hash too. Raises `NotACard` with a reason code and nothing personal."""
    fields = text.strip("\r\n").split("|")
    if len(fields) != FIELDS:
        raise NotACard("field_count")
    id_number, _old_id, _name, birth_text, _sex, _address, issue_text = fields
    if len(id_number) != ID_DIGITS or not id_number.isascii() or not id_number.isdigit():
        raise NotACard("bad_id")
    birth = _date(birth_text, "bad_birth_date")
    if birth > today:
        raise NotACard("birth_in_future")
    issued = _date(issue_text, "bad_issue_date")
    if issued < birth:
        raise NotACard("issue_before_birth")
    if issued > today:
        raise NotACard("issue_in_future")
    card_key = hmac.new(key, id_number.encode("ascii"), hashlib.sha256).hexdigest() if key is not None else None
    return CardFacts(age_on(birth, today) >= elderly_age, card_key)


def _date(text: str, reason: str) -> date:
    if len(text) != 8 or not text.isascii() or not text.isdigit():
        raise NotACard(reason)
    try:
        return date(int(text[4:]), int(text[2:4]), int(text[:2]))
    except ValueError:  # 31/02, month 13, day 0
        raise NotACard(reason) from None


class CardLedger:
    """The daily duplicate check's memory: a random key per business day, and which
    (card hash, service) took an elderly ticket that day. Changing day forgets both, so no
    hash outlives its day. Kept in memory only; a restart forgets it too (a new key)."""

    def __init__(self, new_key: Callable[[], bytes] = lambda: secrets.token_bytes(32)) -> None:
        self._new_key = new_key
        self._day: date | None = None
        self._key = b""
        self._taken: set[tuple[str, str]] = set()

    def key(self, day: date) -> bytes:
        """The secret of `day`; a new day gets a new one and an empty ledger."""
        if day != self._day:
            self._day, self._key, self._taken = day, self._new_key(), set()
        return self._key

    def taken(self, day: date, card_key: str, service: str) -> bool:
        """Whether that card already took a ticket of `service` on `day`."""
        return day == self._day and (card_key, service) in self._taken

    def record(self, day: date, card_key: str, service: str) -> None:
        """That card took a ticket of `service` on `day`."""
        if day == self._day:
            self._taken.add((card_key, service))
