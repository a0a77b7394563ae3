"""Throttling login guesses by where they come from, before any password is hashed.

Two limits, kept in memory (one server process; a restart forgets them, which only gives
a guesser a fresh start of a few attempts):

- **account and address**: `attempts` failures in a row for one login from one address stop
  that address trying that login for `lockout` — the same login from another device still
  works, so nobody on the Wi-Fi can lock a colleague out;
- **address**: `address_attempts` failures from one address, over all logins, within one
  `lockout` window stop that address for `lockout` — against trying one password on every
  account.

An attempt is counted when it is *admitted*, before the slow hash, under one lock: parallel
guesses cannot all pass the check before the first failure is written. A success takes its
attempt back. Logins are counted whether or not they exist, so the answers do not tell.
The account-wide limit lives with the account, in the database (`server.users`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

MAX_ENTRIES = 10_000  # remembered (login, address) pairs and addresses; older ones are forgotten past this


@dataclass
class _Count:
    failures: int = 0
    since: datetime | None = None  # start of the counting window (addresses only)
    until: datetime | None = None  # blocked until then
    touched: datetime | None = None


@dataclass(frozen=True)
class Admission:
    """The guard's answer. `allowed`: go on and check the password (the attempt is counted).
    `until`: when not allowed, the end of the block; when allowed, set if this attempt is the
    last before a block, so that its failure can say until when."""

    allowed: bool
    until: datetime | None = None


class LoginGuard:
    """Counts login attempts per (login, address) and per address; thread-safe."""

    def __init__(self, attempts: int, address_attempts: int, lockout: timedelta) -> None:
        self.attempts = attempts
        self.address_attempts = address_attempts
        self.lockout = lockout
        self._lock = threading.Lock()
        self._pairs: dict[tuple[str, str], _Count] = {}
        self._addresses: dict[str, _Count] = {}

    def admit(self, login: str, address: str, now: datetime) -> Admission:
        """Count an attempt of `login` from `address` at `now`, or refuse it while blocked."""
        with self._lock:
            for count in (self._addresses.get(address), self._pairs.get((login, address))):
                if count is not None and _blocks(count, now):
                    return Admission(False, count.until)
            # made only for an admitted attempt: a blocked address cannot fill the tables
            place = self._addresses.setdefault(address, _Count())
            pair = self._pairs.setdefault((login, address), _Count())
            if place.since is None or now - place.since >= self.lockout:
                place.failures, place.since = 0, now
            pair.failures += 1
            place.failures += 1
            pair.touched = place.touched = now
            until = None
            if pair.failures >= self.attempts:
                pair.failures, pair.until = 0, now + self.lockout
                until = pair.until
            if place.failures >= self.address_attempts:
                place.failures, place.until = 0, now + self.lockout
                until = place.until
            self._forget_old(now)
            return Admission(True, until)

    def succeeded(self, login: str, address: str) -> None:
        """The password was right: the pair starts afresh and the address gets its attempt back."""
        with self._lock:
            self._pairs.pop((login, address), None)
            place = self._addresses.get(address)
            if place is not None and place.failures > 0:
                place.failures -= 1

    def forget_login(self, login: str) -> None:
        """Lift every block of `login` (an admin unlocked the account)."""
        with self._lock:
            for key in [k for k in self._pairs if k[0] == login]:
                del self._pairs[key]

    def _forget_old(self, now: datetime) -> None:
        """Bound the memory a flood of made-up logins could take: drop what no longer counts,
        then, still past the bound, the least recently used — blocks last."""
        for table in (self._pairs, self._addresses):
            if len(table) <= MAX_ENTRIES:
                continue
            stale = [k for k, c in table.items() if not _blocks(c, now)
                     and (c.touched is None or now - c.touched >= self.lockout)]
            for key in stale:
                del table[key]
            if len(table) > MAX_ENTRIES:
                oldest = sorted(table, key=lambda k: (_blocks(table[k], now), table[k].touched or now))
                for key in oldest[:len(table) - MAX_ENTRIES]:
                    del table[key]


def _blocks(count: _Count, now: datetime) -> bool:
    return count.until is not None and count.until > now
