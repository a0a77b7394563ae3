"""Power-cut behaviour: a process issuing tickets is killed with SIGKILL at random moments, over and
over, on the same SQLite file; after each kill the file must be whole and tell the truth.

The helper (tests/helpers/issue_loop.py) prints a ticket only after its commit returned, like a
kiosk that prints only committed tickets (invariant 2). After every kill:
- `PRAGMA integrity_check` is ok;
- numbers per (day, service) are 1..max, unique and gap-free, and no number is reused: every row
  from before the kill is still there unchanged, and new numbers continue after the old maximum;
- every ticket the child printed is in the file with the same status token;
- rows of one command are all there or none: one `issued` event and one `commands` row per ticket,
  events = tickets + day_opened rows, `events.seq` without gaps;
- re-sending the last committed command id after the restart gets the same ticket back (invariant 3).

The kill schedule is random; set QUEUEBOX_CRASH_SEED to replay one.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

from tests.factories import MONDAY_9AM
from tests.helpers.child import Child

ROUNDS = 25
HELPER = Path(__file__).resolve().parent / "helpers" / "issue_loop.py"
EXAMPLE_CONFIG = Path(__file__).resolve().parents[1] / "config" / "queuebox.example.toml"
READY_TIMEOUT_S = 30

Row = tuple[str, str, int, str, str]  # day, service, number, label, token


def read_file(db_path: Path) -> dict[str, Any]:
    conn = sqlite3.connect(db_path)
    try:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "tickets" not in tables:  # killed before the first migration committed
            migrated = conn.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0] \
                if "_sqlite_migrations" in tables else 0
            return {"integrity": conn.execute("PRAGMA integrity_check").fetchall(), "tables": tables,
                    "migrated": migrated, "tickets": {}}
        return {
            "integrity": conn.execute("PRAGMA integrity_check").fetchall(),
            "tickets": {r[0]: tuple(r[1:]) for r in conn.execute(
                "SELECT id, day, service, number, label, token FROM tickets")},
            "issued": [t for (t,) in conn.execute("SELECT ticket FROM events WHERE type = 'issued' ORDER BY ticket")],
            "seqs": [s for (s,) in conn.execute("SELECT seq FROM events ORDER BY seq")],
            "day_opened": conn.execute("SELECT count(*) FROM events WHERE type = 'day_opened'").fetchone()[0],
            "days": conn.execute("SELECT count(*) FROM days").fetchone()[0],
            "commands": conn.execute("SELECT count(*) FROM commands").fetchone()[0],
            "last_command": conn.execute("SELECT id, reply FROM commands ORDER BY rowid DESC LIMIT 1").fetchone(),
        }
    finally:
        conn.close()


def check_file(state: dict[str, Any], before: dict[int, Row], printed: dict[str, str], why: str) -> None:
    assert state["integrity"] == [("ok",)], why
    if "tables" in state:  # no schema yet: the first migration is all or nothing
        assert state["tables"] <= {"_sqlite_migrations", "sqlite_sequence"} and state["migrated"] == 0, \
            f"{why}: half a migration: {state['tables']}"
        assert not before and not printed, f"{why}: tickets were printed but the file has no tables"
        return
    tickets: dict[int, Row] = state["tickets"]
    lost = {i: row for i, row in before.items() if tickets.get(i) != row}
    assert not lost, f"{why}: rows changed or vanished after the kill: {lost}"
    numbers: dict[tuple[str, str], list[int]] = {}
    for day, service, number, _, _ in tickets.values():
        numbers.setdefault((day, service), []).append(number)
    for key, ns in numbers.items():
        assert sorted(ns) == list(range(1, len(ns) + 1)), f"{why}: numbers of {key} are not 1..{len(ns)}"
    old_max: dict[tuple[str, str], int] = {}
    for day, service, number, _, _ in before.values():
        old_max[(day, service)] = max(number, old_max.get((day, service), 0))
    reused = [row for i, row in tickets.items() if i not in before and row[2] <= old_max.get(row[:2], 0)]
    assert not reused, f"{why}: numbers reused after a restart: {reused}"
    tokens = {label: token for _, _, _, label, token in tickets.values()}
    assert len(tokens) == len(tickets), f"{why}: a label is in the file twice"
    missing = {label: token for label, token in printed.items() if tokens.get(label) != token}
    assert not missing, f"{why}: printed tickets missing from the file: {missing}"
    assert state["issued"] == sorted(tickets), f"{why}: not one issued event per ticket"
    assert state["commands"] == len(tickets), f"{why}: commands rows and tickets disagree"
    assert state["days"] == state["day_opened"], why
    assert len(state["seqs"]) == len(tickets) + state["day_opened"], f"{why}: events != tickets + day_opened"
    assert state["seqs"] == list(range(1, len(state["seqs"]) + 1)), f"{why}: events.seq has a gap"


def test_sigkill_at_random_moments_loses_and_reuses_nothing(tmp_path):
    seed = int(os.environ.get("QUEUEBOX_CRASH_SEED") or random.randrange(2**32))
    rng = random.Random(seed)
    db_path = tmp_path / "queuebox.db"
    printed: dict[str, str] = {}
    before: dict[int, Row] = {}
    rounds_with_tickets = replays_checked = 0
    stderr_path = tmp_path / "child.stderr"
    with open(stderr_path, "a") as stderr:  # append: every round's child adds to the end
        for r in range(ROUNDS):
            why = f"round {r} (QUEUEBOX_CRASH_SEED={seed})"
            args = [str(db_path), str(EXAMPLE_CONFIG), f"r{r}", MONDAY_9AM.isoformat()]
            expected_replay = None
            if before:  # re-send the last committed command: it must not issue a second ticket
                key, reply = read_file(db_path)["last_command"]
                command_id = key.split(":", 1)[1]  # "kiosk/k1:r3-17-B" -> "r3-17-B"
                ticket = json.loads(reply)["ticket"]
                expected_replay = f"= {ticket['label']} {ticket['status_url'].rsplit('/', 1)[1]} 1"
                args += ["--replay", command_id, command_id.rsplit("-", 1)[1]]
            child = Child(HELPER, args, stderr)
            try:
                # The random moment: one round in five from the start (import, migration, opening),
                # the others while tickets are being issued. The delay is the test's input, not a wait.
                if rng.random() < 0.2:
                    time.sleep(rng.uniform(0.0, 0.3))
                else:
                    assert child.ready_or_gone.wait(READY_TIMEOUT_S), f"{why}: the helper is not ready"
                    time.sleep(rng.uniform(0.0, 0.25))
            finally:
                code = child.kill()
            assert code == -signal.SIGKILL, f"{why}: the helper exited by itself ({code}):\n{stderr_path.read_text()}"

            new = [line.split() for line in child.lines if line != "ready"]
            for fields in new:
                if fields[0] == "=":
                    assert " ".join(fields) == expected_replay, f"{why}: a repeated command id got a new reply"
                    replays_checked += 1
                else:
                    label, token = fields
                    assert label not in printed, f"{why}: label {label} printed twice"
                    printed[label] = token
            rounds_with_tickets += any(fields[0] != "=" for fields in new)

            state = read_file(db_path)
            check_file(state, before, printed, why)
            before = state["tickets"]

    # The checks above are only worth something if kills landed while tickets were being issued.
    assert rounds_with_tickets >= ROUNDS // 2, f"only {rounds_with_tickets} rounds issued tickets (seed {seed})"
    assert replays_checked >= ROUNDS // 4, f"only {replays_checked} replays got through (seed {seed})"
    assert len(before) >= len(printed) > 0
