"""The key that signs web sessions: a file of its own, mode 0600, never in the database.

Whoever holds the key can forge a session of any account, so it is kept out of the database
(which backups copy and a technician may hand around) in `server.secret_key_file`, by
default ``web-secret.key`` beside the database. `scripts/install` makes it; the server makes
it on first start when it is missing and its folder is writable (the demo, tests). A key
file that others may read is tightened to 0600 (or refused when that is not possible).
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

from queuebox.config import Config
from queuebox.errors import QueueboxError

logger = logging.getLogger(__name__)

DEFAULT_NAME = "web-secret.key"
MIN_LENGTH = 32  # characters: 64 hex digits are written


class SecretKeyError(QueueboxError, OSError):
    """The session key file cannot be read, made or kept private."""


def key_path(config: Config, db_path: str | Path) -> Path:
    """Where the key lives: `server.secret_key_file`, or ``web-secret.key`` beside `db_path`."""
    return Path(config.server.secret_key_file) if config.server.secret_key_file \
        else Path(db_path).parent / DEFAULT_NAME


def read_or_make_key(path: Path) -> str:
    """The key in `path`, made (64 random hex digits, mode 0600) when the file does not exist.

    Two processes starting together get the same key: the file appears whole or not at all
    (written aside, then hard-linked into place). Raises SecretKeyError with what to do."""
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    aside = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(aside, path)
            logger.info("made the web session key %s", path)
        except FileExistsError:
            pass  # another process made it first: use theirs
    except OSError as exc:
        raise SecretKeyError(f"cannot make the web session key {path}: {exc.strerror or exc} "
                             "(make it with scripts/install, or set server.secret_key_file to a writable place)") \
            from None
    finally:
        try:
            aside.unlink()
        except OSError:
            pass
    return _read(path)


def _read(path: Path) -> str:
    """The key in `path`, made private first if need be; FileNotFoundError when there is none."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise SecretKeyError(f"cannot read the web session key {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        raise SecretKeyError(f"the web session key {path} is not a file")
    if mode & 0o077:
        try:
            path.chmod(0o600)
        except OSError as exc:
            raise SecretKeyError(f"the web session key {path} may be read by others (mode {stat.S_IMODE(mode):o}) "
                                 f"and cannot be made 0600: {exc.strerror or exc}") from None
        logger.warning("the web session key %s could be read by others: made it 0600", path)
    try:
        key = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretKeyError(f"cannot read the web session key {path}: {exc}") from None
    if len(key) < MIN_LENGTH:
        raise SecretKeyError(f"the web session key {path} is too short ({len(key)} characters, at least "
                             f"{MIN_LENGTH}): delete it to have a new one made")
    return key
