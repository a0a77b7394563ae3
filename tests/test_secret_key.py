"""server.secret_key: the web session key in its own 0600 file, made once, on real files."""

from __future__ import annotations

import threading

import pytest

from server.secret_key import SecretKeyError, key_path, read_or_make_key
from tests.factories import make_config


def test_it_is_made_once_private_and_read_back(tmp_path):
    path = tmp_path / "web-secret.key"
    key = read_or_make_key(path)
    assert len(key) == 64 and int(key, 16) >= 0
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_or_make_key(path) == key
    assert [p.name for p in tmp_path.iterdir()] == ["web-secret.key"]  # nothing left aside


def test_processes_starting_together_share_one_key(tmp_path):
    path, keys = tmp_path / "web-secret.key", []
    threads = [threading.Thread(target=lambda: keys.append(read_or_make_key(path))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(keys) == 8 and len(set(keys)) == 1


def test_a_key_others_may_read_is_made_private(tmp_path):
    path = tmp_path / "web-secret.key"
    path.write_text("k" * 64 + "\n")
    path.chmod(0o644)
    assert read_or_make_key(path) == "k" * 64
    assert path.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("setup, message", [
    (lambda p: p.write_text("short"), "too short"),
    (lambda p: p.mkdir(), "is not a file"),
    (lambda p: None, "cannot make the web session key"),
])
def test_a_bad_key_or_place_is_a_clear_error(tmp_path, setup, message):
    path = tmp_path / "web-secret.key"
    setup(path)
    if message.startswith("cannot"):
        path = tmp_path / "missing-folder" / "web-secret.key"
    with pytest.raises(SecretKeyError, match=message):
        read_or_make_key(path)


def test_it_lives_beside_the_database_unless_configured(tmp_path):
    assert key_path(make_config(), tmp_path / "q.db") == tmp_path / "web-secret.key"
    assert key_path(make_config(server={"secret_key_file": "/etc/k"}), tmp_path / "q.db").as_posix() == "/etc/k"
