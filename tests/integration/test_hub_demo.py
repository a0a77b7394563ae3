"""`queuebox hub-demo` as a person runs it: the province dashboard answers, shows the three
centres with their figures coming through their uplinks and the first centre's printer out of
paper, and SIGTERM stops every child (PostgreSQL included) with status 0."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

from hub.demo import ADMIN, CENTRES, PASSWORD
from tests.integration.test_demo import EXAMPLE, ROOT, Browser, alive, children_of, free_port, wait_for


def test_the_hub_demo_shows_three_live_centres_on_the_dashboard_and_stops_cleanly(tmp_path: Path):
    web_port = free_port()
    out = tmp_path / "demo.out"
    with open(out, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "queuebox.cli", "hub-demo", "--config", str(EXAMPLE),
                                 "--dir", str(tmp_path / "hub-demo"), "--web-port", str(web_port)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=ROOT, start_new_session=True)
    children: dict[int, str] = {}
    try:
        def started() -> bool:
            assert proc.poll() is None, out.read_text()
            return "Press Ctrl-C" in out.read_text()
        wait_for(started, 60, out.read_text)
        assert f"dashboard:     http://127.0.0.1:{web_port}/" in out.read_text()
        children = children_of(proc.pid)
        browser = Browser(f"http://127.0.0.1:{web_port}")
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', browser.get("/login").decode()).group(1)
        browser.opener.open(f"{browser.base}/login", data=urllib.parse.urlencode(
            {"login": ADMIN, "password": PASSWORD, "csrf_token": token}).encode(), timeout=5).close()

        def overview() -> str:
            return browser.get("/overview/rows").decode()

        def every_centre_reports_with_the_fault() -> bool:
            rows = overview()
            return all(f'data-centre="{c}"' in rows for c, _, _ in CENTRES) and "máy in hết giấy" in rows
        wait_for(every_centre_reports_with_the_fault, 60, overview)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        status = proc.wait(timeout=60)
        left = [pid for pid in children if alive(pid)]
        for pid in left:
            subprocess.run(["kill", "-9", str(pid)], check=False)
    assert status == 0, out.read_text()
    assert left == []
    pg_port = int(re.search(r"PostgreSQL: +host=127.0.0.1 port=(\d+)", out.read_text()).group(1))
    with pytest.raises(OSError):  # the cluster stopped too
        socket.create_connection(("127.0.0.1", pg_port), timeout=2).close()
