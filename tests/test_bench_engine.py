"""bench/engine.py, small: its phases and keys, and --with-uplink, where a real `queuebox uplink`
sends the engine's events to a real `queuebox hub` while the same take/next workload runs again."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_engine_bench_measures_take_and_next_alone_and_with_the_uplink(tmp_path, postgres, mosquitto_path):
    # postgres, mosquitto_path: skipped without them, as the phase needs both
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "engine.py"), "--commands", "120", "--depth", "30",
                           "--with-uplink", "--dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    for key in ("take", "next", "busy_all", "floor", "short_queue", "deep_queue_take", "ratio_engine_to_floor",
                "target_per_s", "meets_target", "settings", "machine"):
        assert key in result, key
    uplink = result["with_uplink"]
    for run in ("alone", "uplink"):
        assert uplink[run]["take"]["commands"] == 120 and uplink[run]["next"]["called_a_ticket"] == 120
        assert 0 < uplink[run]["next"]["p50_ms"] <= uplink[run]["next"]["p99_ms"]
    for name in ("take", "next"):
        change = uplink["change"][name]
        alone, with_uplink = uplink["alone"][name]["p99_ms"], uplink["uplink"][name]["p99_ms"]
        assert change["p99_pct"] == round((with_uplink - alone) / alone * 100, 1)
    assert uplink["meets_target"] == all(c["p50_within"] and c["p99_within"] for c in uplink["change"].values())
    did = uplink["uplink_did"]
    # the hub acknowledged every event of the run: each of the 120 tickets was at least issued and called
    assert did["drained"] and did["events"] >= 2 * 120 and did["rounds"] == 120 // 30
    assert 0 <= did["behind_at_round_end_max"] <= did["events"]
    assert did["uplink_cpu_s"] >= 0 and did["hub_cpu_s"] >= 0
