"""`queuebox migrate` and `queuebox server` as a technician runs them."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from server.engine import Engine
from server.web import create_app
from tests.factories import FakeClock, make_config

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config" / "queuebox.example.toml"


def queuebox(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "queuebox.cli", *args], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_migrate_creates_the_schema_and_loads_services(tmp_path):
    db = tmp_path / "q.db"
    first = queuebox("migrate", "--config", str(EXAMPLE), "--database", str(db))
    assert first.returncode == 0, first.stderr
    assert "applied 0001_initial, 0002_web" in first.stdout
    again = queuebox("migrate", "--config", str(EXAMPLE), "--database", str(db))
    assert again.returncode == 0 and "up to date" in again.stdout
    conn = sqlite3.connect(db)
    names = dict(conn.execute("SELECT code, name_vi FROM services"))
    counters = conn.execute("SELECT count(*) FROM counters").fetchone()[0]
    conn.close()
    assert names["B"] == "Hộ tịch - Chứng thực" and len(names) == 5 and counters == 6


def test_migrate_refuses_a_newer_database(tmp_path):
    db = tmp_path / "q.db"
    queuebox("migrate", "--config", str(EXAMPLE), "--database", str(db))
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES ('queuebox', '0999_x', '')")
    conn.commit()
    conn.close()
    result = queuebox("migrate", "--config", str(EXAMPLE), "--database", str(db))
    assert result.returncode == 1
    assert "newer queuebox" in result.stderr and "Traceback" not in result.stderr


def test_a_broken_config_stops_the_server_with_the_key_named(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(EXAMPLE.read_text(encoding="utf-8").replace('priority = "interleave"', 'priority = "fast"'),
                   encoding="utf-8")
    result = queuebox("server", "--config", str(bad), "--database", str(tmp_path / "q.db"))
    assert result.returncode == 1
    assert "queue.priority" in result.stderr and "Traceback" not in result.stderr


def test_health_endpoint_reports_the_day_and_queue(tmp_path):
    engine = Engine(make_config(), tmp_path / "q.db", clock=FakeClock())
    engine.take("1", "k", "B")
    client = create_app(engine).test_client()
    body = client.get("/healthz").get_json()
    assert body["ok"] is True and body["day"] == "2026-11-23"
    assert body["waiting"] == {"A": 0, "B": 1, "C": 0}
    assert body["counters"] == {"1": "idle", "2": "idle", "3": "idle"}
    engine.close()


def test_server_process_serves_health_and_stops_on_sigterm(tmp_path):
    port = free_port()
    log = open(tmp_path / "server.log", "w")
    env = {**os.environ, "QUEUEBOX_CONFIG": str(EXAMPLE)}
    proc = subprocess.Popen([sys.executable, "-m", "queuebox.cli", "server", "--database", str(tmp_path / "q.db"),
                             "--listen", "127.0.0.1", "--port", str(port)], stdout=log, stderr=log, env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 20
        body = None
        while time.monotonic() < deadline and body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    body = json.loads(response.read())
            except OSError:
                assert proc.poll() is None, (tmp_path / "server.log").read_text()
                time.sleep(0.1)
        assert body is not None and body["ok"] is True and body["site"] == "xa-an-phu"
        assert set(body["waiting"]) == {"A", "B", "C", "D", "E"}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        log.close()


def test_the_server_keeps_its_database_and_session_key_from_other_users(tmp_path):
    """Even started with umask 022, and on a database file another version left world-readable:
    the database and its -wal/-shm are not readable by others, the session key is a 0600 file
    beside the database and not a row of it."""
    db = tmp_path / "q.db"
    db.touch(mode=0o644)
    db.chmod(0o644)
    port = free_port()
    log = open(tmp_path / "server.log", "w")
    env = {**os.environ, "QUEUEBOX_CONFIG": str(EXAMPLE)}
    proc = subprocess.Popen([sys.executable, "-m", "queuebox.cli", "server", "--database", str(db),
                             "--listen", "127.0.0.1", "--port", str(port)], stdout=log, stderr=log, env=env, cwd=ROOT,
                            umask=0o022)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "server.log").read_text()
                time.sleep(0.1)
        modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir() if p.name.startswith(("q.db", "web-"))}
        assert {"q.db", "q.db-wal", "q.db-shm", "web-secret.key"} <= set(modes), modes
        assert {name: oct(mode) for name, mode in modes.items() if mode & 0o007} == {}
        assert modes["web-secret.key"] == 0o600
        key = (tmp_path / "web-secret.key").read_text().strip()
        with sqlite3.connect(db) as conn:
            assert [r for r in conn.execute("SELECT key FROM settings") if "secret" in r[0]] == []
            assert not any(key in str(row) for row in conn.execute("SELECT * FROM settings"))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        log.close()
