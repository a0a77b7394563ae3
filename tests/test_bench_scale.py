"""bench/scale.py, small: a real broker, server, kiosk and display process, and protocol clients,
for ten seconds; the JSON has its figures and nothing is lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED = os.environ.get("QUEUEBOX_BENCH_SEED", "1")


def test_small_load_test_loses_nothing(tmp_path: Path, mosquitto_path: str) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "scale.py"), "--counters", "6", "--kiosks", "2", "--displays", "2",
         "--real-kiosks", "1", "--real-displays", "1", "--rate", "10", "--minutes", str(10 / 60),
         "--seed", SEED, "--dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert f"seed {SEED}" in done.stderr
    segment = result["segments"][0]
    assert segment["commands"] >= 50  # ~100 asked at 10/s
    assert segment["by_kind"]["take"] > 0 and segment["by_kind"]["next"] > 0
    for figure in ("press_to_ticket", "next_reply", "next_to_board_all"):
        assert segment[figure]["count"] > 0 and segment[figure]["p50_ms"] <= segment[figure]["p99_ms"], figure
    assert segment["lost"] == {"replies_missing": 0, "replies_duplicate": 0, "events_missing_at_displays": 0,
                               "boards_missing_at_displays": 0, "board_final_wrong": 0}
    assert result["lost_total"] == 0 and result["meets"]["nothing_lost"]
    assert segment["calls_never_shown"] == 0
    assert set(segment["processes"]) == {"mosquitto", "server", "kiosk-k1", "display-d1", "bench"}
    assert all(p["rss_mb"] > 0 for p in segment["processes"].values())
    kiosk = result["real_kiosks"]["kiosks"]["k1"]
    assert kiosk["presses_ok"] >= 1 and kiosk["ticket_files"] == kiosk["presses_ok"]
    assert result["real_displays"]["d1"]["png_bytes"] > 0
    assert result["web_healthz"]["ok"] == result["web_healthz"]["requests"] > 0
    assert result["settings"]["real_kiosks"] == 1 and result["settings"]["protocol_displays"] == 1


def test_small_sweep_reports_each_rate_and_the_limit(tmp_path: Path, mosquitto_path: str) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "scale.py"), "--counters", "3", "--kiosks", "2", "--displays", "1",
         "--real-kiosks", "0", "--real-displays", "0", "--sweep", "5,10", "--sweep-seconds", "4",
         "--seed", SEED, "--dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert [s["rate_asked"] for s in result["segments"]] + result["rates_not_run"] == [5, 10]
    assert set(result["limit"]["p99_by_rate"]) == {f"{s['rate_asked']:g}" for s in result["segments"]}
    assert all(s["lost_total"] == 0 for s in result["segments"])
    assert set(result["segments"][0]["processes"]) == {"mosquitto", "server", "bench"}
