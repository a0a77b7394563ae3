"""A small HTTP client for a live server (tests/web/browser.py `LiveServer`): it keeps its
cookies like a browser, posts forms with the session's CSRF token, and can speak from another
loopback address (127.0.0.2, 127.0.0.3 …: any 127/8 address reaches a server on 127.0.0.1),
so that one test can be several devices of the centre's network."""

from __future__ import annotations

import http.client
import json
import re
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode, urlsplit

from tests.web.conftest import PASSWORD


@dataclass(frozen=True)
class Reply:
    status: int
    headers: http.client.HTTPMessage
    text: str

    @property
    def location(self) -> str:
        return self.headers.get("Location", "")


class Device:
    """One browser on one address: its own cookies, a new connection per request."""

    def __init__(self, base_url: str, address: str = "127.0.0.1", cookies: dict[str, str] | None = None) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.address = address
        self.cookies: dict[str, str] = dict(cookies or {})

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> Reply:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60, source_address=(self.address, 0))
        try:
            sent = dict(headers or {})
            if self.cookies:
                sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            text = response.read().decode("utf-8", "replace")
            for header in response.headers.get_all("Set-Cookie") or []:
                for name, morsel in SimpleCookie(header).items():
                    if morsel["expires"] and "1970" in morsel["expires"] or morsel["max-age"] == "0":
                        self.cookies.pop(name, None)
                    else:
                        self.cookies[name] = morsel.value
            return Reply(response.status, response.headers, text)
        finally:
            conn.close()

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def csrf(self, page: str = "/login") -> str:
        match = re.search(r'name="csrf-token" content="([^"]+)"', self.get(page).text)
        assert match, f"no csrf token on {page}"
        return match.group(1)

    def post_form(self, path: str, data: dict[str, Any], page: str = "/login") -> Reply:
        """POST a form as a browser does, with the CSRF token of this device's session."""
        body = urlencode({"csrf_token": self.csrf(page), **data}, doseq=True).encode()
        return self.request("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"})

    def post_json(self, path: str, payload: dict[str, Any], page: str) -> tuple[int, Any]:
        """POST JSON as the pages' scripts do (the CSRF token of `page` in X-CSRFToken): (status, answer)."""
        reply = self.request("POST", path, json.dumps(payload).encode(),
                             {"Content-Type": "application/json", "X-CSRFToken": self.csrf(page)})
        return reply.status, json.loads(reply.text)

    def log_in(self, login: str, password: str = PASSWORD) -> Reply:
        return self.post_form("/login", {"login": login, "password": password})
