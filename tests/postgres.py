"""A private PostgreSQL cluster for tests (hub/pgcluster.py), as pytest fixtures.

Registered as a pytest plugin from `tests/conftest.py`. Fixtures:

- `postgres`: one running `Cluster` for the whole session (skipped when PostgreSQL is not
  installed, failed under `CI`), stopped and removed at the end.
- `pg_dsn`: a fresh empty database for one test (``CREATE DATABASE … TEMPLATE template0``),
  dropped afterwards.
- `hub_dsn`: a fresh database with the hub's schema, cloned from a template migrated once.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from hub.pgcluster import SUPERUSER, Cluster, ClusterError, find_pg_bin

__all__ = ["SUPERUSER", "Cluster", "ClusterError", "find_pg_bin"]


# --- fixtures ----------------------------------------------------------------------

@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """A running private PostgreSQL cluster for the session. Missing: fails under CI, else skips."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        reason = "PostgreSQL is not installed (apt install postgresql)"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    # Not pytest's tmp_path: its folders are 0700 root, which the cluster's own user cannot enter.
    directory = Path(tempfile.mkdtemp(prefix="queuebox-pg-"))
    cluster = Cluster(directory, bin_dir).init().start()
    try:
        yield cluster
    finally:
        cluster.stop("immediate")
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def pg_dsn(postgres: Cluster) -> Iterator[str]:
    """The connection string of a fresh, empty database, dropped after the test."""
    name = postgres.create_database()
    yield postgres.dsn(name)
    postgres.drop_database(name)


@pytest.fixture(scope="session")
def hub_template(postgres: Cluster) -> str:
    """A database with the hub's schema, made once: tests clone it."""
    from hub.schema import migrate

    name = postgres.create_database()
    import psycopg

    with psycopg.connect(postgres.dsn(name)) as conn:
        migrate(conn)
    return name


@pytest.fixture
def hub_dsn(postgres: Cluster, hub_template: str) -> Iterator[str]:
    """A fresh database with the hub's schema (a clone of `hub_template`), dropped after the test."""
    name = postgres.create_database(template=hub_template)
    yield postgres.dsn(name)
    postgres.drop_database(name)
