"""The files of a Mosquitto broker's accounts, for a centre's broker (server/credentials.py)
and the province hub's (hub/credentials.py): the plain passwords (secrets.toml), Mosquitto's
hashed password file, the ACL and a conf snippet, each replaced atomically.

``passwd`` and ``acl`` get mode 0640 and group ``mosquitto`` when that group exists and
may be given (as root): Mosquitto opens them after dropping from root to user
``mosquitto``. Otherwise they are 0600 and the broker must run as their owner.
"""

from __future__ import annotations

import grp
import os
import secrets
import shutil
import subprocess
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from queuebox.errors import QueueboxError

SECRETS_FILE = "secrets.toml"
PASSWD_FILE = "passwd"
ACL_FILE = "acl"
CONF_FILE = "mosquitto.conf"
BROKER_GROUP = "mosquitto"


class CredentialsError(QueueboxError, RuntimeError):
    """The credentials cannot be made: mosquitto_passwd missing or failing, unreadable secrets."""


def read_secrets(path: Path) -> dict[str, str]:
    """The passwords in a secrets file, by account name; empty when the file does not exist."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CredentialsError(f"cannot read {path}: {exc}") from None
    passwords = raw.get("passwords", {})
    if not isinstance(passwords, dict) or not all(isinstance(v, str) and v and v.isprintable()
                                                  for v in passwords.values()):
        raise CredentialsError(f"{path}: [passwords] must map account names to non-empty one-line strings")
    return passwords


@dataclass
class Written:
    """What `write_credentials` did, for the CLI to print (never the passwords)."""

    files: list[tuple[Path, int, str]] = field(default_factory=list)  # path, mode, group or ""
    new: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def write_broker_files(out_dir: str | Path, names: Sequence[str], *, secrets_text: Callable[[dict[str, str]], str],
                       acl: str, conf: Callable[[Path, Path], str], group: str = BROKER_GROUP,
                       mosquitto_passwd: str | None = None) -> Written:
    """Write secrets.toml, passwd, acl and mosquitto.conf into `out_dir` (made if missing) for
    the accounts `names`.

    Existing passwords in `out_dir/secrets.toml` are kept; accounts without one get
    ``secrets.token_urlsafe(18)``; accounts not in `names` are dropped from all files.
    `secrets_text` makes the secrets file from the passwords, `conf` the conf snippet from
    the paths of passwd and acl. `group` is given to passwd and acl (mode 0640) when
    possible, else they stay 0600 and a warning says so.
    """
    tool = mosquitto_passwd or shutil.which("mosquitto_passwd")
    if tool is None:
        raise CredentialsError("mosquitto_passwd not found (apt install mosquitto)")
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    written = Written()

    old = read_secrets(out / SECRETS_FILE)
    passwords: dict[str, str] = {}
    for name in names:
        if name in old:
            passwords[name] = old[name]
            written.kept.append(name)
        else:
            passwords[name] = secrets.token_urlsafe(18)
            written.new.append(name)
    written.dropped = [name for name in old if name not in passwords]

    _replace(out / SECRETS_FILE, secrets_text(passwords), 0o600)
    written.files.append((out / SECRETS_FILE, 0o600, ""))

    passwd_path, acl_path = out / PASSWD_FILE, out / ACL_FILE
    plain = "".join(f"{name}:{pw}\n" for name, pw in passwords.items())
    for path, text, hashed in ((passwd_path, plain, True), (acl_path, acl, False)):
        def prepare(tmp: Path, path: Path = path, hashed: bool = hashed) -> None:
            if hashed:
                _hash_passwords(tool, tmp)
            mode, owner_group = _share_with(tmp, group)
            written.files.append((path, mode, owner_group))
            if not owner_group:
                written.warnings.append(f"{path.name} is mode 0600, group {group!r} could not be given: "
                                        "the broker must run as its owner")
        _replace(path, text, 0o600, prepare=prepare)
    _replace(out / CONF_FILE, conf(passwd_path, acl_path), 0o644)
    written.files.append((out / CONF_FILE, 0o644, ""))
    return written


def _hash_passwords(tool: str, path: Path) -> None:
    """Hash a plain ``user:password`` file in place with mosquitto_passwd -U."""
    try:
        # umask: its plain-text working copy <file>.tmp is made with mode 0666 & ~umask.
        done = subprocess.run([tool, "-U", str(path)], capture_output=True, text=True, timeout=60, umask=0o077)
    except OSError as exc:
        raise CredentialsError(f"cannot run {tool}: {exc}") from None
    if done.returncode != 0:
        raise CredentialsError(f"{tool} -U failed with status {done.returncode}: "
                               f"{(done.stderr or done.stdout).strip()}")


def _replace(path: Path, text: str, mode: int, prepare: Callable[[Path], None] | None = None) -> None:
    """Write `text` to a new file with `mode` from the start, let `prepare` finish it (hash,
    chown), then rename it over `path`: readers see the old file or the new one, never a part.
    The new file is made in a private (0700) folder beside `path`, because mosquitto_passwd
    -U leaves a plain-text copy ``<file>.tmp`` next to the file while it works."""
    with tempfile.TemporaryDirectory(prefix=f".{path.name}.", dir=path.parent) as private:
        tmp = Path(private) / path.name
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        os.fchmod(fd, mode)  # whatever the umask
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if prepare is not None:
            prepare(tmp)
        os.replace(tmp, path)


def _share_with(path: Path, group: str) -> tuple[int, str]:
    """Give `path` to `group` with mode 0640 when the group exists and we may (root, or a
    member); else make it 0600. Returns (mode, group or "")."""
    try:
        os.chown(path, -1, grp.getgrnam(group).gr_gid)
    except (KeyError, PermissionError):
        os.chmod(path, 0o600)
        return 0o600, ""
    os.chmod(path, 0o640)
    return 0o640, group
