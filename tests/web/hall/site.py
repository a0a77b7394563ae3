"""The public hall's tests (issue 14: findings 1 and 3, the public listener): a site whose app
is served by the real waitress of `server.httpd` in this process, with accounts and a waiting
ticket. The `hall` fixture takes server settings by
``@pytest.mark.parametrize("hall", [{...}], indirect=True)`` (conftest.py)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from queuebox.config import Config
from server import httpd, store, users
from server.engine import Engine
from server.web import create_app
from tests.factories import FakeClock, make_config
from tests.helpers.hall import WebSession

PASSWORD = "hall password 1"
ACCOUNTS = {"clerk1": ("clerk", ["1"]), "clerk2": ("clerk", ["2"]), "manager": ("manager", [])}


def site_db(path: Path, config: Config) -> str:
    """A database with the accounts and one waiting ticket; returns that ticket's status path."""
    engine = Engine(config, path, clock=FakeClock())
    db = store.open_database(path)
    for login, (role, counters) in ACCOUNTS.items():
        users.add(db, login, PASSWORD, role, counters, FakeClock()())
    db.close()
    url = engine.take("seed-1", "kiosk1", "A").reply["ticket"]["status_url"]
    engine.take("seed-2", "kiosk1", "A")
    engine.close()
    return "/t/" + url.rsplit("/t/", 1)[1]


class Hall:
    """The app served by a real waitress (`server.httpd`) in this process, on free ports."""

    def __init__(self, tmp_path: Path, **server: Any) -> None:
        self.config = make_config(server=server)
        self.status_path = site_db(tmp_path / "hall.db", self.config)
        self.engine = Engine(self.config, tmp_path / "hall.db", clock=FakeClock())
        self.app = create_app(self.engine, secret_key="hall test secret")
        self.staff = httpd.staff_listener(self.app, self.config.server, "127.0.0.1", 0)
        self.listeners = [self.staff]
        self.public: httpd.Listener | None = None
        if self.config.server.public_listen:
            self.public = httpd.public_listener(self.app, self.config.server, port=0)
            self.listeners.append(self.public)
        self.threads = [threading.Thread(target=lis.run, daemon=True) for lis in self.listeners]
        for thread in self.threads:
            thread.start()

    @property
    def hub(self) -> Any:
        return self.app.extensions["queuebox.hub"]

    @property
    def streams(self) -> Any:
        return self.app.extensions["queuebox.streams"]

    def session(self, login: str | None = None, source: str | None = None, public: bool = False) -> WebSession:
        listener = self.public if public else self.staff
        assert listener is not None
        web = WebSession(listener.port, source=source)
        if login:
            web.login(login, PASSWORD)
        return web

    def close(self) -> None:
        self.hub.close()
        for listener in self.listeners:
            listener.close()
        for thread in self.threads:
            thread.join(timeout=10)
        self.engine.close()


def wait_until(check: Any, timeout: float) -> bool:
    """Poll `check()` until true or `timeout` seconds; whether it became true."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)  # polling another thread's state, not test logic
    return True


def p99(seconds: list[float]) -> float:
    ordered = sorted(seconds)
    return ordered[max(0, int(len(ordered) * 0.99 + 0.5) - 1)]
