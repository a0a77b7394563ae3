"""Power cuts: the database must always open whole, tell one consistent story and never give a
number twice.

1. `test_killing_the_real_server_mid_commit_loses_and_reuses_nothing`: a real `queuebox server`
   takes a stream of kiosk and counter commands through a real Mosquitto and is SIGKILLed at
   random moments, over and over, and started again on the same file. After every kill the file
   passes `tests/helpers/db_check.py` (integrity, numbers 1..n per day and service, each
   ticket's status is what its last event says, counters and tickets agree, events.seq without
   gaps), no earlier ticket changed or vanished and no number was given again, and every reply a
   device received is the one stored under its command id. Devices re-send unanswered commands
   with the same id, so the same command reaches servers before and after a kill: every reply
   to one id is the same (invariant 3). (SIGKILL keeps the kernel's page cache; losing it is 2.)

2. `test_copies_taken_mid_write_open_consistent`: losing the page cache in a power cut is
   simulated with copies of the database files taken while a writer (tests/helpers/issue_loop.py
   --serve) commits as fast as it can. A copy is the disk as a power cut could leave it when the
   database file comes from no later than the WAL's last frame: taken under a read transaction
   (the writer cannot checkpoint past it or restart the WAL), or the database file first and the
   WAL next with no WAL restart in between, or the WAL first and the database file next with no
   checkpoint started in between. Each copy's WAL is then kept as read (its last frame may be
   torn by the concurrent write), cut at a random byte, or overwritten with garbage from a
   random byte (a torn sector); the -shm is copied or not. Each copy must: pass the checks of
   db_check; hold exactly the first k commands the writer committed, for some k (a copy loses
   only a suffix of committed transactions); hold at least every command acknowledged before the
   copy began when its WAL was not cut (with `synchronous=FULL` an acknowledged command is on
   disk); and, opened by the engine (open_database, migrate), issue new tickets numbered above
   every number in it. What a copy can lose: the commands after its moment, and, with a WAL cut
   short, the commands whose frames were cut, i.e. a suffix. A real power cut cuts only what was
   not yet acknowledged, so no printed ticket is lost and no printed number is given again;
   a medium that acknowledges writes it has not made would lose acknowledged commands, and
   their numbers would then be given again.
   Copies that race a checkpoint (WAL first, checkpoint, then the database file; or a WAL restart
   between the two) are not power-cut states: the database file holds pages newer than the WAL
   copy. They are counted and opened, and their integrity is reported, not asserted: a file copy
   of a live database is not a backup (`queuebox backup` uses SQLite's backup API).

Seeds: QUEUEBOX_POWER_CUT_SEED replays a run. QUEUEBOX_POWER_CUT_LONG=1 runs 10 times as many
kills and copies (minutes instead of seconds).
"""

from __future__ import annotations

import itertools
import os
import random
import shutil
import signal
import sqlite3
import struct
import time
from collections import Counter
from pathlib import Path

from queuebox.protocol import Topics
from server.engine import Engine
from tests.factories import MONDAY_9AM, make_config
from tests.helpers.child import Child
from tests.helpers.command_stream import CommandStream
from tests.helpers.db_check import check_no_reuse, read_and_check
from tests.helpers.issue_loop import SERVICES, command_sequence, loop_config
from tests.helpers.server_process import ServerProcess

LONG = os.environ.get("QUEUEBOX_POWER_CUT_LONG") == "1"
KILLS = 80 if LONG else 8
COPIES = 400 if LONG else 40
COPIES_PER_WRITER = 20
HELPER = Path(__file__).resolve().parent / "helpers" / "issue_loop.py"
EXAMPLE_CONFIG = Path(__file__).resolve().parents[1] / "config" / "queuebox.example.toml"
WAIT_S = 30.0


def seed_and_rng() -> tuple[int, random.Random]:
    seed = int(os.environ.get("QUEUEBOX_POWER_CUT_SEED") or random.randrange(2**32))
    print(f"QUEUEBOX_POWER_CUT_SEED={seed}")
    return seed, random.Random(seed)


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {timeout} s"
        time.sleep(0.02)  # polling a condition, not test logic


# --- 1. the real server, killed mid-commit -------------------------------------------------------

def test_killing_the_real_server_mid_commit_loses_and_reuses_nothing(tmp_path, broker, mqtt_root):
    seed, rng = seed_and_rng()
    db_path = tmp_path / "queuebox.db"
    config = make_config(mqtt={"host": broker.host, "port": broker.port, "root": mqtt_root},
                         database={"path": str(db_path)})
    topics = Topics(mqtt_root, config.site.id)
    server = ServerProcess(config, tmp_path / "server")
    server.start()  # once before the devices, so its persistent session exists from their first command
    devices = CommandStream(broker.host, broker.port, topics, ["k1", "k2"], ["1", "2", "3"], ["A", "B", "C"], rng)
    before: dict = {}
    committed_per_round = []
    try:
        devices.start()
        for r in range(KILLS):
            why = f"kill {r} (QUEUEBOX_POWER_CUT_SEED={seed})"
            if server.proc is None:
                server.start()
            answered = devices.answered()
            wait_until(lambda: devices.answered() >= answered + 5, WAIT_S, f"{why}: the server answered nothing")
            time.sleep(rng.uniform(0.0, 0.5))  # the random moment of the kill: the test's input, not a wait
            server.kill()
            found = read_and_check(db_path, why)
            check_no_reuse(before, found.tickets, why)
            check_replies(devices, found.commands, why)
            committed_per_round.append(len(found.commands) - sum(committed_per_round))
            before = found.tickets
        server.start()
        devices.drain()
        wait_until(lambda: devices.in_flight() == 0, WAIT_S, "the last commands were not answered")
        server.stop()
    finally:
        devices.stop()
        server.stop()
    found = read_and_check(db_path, f"at the end (QUEUEBOX_POWER_CUT_SEED={seed})")
    check_no_reuse(before, found.tickets, "at the end")
    check_replies(devices, found.commands, "at the end")
    assert set(found.commands) == set(devices.sent), "a command was never applied, or applied without being sent"
    repeats = sum(len(r) > 1 for r in devices.replies.values())
    print(f"server kills: {KILLS}, commands {len(found.commands)}, tickets {len(found.tickets)}, "
          f"committed per round {committed_per_round}, ids answered more than once {repeats}")
    assert all(n > 0 for n in committed_per_round), "a kill landed before the server committed anything"


def check_replies(devices: CommandStream, stored: dict, why: str) -> None:
    """Every reply received is the stored first reply of its command; repeats got it again."""
    with devices._lock:
        replies = {key: list(bodies) for key, bodies in devices.replies.items()}
        sent = set(devices.sent)
    unknown = set(stored) - sent
    assert not unknown, f"{why}: commands in the file that no device sent: {sorted(unknown)[:5]}"
    for key, bodies in replies.items():
        assert key in stored, f"{why}: {key} was answered but is not in the file"
        assert all(body == stored[key] for body in bodies), f"{why}: {key} got {bodies}, stored {stored[key]}"


# --- 2. copies of the files taken mid-write: the page cache lost -----------------------------------

WAL_HEADER = 32
FRAME_HEADER = 24
PAGE = 4096
SHM_BACKFILL_ATTEMPTED = 96 + 32  # WalCkptInfo.nBackfillAttempted in the -shm (after two 48-byte index headers)


def wal_salts(wal: Path) -> bytes:
    """The WAL header's salts: they change every time the WAL restarts."""
    with open(wal, "rb") as f:
        return f.read(WAL_HEADER)[16:24]


def shm_frames(shm: Path, offset: int) -> int:
    """A frame count of the WAL index; SHM_BACKFILL_ATTEMPTED: how far a checkpoint has started
    copying WAL frames into the database file."""
    with open(shm, "rb") as f:
        f.seek(offset)
        return struct.unpack("=I", f.read(4))[0]


def take_copy(live: Path, dest: Path, how: str) -> bool:
    """Copy the database files of `live` into `dest` as `how` says; True if the copy is a state a
    power cut could leave (see the module docstring)."""
    wal, shm = live.with_name(live.name + "-wal"), live.with_name(live.name + "-shm")
    dest.mkdir()
    db_copy, wal_copy = dest / live.name, dest / wal.name
    if how == "under a read transaction":
        reader = sqlite3.connect(live)
        try:
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM commands").fetchone()  # holds a read mark until the end
            shutil.copyfile(live, db_copy)
            shutil.copyfile(wal, wal_copy)
        finally:
            reader.close()
        return True
    salts, attempted = wal_salts(wal), shm_frames(shm, SHM_BACKFILL_ATTEMPTED)
    if how == "database, then WAL":
        shutil.copyfile(live, db_copy)
        shutil.copyfile(wal, wal_copy)
        return wal_salts(wal) == salts
    shutil.copyfile(wal, wal_copy)
    shutil.copyfile(live, db_copy)
    return wal_salts(wal) == salts and shm_frames(shm, SHM_BACKFILL_ATTEMPTED) == attempted


def damage_wal(wal: Path, how: str, backfilled: int, rng: random.Random) -> None:
    """Lose the WAL's tail: cut it at a random byte, or overwrite it with garbage from one, after
    its first `backfilled` frames. Those may be in the database file already; a power cut cannot
    lose them (they were on disk before the checkpoint began), and replaying fewer of them over
    a database file that holds later ones would mix two moments."""
    size = wal.stat().st_size
    start = WAL_HEADER + backfilled * (FRAME_HEADER + PAGE)
    if how == "as read" or size <= start:
        return
    at = rng.randrange(start, size)
    if how == "cut":
        os.truncate(wal, at)
    else:
        with open(wal, "r+b") as f:
            f.seek(at)
            f.write(rng.randbytes(min(size - at, rng.choice([512, 4096, 8192]))))


def test_copies_taken_mid_write_open_consistent(tmp_path):
    seed, rng = seed_and_rng()
    config = loop_config(EXAMPLE_CONFIG)
    sequence = list(itertools.islice(command_sequence("w", serve=True), 200_000))
    position = {key: i for i, key in enumerate(sequence)}
    tally: Counter[str] = Counter()
    lost_when_cut: list[int] = []
    for w in range(COPIES // COPIES_PER_WRITER):  # a fresh file now and then, so checks stay quick
        live = tmp_path / f"live{w}" / "queuebox.db"
        live.parent.mkdir()
        stderr_path = tmp_path / f"writer{w}.stderr"
        with open(stderr_path, "w") as stderr:
            writer = Child(HELPER, [str(live), str(EXAMPLE_CONFIG), "w", MONDAY_9AM.isoformat(), "--serve"], stderr)
            try:
                assert writer.ready_or_gone.wait(WAIT_S), "the writer did not start"
                wait_until(lambda: len(writer.lines) > 50, WAIT_S, "the writer committed nothing")
                for n in range(COPIES_PER_WRITER):
                    assert writer.proc.poll() is None, stderr_path.read_text()
                    why = f"writer {w} copy {n} (QUEUEBOX_POWER_CUT_SEED={seed})"
                    copy_and_check(live, tmp_path / "copy", writer, config, position, rng, tally, lost_when_cut, why)
            finally:
                code = writer.kill()
        assert code == -signal.SIGKILL, f"the writer stopped by itself:\n{stderr_path.read_text()}"
        shutil.rmtree(live.parent)
    print(f"copies: {dict(tally)}; acknowledged commands lost by cut or garbled WALs: max "
          f"{max(lost_when_cut, default=0)}, copies losing some {sum(1 for x in lost_when_cut if x)} "
          f"of {len(lost_when_cut)}")
    assert sum(tally[h] for h in ("under a read transaction", "database, then WAL", "WAL, then database")) >= COPIES // 2


def copy_and_check(live: Path, folder: Path, writer: Child, config, position: dict[str, int], rng: random.Random,
                   tally: Counter[str], lost_when_cut: list[int], why: str) -> None:
    """Take one copy of the live files at a random moment, damage its WAL tail or not, check it."""
    time.sleep(rng.uniform(0.0, 0.05))  # the random moment: the test's input, not a wait
    how = rng.choice(["under a read transaction", "database, then WAL", "WAL, then database"])
    tail = rng.choice(["as read", "as read", "cut", "garbage"])
    why = f"{why}, {how}, WAL {tail}"
    acknowledged = sum(1 for line in writer.lines if line != "ready")
    valid = take_copy(live, folder, how)
    try:
        live_shm = live.with_name(live.name + "-shm")
        # frames a checkpoint may have copied into the database file by now (the most the copy can hold)
        backfilled = shm_frames(live_shm, SHM_BACKFILL_ATTEMPTED)
        if rng.random() < 0.5:
            shutil.copyfile(live_shm, folder / live_shm.name)
        damage_wal(folder / (live.name + "-wal"), tail, backfilled, rng)
        if not valid:
            tally["raced a checkpoint"] += 1
            tally["raced a checkpoint, integrity failed"] += not integrity_ok(folder / live.name)
            return
        tally[how] += 1
        k = check_copy(folder / live.name, config, position, why)
        if tail == "as read":
            assert k >= acknowledged, f"{why}: {acknowledged} commands acknowledged, the copy has {k}"
        else:
            lost_when_cut.append(max(0, acknowledged - k))
    finally:
        shutil.rmtree(folder)


def integrity_ok(path: Path) -> bool:
    try:
        conn = sqlite3.connect(path)
        try:
            return conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return False


def check_copy(path: Path, config, position: dict[str, int], why: str) -> int:
    """Check one copy (see the module docstring); returns k, the commands it holds."""
    found = read_and_check(path, why)
    k = len(found.commands)
    held = sorted(position[key] for key in found.commands)
    assert held == list(range(k)), f"{why}: the copy holds commands {held[:3]}…{held[-3:]}, not the first {k}"
    engine = Engine(config, path, clock=lambda: MONDAY_9AM)  # opens, migrates, recovers the WAL
    try:
        for service in SERVICES:
            reply = engine.take(f"after-{service}", "k9", service).reply
            assert reply["ok"], f"{why}: {reply}"
    finally:
        engine.close()
    after = read_and_check(path, f"{why}, after issuing from the copy")
    check_no_reuse(found.tickets, after.tickets, why)
    return k
