"""Real Chromium for the pages people use: Debian's /usr/bin/chromium driven by Playwright
(never `playwright install`, which downloads a browser), and the web app served by waitress
on a free port, as `queuebox server` serves it.

Screenshots go to tests/artifacts/ (kept after the run, not committed)."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
# Without the background-networking flags Chromium keeps trying the (closed) internet.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """A WSGI app served by waitress in a thread; `url` is its base URL."""

    def __init__(self, app: Any) -> None:
        from waitress.server import create_server
        self.port = free_port()
        self.server = create_server(app, host="127.0.0.1", port=self.port, threads=8, ident="queuebox-test",
                                    asyncore_use_poll=True)  # select() fails on a closed stream socket
        self.thread = threading.Thread(target=self.server.run, name="waitress", daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = app

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        hub = self.app.extensions.get("queuebox.hub")
        if hub is not None:
            hub.close()  # ends the pages' event streams so the workers stop
        self.server.close()
        self.thread.join(timeout=5)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """A headless Chromium (session-wide). Missing Chromium fails under CI, skips elsewhere."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: `make test` installs the Debian package chromium")
        pytest.skip(f"{CHROMIUM} not installed (make test installs it)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:  # Playwright gives each launch a fresh temporary profile
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A fresh browser context (own cookies) and page, tablet-sized."""
    context = chromium.new_context(viewport={"width": 1280, "height": 800}, locale="vi-VN")
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def live_server(app: Any) -> Iterator[LiveServer]:
    """The test's Flask app served for real on 127.0.0.1."""
    with LiveServer(app) as server:
        yield server


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page PNG under tests/artifacts/ and return its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path

