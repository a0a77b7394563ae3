"""A small cookie-keeping HTTP client for tests against a real web server (waitress on a
socket): logs in and posts forms with their CSRF token, as a browser does, without Chromium."""

from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class Browser:
    """Requests to `base` (``http://127.0.0.1:PORT``) sharing one cookie jar."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> tuple[int, str, dict[str, str]]:
        """(status, body as text, headers); redirects are followed."""
        return self._open(urllib.request.Request(self.base + path))

    def csrf(self, page_path: str) -> str:
        """The CSRF token of this session, read from the page's <meta name="csrf-token">."""
        _, page, _ = self.get(page_path)
        token = re.search(r'name="csrf-token" content="([^"]+)"', page)
        assert token, f"no CSRF token on {page_path}"
        return token.group(1)

    def post(self, path: str, form: dict[str, str], token_from: str) -> tuple[int, str, dict[str, str]]:
        """POST `form` with the CSRF token of the page `token_from`."""
        body = urllib.parse.urlencode({"csrf_token": self.csrf(token_from), **form}, doseq=True).encode()
        return self._open(urllib.request.Request(self.base + path, data=body, method="POST"))

    def post_json(self, path: str, payload: dict[str, Any], token_from: str) -> tuple[int, Any]:
        """POST JSON as the pages' scripts do (CSRF token in the X-CSRFToken header)."""
        request = urllib.request.Request(self.base + path, data=json.dumps(payload).encode(), method="POST",
                                         headers={"Content-Type": "application/json",
                                                  "X-CSRFToken": self.csrf(token_from)})
        status, text, _ = self._open(request)
        return status, json.loads(text)

    def log_in(self, login: str, password: str) -> int:
        status, _, _ = self.post("/login", {"login": login, "password": password}, token_from="/login")
        return status

    def _open(self, request: urllib.request.Request) -> tuple[int, str, dict[str, str]]:
        try:
            with self.opener.open(request, timeout=10) as response:
                return response.status, response.read().decode("utf-8"), dict(response.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8"), dict(exc.headers)
