"""Guessing passwords against a real waitress server, in parallel and from several addresses
(127.0.0.2, 127.0.0.3 … are other devices of the network): attempts are counted before the
slow hash, throttled per address, and only many failures from everywhere lock an account,
which an admin sees and unlocks."""

from __future__ import annotations

import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import pytest

from server import store, users
from server.engine import Engine
from server.web import create_app
from tests.factories import make_config
from tests.web.browser import LiveServer
from tests.web.conftest import PASSWORD, engine_with_accounts
from tests.web.http_client import Device

PRODUCTION_HASH = "pbkdf2:sha256:600000"  # users.HASH_METHOD as shipped: ~0.2 s a check here
LIMITS = {"login_attempts": 3, "address_attempts": 7, "account_attempts": 8, "lockout_min": 15}
WRONG = "Sai tên đăng nhập hoặc mật khẩu"
DEVICE_LOCKED = "thiết bị này bị khoá"
ACCOUNT_LOCKED = "tài khoản bị khoá"


@pytest.fixture
def engine(tmp_path, clock) -> Iterator[Engine]:
    eng = engine_with_accounts(make_config(server=LIMITS), tmp_path / "web.db", clock)
    yield eng
    eng.close()


@pytest.fixture
def server(engine) -> Iterator[LiveServer]:
    app = create_app(engine, secret_key="test secret")
    with LiveServer(app) as live:
        yield live


def add_slow_account(engine: Engine, login: str, monkeypatch: pytest.MonkeyPatch, *, active: bool = True) -> None:
    """An account hashed as in production, so that a check takes as long as at a centre."""
    monkeypatch.setattr(users, "HASH_METHOD", PRODUCTION_HASH)
    db = store.open_database(engine.db_path)
    users.add(db, login, PASSWORD, "clerk", ["1"], engine.now())
    if not active:
        users.update(db, login, "clerk", ["1"], active=False)
    db.close()


def failures(engine: Engine, login: str) -> int:
    db = store.open_database(engine.db_path)
    try:
        return int(db.execute("SELECT failed_logins FROM users WHERE login = ?", [login]).fetchone()[0])
    finally:
        db.close()


def answer(reply) -> str:
    if reply.status == 302:
        return "in"
    for name, text in (("wrong", WRONG), ("device", DEVICE_LOCKED), ("account", ACCOUNT_LOCKED)):
        if text in reply.text:
            return name
    return f"{reply.status}?"


def test_forty_parallel_guesses_get_login_attempts_checks_then_the_address_is_stopped(server, engine, monkeypatch):
    add_slow_account(engine, "victim", monkeypatch)
    attempts = LIMITS["login_attempts"]
    with ThreadPoolExecutor(40) as pool:
        answers = list(pool.map(lambda _: answer(Device(server.url).log_in("victim", "guess")), range(40)))
    # the last checked guess already says the device is stopped; none after it was checked
    assert answers.count("wrong") == attempts - 1 and answers.count("device") == 40 - (attempts - 1), answers
    assert failures(engine, "victim") == attempts  # every check counted, none lost to a race
    assert answer(Device(server.url).log_in("victim")) == "device"  # even the right password, from here


def test_a_guesser_cannot_lock_a_colleague_out(server):
    guesser = Device(server.url, "127.0.0.3")
    answers = [answer(guesser.log_in("clerk1", f"guess {n}")) for n in range(LIMITS["login_attempts"] + 2)]
    assert answers[-1] == "device"
    assert answer(Device(server.url, "127.0.0.2").log_in("clerk1")) == "in"


def test_an_address_that_tries_many_accounts_is_stopped_for_all(server):
    guesser = Device(server.url, "127.0.0.3")
    logins = ["admin", "manager", "clerk1", "clerk3", "nobody", "x1", "x2"]
    answers = [answer(guesser.log_in(login, "summer2026")) for login in logins[:LIMITS["address_attempts"]]]
    assert answers[:-1] == ["wrong"] * (LIMITS["address_attempts"] - 1) and answers[-1] == "device"
    assert answer(guesser.log_in("clerk3")) == "device"  # an account it never tried, right password
    assert answer(Device(server.url, "127.0.0.2").log_in("clerk3")) == "in"


def test_the_address_may_try_again_after_lockout_min(server, clock):
    guesser = Device(server.url, "127.0.0.3")
    for n in range(LIMITS["login_attempts"]):
        guesser.log_in("clerk1", f"guess {n}")
    assert answer(guesser.log_in("clerk1")) == "device"
    clock.advance(minutes=LIMITS["lockout_min"])
    assert answer(guesser.log_in("clerk1")) == "in"


def test_many_failures_from_everywhere_lock_the_account_until_an_admin_unlocks_it(server, engine):
    n = 0
    while failures(engine, "clerk1") < LIMITS["account_attempts"] - 1:
        n += 1
        assert answer(Device(server.url, f"127.0.1.{n}").log_in("clerk1", "guess")) == "wrong"
    assert answer(Device(server.url, "127.0.2.1").log_in("clerk1", "guess")) == "account"
    assert answer(Device(server.url, "127.0.2.2").log_in("clerk1")) == "account"  # right password, new address

    admin = Device(server.url)
    assert admin.log_in("admin").status == 302
    row = admin.get("/admin/users").text.split('data-login="clerk1"')[1].split("</tr>")[0]
    assert "Khoá đến" in row and "Mở khoá" in row
    assert admin.post_form("/admin/users/clerk1/unlock", {}).status == 302
    assert "Khoá đến" not in admin.get("/admin/users").text.split('data-login="clerk1"')[1].split("</tr>")[0]
    events = [(e["actor"], json.loads(e["data"])) for e in store_events(engine, "user_changed")]
    assert events == [("web/admin", {"login": "clerk1", "change": "unlocked"})]
    assert answer(Device(server.url, "127.0.2.2").log_in("clerk1")) == "in"


def store_events(engine: Engine, kind: str) -> list[dict]:
    db = store.open_database(engine.db_path)
    try:
        return list(db.query("SELECT type, actor, data FROM events WHERE type = ?", [kind]))
    finally:
        db.close()


def test_disabled_and_unknown_accounts_cost_a_hash_and_answer_the_same(server, engine, monkeypatch):
    add_slow_account(engine, "active", monkeypatch)
    add_slow_account(engine, "disabled", monkeypatch, active=False)

    def timed(login: str, address: str) -> tuple[str, float]:
        started = time.perf_counter()
        reply = Device(server.url, address).log_in(login, PASSWORD if login == "disabled" else "guess")
        return answer(reply), time.perf_counter() - started

    runs = {login: [timed(login, f"127.0.3.{i}") for i in range(1, 3)] for login in ("active", "disabled", "ghost")}
    assert {login: {a for a, _ in r} for login, r in runs.items()} == {l: {"wrong"} for l in runs}
    wrong = statistics.median(t for _, t in runs["active"])
    for login in ("disabled", "ghost"):  # the production check takes ~0.2 s; a skipped one ~0.005 s
        assert statistics.median(t for _, t in runs[login]) > wrong / 3, runs
