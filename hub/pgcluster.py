"""A private PostgreSQL cluster: `initdb` and `pg_ctl` in a folder of its own, for the tests and
for `queuebox hub-demo`.

The cluster listens on 127.0.0.1 at a free port and on a unix socket in its own folder, with
`trust` authentication for its superuser `queuebox` (nobody else can reach the folder). Run as
root, PostgreSQL refuses to start, so the cluster then belongs to the system user `postgres`
(Debian's package makes it) or `nobody`, and its commands run through `runuser`.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
from pathlib import Path
from uuid import uuid4

SUPERUSER = "queuebox"
START_TIMEOUT_S = 30


def find_pg_bin() -> Path | None:
    """The folder of `initdb` and `pg_ctl`: Debian keeps them in /usr/lib/postgresql/<version>/bin."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(versions[-1]).parent if versions else None


class ClusterError(RuntimeError):
    """The test cluster did not start or stop; the message carries its log."""


class Cluster:
    """One PostgreSQL cluster in `directory` (data in `data/`, socket and log beside it)."""

    host = "127.0.0.1"

    def __init__(self, directory: Path, bin_dir: Path) -> None:
        self.directory = directory
        self.bin_dir = bin_dir
        self.data = directory / "data"
        self.log_path = directory / "postgres.log"
        self.port = free_port(self.host)
        self.user = None
        if os.geteuid() == 0:  # postgres refuses to run as root
            self.user = "postgres" if _user_exists("postgres") else "nobody"
            shutil.chown(directory, user=self.user)
            os.chmod(directory, 0o700)

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=self.directory)

    def init(self) -> Cluster:
        result = self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust",
                           "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync")
        if result.returncode:
            raise ClusterError(f"initdb failed: {result.stdout}{result.stderr}")
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(f"\nlisten_addresses = '{self.host}'\nport = {self.port}\n"
                       f"unix_socket_directories = '{self.directory}'\n"
                       "fsync = off\nfull_page_writes = off\nmax_connections = 200\n")
        return self

    def start(self) -> Cluster:
        result = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log_path), "-w",
                           "-t", str(START_TIMEOUT_S), "start")
        if result.returncode:
            raise ClusterError(f"pg_ctl start failed: {result.stderr}\n{self.log_text()}")
        return self

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends sessions and shuts down cleanly; `immediate` is a crash (recovery at the next start)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, mode: str = "fast") -> Cluster:
        self.stop(mode)
        return self.start()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except (FileNotFoundError, PermissionError):
            return ""

    def dsn(self, dbname: str = "postgres") -> str:
        return f"host={self.host} port={self.port} user={SUPERUSER} dbname={dbname} connect_timeout=5"

    def execute(self, sql: str) -> None:
        """Run one statement outside a transaction (CREATE/DROP DATABASE) as the superuser."""
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def create_database(self, template: str = "template0") -> str:
        name = f"t{uuid4().hex[:12]}"
        self.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return name

    def drop_database(self, name: str) -> None:
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on `host` now (the OS picks it)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
