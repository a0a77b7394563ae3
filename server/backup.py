"""`queuebox backup`: a consistent copy of the live database, checked, to a file or a folder.

The copy is made with SQLite's online backup API in one step, inside one read transaction:
it is the database as of one commit, taken while the server goes on writing (the database
is in WAL mode, so the server never waits for it). The copy is a single self-contained
file (journal mode DELETE), checked with ``PRAGMA integrity_check`` before it takes its
final name, so a backup that exists is a good one.

Into a folder, copies are named ``queuebox-YYYYMMDD-HHMMSS.db`` (local time) and `keep`
removes all but the newest N of those names, nothing else.

Restore (see docs/install.md): stop the server, copy the backup over the database file,
delete the database's ``-wal`` and ``-shm`` files, give the file to the service's user,
start the server.
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import shutil
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from queuebox.config import Config
from queuebox.errors import QueueboxError

NAME = re.compile(r"queuebox-(\d{8}-\d{6})(-\d+)?\.db")
BUSY_TIMEOUT_S = 30.0
SPACE_MARGIN = 1.1  # free space wanted, relative to the database and its WAL


class BackupError(QueueboxError, OSError):
    """The backup cannot be made: no database, a target that cannot be written, a full disk, a bad copy."""


@dataclass(frozen=True)
class Backup:
    """A backup made: where, how big (bytes), how long it took (s), which older copies were removed."""

    path: Path
    size: int
    seconds: float
    removed: tuple[Path, ...] = ()


def default_folder(db_path: str | Path) -> Path:
    """Where backups go by default: ``backups/`` beside the database (made by tmpfiles.d)."""
    return Path(db_path).parent / "backups"


def backup(db_path: str | Path, target: str | Path, *, keep: int | None = None,
           now: datetime | None = None) -> Backup:
    """Copy the database at `db_path` to `target` and check the copy.

    `target` is a folder when it exists as one or ends with ``/`` (made if missing, not its
    parents): the copy is named from `now` (default: the local time) and, with `keep`, only
    the newest `keep` copies stay. Otherwise `target` is the file to write (replaced if it
    exists; its folder must exist). Raises `BackupError` with a sentence a technician can act on.
    """
    started = time.perf_counter()
    db = Path(db_path)
    if not db.is_file():
        raise BackupError(f"no database at {db}")
    _check_owner(db)
    is_folder = str(target).endswith(os.sep) or Path(target).is_dir()
    if keep is not None and (keep < 1 or not is_folder):
        raise BackupError("--keep needs a number of 1 or more, and a folder to back up into" if keep < 1 else
                          f"--keep goes with a folder, and {target} is a file")
    if is_folder:
        folder = Path(target)
        try:
            folder.mkdir(exist_ok=True)
        except OSError as exc:
            raise BackupError(f"cannot make the backup folder {folder}: {_reason(exc)}") from None
        final = _free_name(folder, now or datetime.now().astimezone())
    else:
        final = Path(target)
        folder = final.parent
        if not folder.is_dir():
            raise BackupError(f"the folder of {final} does not exist")
    _check_space(db, folder)

    partial = folder / f".{final.name}.partial"
    try:
        partial.unlink(missing_ok=True)
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640))  # an OSError here says why
        _copy(db, partial)
        os.replace(partial, final)
        _fsync_folder(folder)
    except sqlite3.Error as exc:
        _discard(partial)
        if "full" in str(exc):  # SQLITE_FULL: "database or disk is full"
            raise BackupError(f"the disk of {folder} is full ({_free_mb(folder)} MB free): "
                              f"the backup was not made ({exc})") from None
        raise BackupError(f"cannot back up {db} to {final}: {exc}") from None
    except OSError as exc:
        _discard(partial)
        if exc.errno == errno.ENOSPC:
            raise BackupError(f"the disk of {folder} is full ({_free_mb(folder)} MB free): the backup was not made") \
                from None
        raise BackupError(f"cannot write the backup to {final}: {_reason(exc)}") from None
    removed = _rotate(folder, keep) if is_folder and keep else ()
    return Backup(final, final.stat().st_size, time.perf_counter() - started, removed)


def _copy(db: Path, partial: Path) -> None:
    """One backup step over the whole file (one read transaction: a consistent snapshot), then
    journal mode DELETE and an integrity check on the copy."""
    source = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
    try:
        target = sqlite3.connect(partial, timeout=BUSY_TIMEOUT_S)
        try:
            source.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")
            problems = [row[0] for row in target.execute("PRAGMA integrity_check")]
            if problems != ["ok"]:
                raise BackupError(f"the copy of {db} fails its integrity check: {'; '.join(problems[:5])}")
            target.commit()
        finally:
            target.close()
    finally:
        source.close()
    fd = os.open(partial, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _free_name(folder: Path, now: datetime) -> Path:
    stem = f"queuebox-{now:%Y%m%d-%H%M%S}"
    path, n = folder / f"{stem}.db", 1
    while path.exists():  # two backups within a second
        path, n = folder / f"{stem}-{n}.db", n + 1
    return path


def _rotate(folder: Path, keep: int) -> tuple[Path, ...]:
    """Delete all but the newest `keep` backups in `folder` (by the time in their names)."""
    ours = sorted((p for p in folder.iterdir() if NAME.fullmatch(p.name) and p.is_file()), key=_age, reverse=True)
    removed = []
    for old in ours[keep:]:
        try:
            old.unlink()
            removed.append(old)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise BackupError(f"the backup was made, but {old} cannot be removed: {_reason(exc)}") from None
    return tuple(removed)


def _age(path: Path) -> tuple[str, int]:
    """Sort key of a backup name: its time, then its number within that second."""
    match = NAME.fullmatch(path.name)
    assert match is not None
    return match.group(1), int((match.group(2) or "-0")[1:])


def _check_space(db: Path, folder: Path) -> None:
    wal = db.with_name(db.name + "-wal")
    needed = (db.stat().st_size + (wal.stat().st_size if wal.exists() else 0)) * SPACE_MARGIN
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if free < needed:
        raise BackupError(f"the disk of {folder} is full: {free / 1e6:.1f} MB free, the copy needs "
                          f"about {needed / 1e6:.1f} MB")


def _check_owner(db: Path) -> None:
    """As root, refuse a database that belongs to the service's user: SQLite would leave
    root-owned -wal/-shm files beside it that the server then cannot open."""
    if hasattr(os, "geteuid") and os.geteuid() == 0 and db.stat().st_uid != 0:
        raise BackupError(f"{db} belongs to another user: run the backup as that user "
                          "(sudo -u queuebox queuebox backup …), not as root")


def _free_mb(folder: Path) -> str:
    try:
        return f"{shutil.disk_usage(folder).free / 1e6:.1f}"
    except OSError:
        return "?"


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _discard(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def cmd_backup(args: argparse.Namespace, config: Config) -> int:
    """`queuebox backup [--database PATH] [--to FILE_OR_DIR] [--keep N]`."""
    db = args.database or config.database.path
    target = args.to or f"{default_folder(db)}{os.sep}"
    made = backup(db, target, keep=args.keep, now=datetime.now(config.zone))
    print(f"backed up {db} to {made.path} ({made.size / 1e6:.1f} MB in {made.seconds:.2f} s, integrity ok)")
    if made.removed:
        print(f"removed {len(made.removed)} older backup(s): {', '.join(p.name for p in made.removed)}")
    return 0
