"""Clients of the public hall, for tests and bench/web_hall.py: a browser-like web session
(cookies, CSRF token, a clerk's Next as the console page sends it), slow-header attackers
(slowloris) and open live streams, all over plain sockets against a real server.

Every request opens a new connection (as a phone on the Wi-Fi would), so the time measured
includes being accepted by the server.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import threading
import time
import uuid
from typing import Any

CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


class WebSession:
    """A browser's session with the web at `host`:`port`: keeps its cookies. `source` binds the
    client side to that address (e.g. 127.0.0.2, to be another client address on loopback)."""

    def __init__(self, port: int, host: str = "127.0.0.1", source: str | None = None, timeout: float = 10.0) -> None:
        self.host, self.port, self.source, self.timeout = host, port, source, timeout
        self.cookies: dict[str, str] = {}
        self.csrf = ""

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """One request on a new connection: (status, headers with lower-case names, body)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout,
                                          source_address=(self.source, 0) if self.source else None)
        try:
            all_headers = {"Host": f"{self.host}:{self.port}", **(headers or {})}
            if self.cookies:
                all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            conn.request(method, path, body=body, headers=all_headers)
            response = conn.getresponse()
            data = response.read()
            for name, value in response.getheaders():
                if name.lower() == "set-cookie":
                    key, _, rest = value.partition("=")
                    self.cookies[key.strip()] = rest.split(";", 1)[0]
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        finally:
            conn.close()

    def get(self, path: str) -> tuple[int, bytes]:
        status, _headers, body = self.request("GET", path)
        return status, body

    def page_csrf(self, path: str) -> str:
        """Open `path` and keep the CSRF token of its <meta name="csrf-token">."""
        status, body = self.get(path)
        match = CSRF.search(body.decode("utf-8", "replace"))
        assert status == 200 and match, f"no csrf token on {path} ({status})"
        self.csrf = match.group(1)
        return self.csrf

    def login(self, login: str, password: str) -> None:
        """Log in with the login form, as a person does."""
        from urllib.parse import urlencode
        token = self.page_csrf("/login")
        form = urlencode({"csrf_token": token, "login": login, "password": password}).encode()
        status, headers, _body = self.request("POST", "/login", form,
                                              {"Content-Type": "application/x-www-form-urlencoded"})
        assert status in (302, 303), f"login of {login} failed: {status}"

    def post_form(self, path: str, fields: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        from urllib.parse import urlencode
        form = urlencode({"csrf_token": self.csrf, **fields}).encode()
        return self.request("POST", path, form, {"Content-Type": "application/x-www-form-urlencoded"})

    def command(self, counter: str, action: str) -> tuple[int, dict[str, Any]]:
        """A console button press as counter.js sends it: JSON with the page's CSRF token."""
        body = json.dumps({"id": uuid.uuid4().hex[:12], "action": action}).encode()
        status, _headers, data = self.request("POST", f"/counter/{counter}/command", body, {
            "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": self.csrf})
        return status, json.loads(data) if data.startswith(b"{") else {}

    def open_stream(self, path: str) -> tuple[socket.socket, int]:
        """Open a live stream as EventSource does; returns the socket (left open) and the HTTP status."""
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout,
                                        source_address=(self.source, 0) if self.source else None)
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAccept: text/event-stream\r\n"
                     f"Cookie: {cookie}\r\n\r\n".encode())
        head = b""
        while b"\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                break
            head += chunk
        status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
        return sock, status


def timed(call: Any) -> tuple[float, Any]:
    """(seconds, result) of `call()`; a failure counts as its time and the exception."""
    start = time.perf_counter()
    try:
        result = call()
    except OSError as exc:
        result = exc
    return time.perf_counter() - start, result


class Slowloris:
    """`count` connections that each send a partial ``GET /login`` and then one more header line
    every `every_s` seconds, reopening any the server closes (as the attack tool does)."""

    HEAD = b"GET /login HTTP/1.1\r\nHost: queuebox\r\nUser-Agent: slow\r\n"

    def __init__(self, port: int, count: int, every_s: float = 5.0, host: str = "127.0.0.1") -> None:
        self.port, self.count, self.every_s, self.host = port, count, every_s, host
        self.socks: list[socket.socket | None] = [None] * count
        self.reopened = 0
        self.refused = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slowloris", daemon=True)

    def _open(self, i: int) -> None:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=2)
            sock.sendall(self.HEAD)
            self.socks[i] = sock
        except OSError:
            self.socks[i] = None
            self.refused += 1

    def start(self) -> Slowloris:
        for i in range(self.count):
            self._open(i)
        self._thread.start()
        return self

    def open_now(self) -> int:
        """How many of the connections are open from our side right now."""
        return sum(1 for s in self.socks if s is not None)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            for i, sock in enumerate(self.socks):
                if self._stop.is_set():
                    return
                try:
                    if sock is None:
                        raise OSError("closed")
                    sock.sendall(b"X-Slow-%d: %d\r\n" % (i, time.monotonic_ns()))
                except OSError:
                    if sock is not None:
                        sock.close()
                    self.reopened += 1
                    self._open(i)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        for sock in self.socks:
            if sock is not None:
                sock.close()
