"""`queuebox backup` (server/backup.py): consistent copies of a database being written, rotation,
and clear errors for targets that cannot take a copy."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from server.backup import NAME, BackupError, backup
from server.engine import Engine
from tests.factories import FakeClock, make_config

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config" / "queuebox.example.toml"
T0 = datetime(2026, 11, 23, 19, 30, tzinfo=timezone.utc)


def busy_engine(path: Path, tickets: int = 0) -> Engine:
    engine = Engine(make_config(), path, clock=FakeClock())
    for i in range(tickets):
        engine.take(f"t{i}", "k", "ABC"[i % 3])
    return engine


def check_copy(path: Path) -> dict[str, list[int]]:
    """Open a copy as a database: integrity, its own journal, every (day, service) numbered
    1..n without a gap, every ticket with its `issued` event. Returns the numbers by service."""
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        numbers: dict[str, list[int]] = {}
        for day, service, number in conn.execute("SELECT day, service, number FROM tickets ORDER BY day, service, "
                                                 "number"):
            numbers.setdefault(f"{day}/{service}", []).append(number)
        for key, found in numbers.items():
            assert found == list(range(1, len(found) + 1)), key
        orphans = conn.execute("SELECT count(*) FROM tickets t WHERE NOT EXISTS (SELECT 1 FROM events e "
                               "WHERE e.ticket = t.id AND e.type = 'issued')").fetchone()[0]
        assert orphans == 0
        return numbers
    finally:
        conn.close()


def test_a_backup_is_a_checked_copy_of_every_committed_ticket(tmp_path):
    engine = busy_engine(tmp_path / "q.db", tickets=30)
    made = backup(tmp_path / "q.db", tmp_path / "copy.db")
    engine.close()
    assert made.path == tmp_path / "copy.db" and made.size == made.path.stat().st_size > 0
    assert {k.split("/")[1]: len(v) for k, v in check_copy(made.path).items()} == {"A": 10, "B": 10, "C": 10}
    assert not list(tmp_path.glob(".*partial"))
    assert not (tmp_path / "copy.db-wal").exists()  # one self-contained file


def test_backups_taken_while_the_engine_writes_are_each_consistent(tmp_path):
    engine = busy_engine(tmp_path / "q.db")
    stop = threading.Event()
    issued = []

    def write() -> None:
        i = 0
        while not stop.is_set():
            engine.take(f"t{i}", "k", "ABC"[i % 3])
            if i % 4 == 3:
                engine.counter(f"n{i}", "2", "next")
            issued.append(i)
            i += 1

    writer = threading.Thread(target=write)
    writer.start()
    copies = []
    try:
        for n in range(12):
            while len(issued) < 20 * (n + 1):  # let the writer get ahead between two copies
                assert writer.is_alive(), "the writer stopped"
                stop.wait(0.005)
            copies.append(backup(tmp_path / "q.db", tmp_path / f"copy{n}.db").path)
    finally:
        stop.set()
        writer.join()
        engine.close()
    counts = [sum(len(v) for v in check_copy(c).values()) for c in copies]
    assert counts == sorted(counts) and counts[0] >= 20 and counts[-1] <= len(issued)
    reopened = Engine(make_config(), copies[-1], clock=FakeClock())  # a backup serves as a database
    assert sum(reopened.snapshot().issued.values()) == counts[-1]
    reopened.close()


def test_into_a_folder_copies_are_named_by_time_and_only_the_newest_are_kept(tmp_path):
    busy_engine(tmp_path / "q.db", tickets=3).close()
    folder = tmp_path / "backups"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a backup")
    made = [backup(tmp_path / "q.db", folder, keep=3, now=T0 + timedelta(days=d)) for d in range(5)]
    assert made[0].path.name == "queuebox-20261123-193000.db"
    assert [m.removed for m in made] == [(), (), (), (made[0].path,), (made[1].path,)]
    assert sorted(p.name for p in folder.iterdir()) == [
        "notes.txt", "queuebox-20261125-193000.db", "queuebox-20261126-193000.db", "queuebox-20261127-193000.db"]


def test_two_backups_in_the_same_second_both_stay(tmp_path):
    busy_engine(tmp_path / "q.db", tickets=1).close()
    first = backup(tmp_path / "q.db", f"{tmp_path}/b/", now=T0)
    second = backup(tmp_path / "q.db", f"{tmp_path}/b/", now=T0, keep=2)
    assert (first.path.name, second.path.name, second.removed) == (
        "queuebox-20261123-193000.db", "queuebox-20261123-193000-1.db", ())
    assert all(NAME.fullmatch(p.name) for p in (tmp_path / "b").iterdir())


@pytest.mark.parametrize("target, keep, message", [
    ("missing/q.db", None, "the folder of"),
    ("copy.db", 3, "--keep goes with a folder"),
    ("folder/", 0, "--keep needs a number of 1 or more"),
    ("no/such/folder/", None, "cannot make the backup folder"),
])
def test_a_bad_target_is_refused_with_a_reason(tmp_path, target, keep, message):
    busy_engine(tmp_path / "q.db", tickets=1).close()
    with pytest.raises(BackupError, match=message):
        backup(tmp_path / "q.db", f"{tmp_path}/{target}", keep=keep)


def test_no_database_no_backup(tmp_path):
    with pytest.raises(BackupError, match="no database at"):
        backup(tmp_path / "none.db", tmp_path / "copy.db")


# --- the command, on file systems that cannot take the copy -----------------------------

def queuebox(*args: str, mount: str | None = None, folder: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run `queuebox ARGS`; with `mount`, inside a private mount namespace where `folder` is a
    fresh tmpfs mounted with those options (a real full or read-only disk, gone afterwards)."""
    command = [sys.executable, "-m", "queuebox.cli", *args]
    if mount:
        command = ["unshare", "--mount", "--propagation", "private", "sh", "-ec",
                   f'mount -t tmpfs -o {mount} tmpfs "{folder}"; exec "$@"', "sh", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)


@pytest.fixture
def can_mount(tmp_path) -> None:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare(1) to mount a small tmpfs in a private namespace")
    probe = tmp_path / "probe"
    probe.mkdir()
    if queuebox("--help", mount="size=64k", folder=probe).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")


def test_the_command_writes_into_the_backups_folder_by_default(tmp_path):
    busy_engine(tmp_path / "q.db", tickets=5).close()
    (tmp_path / "backups").mkdir()
    result = queuebox("backup", "--config", str(EXAMPLE), "--database", str(tmp_path / "q.db"))
    assert result.returncode == 0, result.stderr
    [copy] = (tmp_path / "backups").iterdir()
    assert NAME.fullmatch(copy.name) and f"to {copy} (" in result.stdout and "integrity ok" in result.stdout


@pytest.mark.parametrize("mount, message", [
    ("size=64k", "is full"),         # no room for the copy
    ("size=1m,nr_inodes=1", "is full"),  # room, but no file can be made
    ("ro", "Read-only file system"),
])
def test_a_full_or_read_only_disk_is_a_clear_error(tmp_path, can_mount, mount, message):
    busy_engine(tmp_path / "q.db", tickets=600).close()  # a few hundred KB
    assert (tmp_path / "q.db").stat().st_size > 64 * 1024
    target = tmp_path / "usb"
    target.mkdir()
    result = queuebox("backup", "--config", str(EXAMPLE), "--database", str(tmp_path / "q.db"), "--to", f"{target}/",
                      mount=mount, folder=target)
    assert result.returncode == 1, result.stdout + result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("queuebox: ")


def test_a_backup_is_not_readable_by_other_users_whatever_the_umask(tmp_path):
    busy_engine(tmp_path / "q.db", tickets=2).close()
    result = subprocess.run([sys.executable, "-m", "queuebox.cli", "backup", "--config", str(EXAMPLE), "--database",
                             str(tmp_path / "q.db"), "--to", str(tmp_path / "copy.db")],
                            capture_output=True, text=True, timeout=60, cwd=ROOT, umask=0o022)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "copy.db").stat().st_mode & 0o007 == 0
    assert (tmp_path / "q.db").stat().st_mode & 0o007 == 0  # made by the engine, 0640 whatever the umask
