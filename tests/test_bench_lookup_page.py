"""bench/lookup_page.py, small: a real broker, server process and Chromium; the JSON has every
page's weight, server time and first paint, and the pages load what they say."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.web.browser import CHROMIUM

ROOT = Path(__file__).resolve().parents[1]


def test_small_lookup_page_bench_measures_every_page(tmp_path: Path, mosquitto_path: str) -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: `make test` installs the Debian package chromium")
        pytest.skip(f"{CHROMIUM} not installed (make test installs it)")
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "lookup_page.py"), "--procedures", "60", "--requests", "5",
         "--paints", "1", "--dir", str(tmp_path)],
        capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert set(result["pages"]) == {"index", "search", "field", "procedure"}
    for name, page in result["pages"].items():
        assert page["loads"] == ["/static/app.css", "/static/favicon.svg", "/static/lookup.css"], name
        assert 0 < page["html_sent_kb"] <= page["sent_kb"] <= page["raw_kb"], name  # gzip sent, and it helped
        assert page["server"]["count"] == 5 and 0 < page["server"]["p50_ms"] <= page["server"]["p99_ms"], name
        assert 0 < page["fcp"]["median_ms"] <= page["fcp"]["max_ms"] < 10_000, name
        assert page["fcp_cheap_phone"]["median_ms"] > 0, name
    assert result["settings"]["field_procedures"] > 10 and set(result["meets"]) == {"sent_kb", "p99", "fcp"}
