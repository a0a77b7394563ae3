"""The province dashboard over a real PostgreSQL holding three centres (tests/hub/province.py):
login and roles, CSRF, the overview (faults, red past target, order), a centre's page, and the
month report, equal to the centres' own figures, on the page and in CSV and XLSX."""

from __future__ import annotations

import re
from typing import Any


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or \
        re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html[:500]
    return match.group(1)


def log_in(client: Any, login: str, password: str = "correct horse 42") -> Any:
    token = csrf_of(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"login": login, "password": password, "csrf_token": token})


def test_smoke(dashboard):
    client = dashboard.test_client()
    r = log_in(client, "tinh")
    assert r.status_code == 302, r.get_data(as_text=True)
    page = client.get("/overview")
    print(page.get_data(as_text=True))
    assert page.status_code == 200
