"""server.login_guard: attempts counted when admitted, per (login, address) and per address,
with bounded memory."""

from __future__ import annotations

from datetime import timedelta

from server import login_guard
from server.login_guard import LoginGuard
from tests.factories import MONDAY_9AM

LOCKOUT = timedelta(minutes=15)


def test_the_last_admitted_attempt_says_until_when_and_the_next_is_refused():
    guard = LoginGuard(3, 20, LOCKOUT)
    answers = [guard.admit("clerk1", "10.0.0.9", MONDAY_9AM) for _ in range(4)]
    assert [a.allowed for a in answers] == [True, True, True, False]
    assert answers[2].until == answers[3].until == MONDAY_9AM + LOCKOUT and answers[0].until is None


def test_a_success_starts_the_pair_afresh():
    guard = LoginGuard(3, 20, LOCKOUT)
    for _ in range(2):
        guard.admit("clerk1", "10.0.0.9", MONDAY_9AM)
    guard.succeeded("clerk1", "10.0.0.9")
    assert [guard.admit("clerk1", "10.0.0.9", MONDAY_9AM).allowed for _ in range(3)] == [True] * 3


def test_the_address_window_restarts_after_lockout():
    guard = LoginGuard(3, 4, LOCKOUT)
    for n in range(3):
        guard.admit(f"user{n}", "10.0.0.9", MONDAY_9AM)
    later = MONDAY_9AM + LOCKOUT
    assert all(guard.admit(f"other{n}", "10.0.0.9", later).allowed for n in range(3))  # 3 of 4 in the new window


def test_forgetting_a_login_lifts_its_blocks_only():
    guard = LoginGuard(1, 20, LOCKOUT)
    guard.admit("clerk1", "10.0.0.9", MONDAY_9AM)
    guard.admit("clerk2", "10.0.0.9", MONDAY_9AM)
    guard.forget_login("clerk1")
    assert guard.admit("clerk1", "10.0.0.9", MONDAY_9AM).allowed
    assert not guard.admit("clerk2", "10.0.0.9", MONDAY_9AM).allowed


def test_a_flood_of_made_up_logins_stays_bounded_and_keeps_live_blocks(monkeypatch):
    monkeypatch.setattr(login_guard, "MAX_ENTRIES", 100)
    guard = LoginGuard(2, 1000, LOCKOUT)
    for _ in range(2):
        guard.admit("admin", "10.0.0.1", MONDAY_9AM)  # this pair is blocked for 15 minutes
    for n in range(1000):  # one attempt each from many addresses, within those 15 minutes
        guard.admit(f"x{n}", f"10.1.{n // 250}.{n % 250}", MONDAY_9AM + timedelta(seconds=1 + n // 100))
    assert len(guard._pairs) <= 100 and len(guard._addresses) <= 100
    assert not guard.admit("admin", "10.0.0.1", MONDAY_9AM + timedelta(minutes=1)).allowed
