"""Many writers on one SQLite file: threads sharing one Engine, and processes each with its own.

The file is read back with plain sqlite3 afterwards: numbers per (day, service) are 1..n with no
gap and no duplicate, every ticket has exactly one `issued` event, `events.seq` has no gap and
each seq reached exactly one caller, and no ticket was ever held by two counters at once.
"""

from __future__ import annotations

import multiprocessing
import queue
import sqlite3
import threading
import traceback
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from queuebox.config import Config
from server import store
from server.engine import Engine, Result
from tests.factories import MONDAY_9AM

JOIN_TIMEOUT_S = 120


# --- reading the file back ---------------------------------------------------------------------

def query(db_path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def numbers_by_service(db_path: Path) -> dict[tuple[str, str], list[int]]:
    numbers: dict[tuple[str, str], list[int]] = {}
    for day, service, number in query(db_path, "SELECT day, service, number FROM tickets ORDER BY day, service, number"):
        numbers.setdefault((day, service), []).append(number)
    return numbers


def assert_file_is_consistent(db_path: Path, replies: list[dict[str, Any]], seqs: list[int]) -> None:
    """The checks every scenario shares; `replies` are the successful take replies, `seqs` every
    event seq the callers got back in their `Result.events`."""
    for key, numbers in numbers_by_service(db_path).items():
        assert numbers == list(range(1, len(numbers) + 1)), f"numbers of {key} have a gap or a duplicate"
    labels = [label for (label,) in query(db_path, "SELECT label FROM tickets")]
    assert len(labels) == len(set(labels)), "a label was issued twice"
    assert sorted(r["ticket"]["label"] for r in replies) == sorted(labels), "replies and the file disagree"
    ids = [i for (i,) in query(db_path, "SELECT id FROM tickets ORDER BY id")]
    assert [t for (t,) in query(db_path, "SELECT ticket FROM events WHERE type = 'issued' ORDER BY ticket")] == ids
    in_file = [s for (s,) in query(db_path, "SELECT seq FROM events ORDER BY seq")]
    assert in_file == list(range(1, len(in_file) + 1)), "events.seq has a gap"
    assert sorted(seqs) == in_file, "an event seq was reported to two callers, or to none"
    assert query(db_path, "SELECT count(*) FROM days") == [(1,)]
    assert query(db_path, "SELECT count(*) FROM events WHERE type = 'day_opened'") == [(1,)]


def replay_holders(db_path: Path) -> tuple[dict[int, str], int]:
    """Walk the event log in seq order and check invariant 4 at every step: a ticket is held by
    at most one counter and a counter holds at most one ticket. Returns (who holds what now,
    number of calls)."""
    holder: dict[int, str] = {}  # ticket -> counter
    holding: dict[str, int] = {}  # counter -> ticket
    calls = 0
    for seq, kind, ticket, counter in query(db_path, "SELECT seq, type, ticket, counter FROM events ORDER BY seq"):
        if kind == "called":
            assert ticket not in holder, f"seq {seq}: ticket {ticket} called by {counter} while {holder.get(ticket)} holds it"
            assert counter not in holding, f"seq {seq}: counter {counter} called {ticket} while holding {holding.get(counter)}"
            holder[ticket], holding[counter] = counter, ticket
            calls += 1
        elif kind == "done":
            assert holder.get(ticket) == counter and holding.get(counter) == ticket, f"seq {seq}: done by a non-holder"
            del holder[ticket], holding[counter]
        else:
            assert kind in ("issued", "day_opened"), f"seq {seq}: unexpected event {kind}"
    return holder, calls


# --- threads -------------------------------------------------------------------------------------

def run_threads(count: int, target: Any) -> None:
    """Start `count` threads on `target(n, barrier)`, all released at once; re-raise the first error."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            barrier.wait(timeout=30)
            target(n)
        except BaseException as exc:  # collected and re-raised in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,), name=f"writer-{n}") for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(JOIN_TIMEOUT_S)
    assert not any(t.is_alive() for t in threads), "a writer thread hangs"
    if errors:
        raise errors[0]


def test_threads_sharing_one_engine_issue_every_number_once(tmp_path, example_config, open_clock):
    threads, per_thread = 8, 60
    db_path = tmp_path / "queuebox.db"
    engine = Engine(example_config, db_path, clock=open_clock)
    results: dict[int, list[Result]] = {}

    def kiosk(n: int) -> None:
        results[n] = [engine.take(f"t{n}-{i}", f"kiosk{n}", "A") for i in range(per_thread)]

    run_threads(threads, kiosk)
    engine.close()

    every = [r for n in sorted(results) for r in results[n]]
    assert len(every) == threads * per_thread
    assert all(r.ok and not r.duplicate for r in every), [r.reply for r in every if not r.ok][:3]
    assert numbers_by_service(db_path) == {("2026-11-23", "A"): list(range(1, threads * per_thread + 1))}
    for n, mine in results.items():  # one kiosk's tickets come out in the order it asked for them
        labels = [r.reply["ticket"]["label"] for r in mine]
        assert labels == sorted(labels), f"kiosk{n} got its labels out of order"
    assert_file_is_consistent(db_path, [r.reply for r in every], [e.seq for r in every for e in r.events])


def test_threads_repeating_the_same_command_ids_apply_each_once(tmp_path, example_config, open_clock):
    threads, ids = 6, [f"press-{i}" for i in range(40)]
    db_path = tmp_path / "queuebox.db"
    engine = Engine(example_config, db_path, clock=open_clock)
    results: dict[int, list[tuple[str, Result]]] = {}

    def kiosk(n: int) -> None:  # every thread sends every id, each starting at a different place
        order = ids[n * 7 % len(ids):] + ids[:n * 7 % len(ids)]
        results[n] = [(cid, engine.take(cid, "kiosk1", "B")) for cid in order]

    run_threads(threads, kiosk)
    engine.close()

    by_id: dict[str, list[Result]] = {}
    for pairs in results.values():
        for cid, result in pairs:
            by_id.setdefault(cid, []).append(result)
    firsts = []
    for cid, seen in by_id.items():
        fresh = [r for r in seen if not r.duplicate]
        assert len(fresh) == 1, f"{cid} was applied {len(fresh)} times"
        assert all(r.reply == fresh[0].reply for r in seen), f"{cid} got different replies"
        assert all(r.events == () for r in seen if r.duplicate)
        firsts.append(fresh[0])
    assert query(db_path, "SELECT count(*) FROM commands") == [(len(ids),)]
    assert numbers_by_service(db_path) == {("2026-11-23", "B"): list(range(1, len(ids) + 1))}
    assert_file_is_consistent(db_path, [r.reply for r in firsts], [e.seq for r in firsts for e in r.events])


# --- processes -----------------------------------------------------------------------------------

def _monday_9am() -> datetime:
    return MONDAY_9AM


def _worker(role: str, name: str, config: Config, db_path: str, count: int, barrier: Any, out: Any) -> None:
    """A spawned process with its own Engine on the shared file: a kiosk taking tickets for A and B
    in turn, or a counter desk calling `next` on counters 1..6 in turn. Sends back
    (name, [(counter or None, reply, event seqs)]) or (name, traceback)."""
    try:
        engine = Engine(config, db_path, clock=_monday_9am)
        try:
            barrier.wait(timeout=60)
            done = []
            for i in range(count):
                if role == "kiosk":
                    where, result = None, engine.take(f"{name}-{i}", name, "AB"[i % 2])
                else:
                    where = str(i % 6 + 1)
                    result = engine.counter(f"{name}-{i}", where, "next")
                done.append((where, result.reply, [e.seq for e in result.events]))
        finally:
            engine.close()
        out.put((name, done))
    except BaseException:
        out.put((name, traceback.format_exc()))


def test_processes_with_their_own_engines_issue_and_call_consistently(tmp_path, example_config):
    kiosks, per_kiosk, desks, per_desk = 4, 100, 2, 150
    db_path = tmp_path / "queuebox.db"
    # No file yet: the processes create it together (switching a new file to WAL races).

    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(kiosks + desks)
    out = ctx.Queue()
    roles = [("kiosk", f"kiosk{n}", per_kiosk) for n in range(kiosks)] + \
            [("desk", f"desk{n}", per_desk) for n in range(desks)]
    procs = [ctx.Process(target=_worker, args=(role, name, example_config, str(db_path), count, barrier, out))
             for role, name, count in roles]
    try:
        for p in procs:
            p.start()
        reports = {}
        for _ in procs:
            try:
                name, done = out.get(timeout=JOIN_TIMEOUT_S)
            except queue.Empty:
                raise AssertionError(f"workers silent; reported so far: {sorted(reports)}") from None
            assert not isinstance(done, str), f"{name} failed:\n{done}"
            reports[name] = done
        for p in procs:
            p.join(JOIN_TIMEOUT_S)
            assert p.exitcode == 0, f"{p.name} exited with {p.exitcode}"
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()
        out.close()
        out.join_thread()

    every = [step for done in reports.values() for step in done]
    assert all(reply["ok"] for _, reply, _ in every), [reply for _, reply, _ in every if not reply["ok"]][:3]
    takes = [reply for name, done in reports.items() if name.startswith("kiosk") for _, reply, _ in done]
    assert len(takes) == kiosks * per_kiosk
    half = kiosks * per_kiosk // 2
    assert numbers_by_service(db_path) == {("2026-11-23", "A"): list(range(1, half + 1)),
                                           ("2026-11-23", "B"): list(range(1, half + 1))}
    assert_file_is_consistent(db_path, takes, [seq for _, _, seqs in every for seq in seqs])

    # Invariant 4, over the whole history and in the final rows.
    holder, calls = replay_holders(db_path)
    assert calls > 0, "no counter ever called a ticket: the test exercised nothing"
    called = [reply["ticket"]["label"] for where, reply, _ in every if where and reply["ticket"]]
    assert len(called) == calls
    assert not [label for label, n in Counter(called).items() if n > 1], "a ticket was called twice"
    in_rows = dict(query(db_path, "SELECT id, counter FROM tickets WHERE status IN ('called', 'serving')"))
    assert in_rows == holder
    assert {t: c for c, t in query(db_path, "SELECT id, ticket FROM counters WHERE ticket IS NOT NULL")} == holder
    assert query(db_path, "SELECT count(*) FROM events WHERE type = 'done'") == [(calls - len(holder),)]

    # Invariant 5: no priorities here, so each queue is called strictly in issue order.
    for service in ("A", "B"):
        order = [t for (t,) in query(db_path, "SELECT e.ticket FROM events e JOIN tickets t ON t.id = e.ticket "
                                              "WHERE e.type = 'called' AND t.queue = ? ORDER BY e.seq", (service,))]
        assert order == sorted(order), f"queue {service} was not called in issue order"


def _open_after_barrier(db_path: str, barrier: Any, out: Any) -> None:
    try:
        barrier.wait(timeout=30)
        store.open_database(db_path).close()
        out.put("ok")
    except BaseException:
        out.put(traceback.format_exc())


def test_processes_opening_a_brand_new_file_together_all_get_wal(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    for round_ in range(3):
        db_path = tmp_path / f"new{round_}.db"
        barrier, out = ctx.Barrier(6), ctx.Queue()
        procs = [ctx.Process(target=_open_after_barrier, args=(str(db_path), barrier, out)) for _ in range(6)]
        for p in procs:
            p.start()
        results = [out.get(timeout=JOIN_TIMEOUT_S) for _ in procs]
        for p in procs:
            p.join(JOIN_TIMEOUT_S)
        assert results == ["ok"] * 6, [r for r in results if r != "ok"][0]
        assert query(db_path, "PRAGMA journal_mode") == [("wal",)]
