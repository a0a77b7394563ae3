"""bench/web_hall.py, small: a real broker and server process, a few hundred slow connections
and the live pages of six counters; the JSON has its figures and nothing failed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_small_web_hall_bench_answers_every_probe(tmp_path: Path, mosquitto_path: str) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "web_hall.py"), "--seconds", "3", "--slow", "300", "--counters", "6",
         "--overviews", "4", "--dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert set(result["phases"]) == {"idle", "slowloris", "streams"}
    for name, phase in result["phases"].items():
        for probe in ("healthz", "next", "status"):
            figures = phase[probe]
            assert figures["count"] > 0 and figures["failures"] == 0, (name, probe, figures)
            assert figures["p50_ms"] <= figures["p99_ms"] < 5000, (name, probe, figures)  # tolerant: a loaded machine
        assert phase["rss_mb"] > 0 and phase["threads"] > 0
    assert result["phases"]["slowloris"]["attack_open_at_start"] >= 290
    streams = result["phases"]["streams"]
    assert streams["streams_open"] == 16 and streams["streams_refused"] == 0 and streams["events_received"] > 16
