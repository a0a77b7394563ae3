"""A short chaos day in `make test` (about a minute): real Mosquitto, server, three simulated
kiosks, two displays and the rating keypad, 20 counters, every kind of process killed at
least once (see harness.py). The seed is printed; set QUEUEBOX_CHAOS_SEED to replay a run,
QUEUEBOX_CHAOS_SECONDS to make the day longer (bench/chaos.py runs long days)."""

from __future__ import annotations

import json
import os
import random

from tests.chaos.harness import KINDS, run_day
from tests.chaos.site import Plan


def test_a_busy_day_with_kills_loses_and_duplicates_nothing(tmp_path, mosquitto_path, capsys):
    seed = int(os.environ.get("QUEUEBOX_CHAOS_SEED") or random.SystemRandom().randrange(1_000_000))
    seconds = float(os.environ.get("QUEUEBOX_CHAOS_SECONDS") or 40)
    summary = run_day(tmp_path / "day", Plan(seed=seed, seconds=seconds))
    text = json.dumps(summary, ensure_ascii=False)
    with capsys.disabled():
        print(f"\nchaos summary (QUEUEBOX_CHAOS_SEED={seed}): {text}")
    replay = f"replay with QUEUEBOX_CHAOS_SEED={seed}; logs in {tmp_path / 'day'}; summary {text}"
    assert summary["violations"] == [], replay
    assert all(summary["kills"][kind] >= 1 for kind in KINDS), replay
    assert summary["kiosk_kills_between_reply_and_print"] >= 1, replay
    assert summary["tickets"] >= 40 and summary["calls"] >= 30 and summary["printed"] >= 30, replay
    assert summary["ratings"] >= 1, replay
