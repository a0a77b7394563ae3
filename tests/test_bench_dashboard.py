"""bench/dashboard.py, small: a real PostgreSQL with a few copies of a real centre's month, the
dashboard on its waitress listener; the JSON has every page's figures, targets and the floor."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_dashboard_bench_measures_every_page(postgres) -> None:  # postgres: skipped without PostgreSQL
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "dashboard.py"), "--centres", "4", "--tickets", "20",
                           "--requests", "3"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["settings"]["tickets_in_month"] == 4 * 20 * 21
    assert set(result["pages"]) == {"overview_rows", "centre", "month_by_centre", "month_by_field", "month_xlsx"}
    for page in result["pages"].values():
        assert 0 < page["p50_ms"] <= page["p99_ms"] <= page["max_ms"] and page["bytes"] > 0 and page["first_ms"] > 0
    assert result["floor"]["healthz"]["p50_ms"] > 0
    assert set(result["meets"]) == ({name.removesuffix("_p99_ms") for name in result["targets"] if "p99" in name}
                                    | {f"{name}_first" for name in result["pages"] if name.startswith("month")})
