"""`queuebox hub-web`: the province dashboard on the centre's hardened waitress listener
(server/httpd.py: a deadline for each request, bounded bodies and headers, shedding idle
connections at the limit), with the limits of the `[server]` section; last month's province reports are made ahead on a
thread of their own (hub/report_cache.py)."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Any

import psycopg

from hub.report_cache import ReportCache, keep_last_month_ready
from hub.schema import migrate
from hub.web.common import utc_now
from queuebox.config import Config
import server.httpd as httpd
from server.secret_key import read_or_make_key

logger = logging.getLogger(__name__)


def dashboard_listener(config: Config, host: str, port: int, *, secret_key: str | None = None,
                       reports: ReportCache | None = None) -> httpd.Listener:
    """A bound listener serving the dashboard over `config.hub.database` (port 0: a free one)."""
    from hub.web import create_app

    key = secret_key or read_or_make_key(Path(config.hub.web_secret_key_file))
    app = create_app(config.hub.database, config, secret_key=key, reports=reports)
    s = config.server
    return httpd.make_listener(app, host, port, threads=s.threads, stream_threads=0,  # the overview polls
                               connection_limit=s.connection_limit, request_timeout_s=s.request_timeout_s)


def run_hub_web(config: Config, host: str, port: int) -> int:
    """Migrate the hub database (the accounts table), then serve until SIGTERM or Ctrl-C."""
    with psycopg.connect(config.hub.database, autocommit=True) as conn:
        applied = migrate(conn)
    if applied:
        logger.info("hub database: applied %s", ", ".join(applied))
    httpd.raise_open_files_limit()
    reports, stop = ReportCache(), threading.Event()
    listener = dashboard_listener(config, host, port, reports=reports)
    previous: Any = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda *_: listener.close())
    threading.Thread(target=keep_last_month_ready, name="last-month",
                     args=(reports, config.hub.database, config.zone, stop, utc_now), daemon=True).start()
    logger.info("province dashboard on http://%s:%d/", host, listener.port)
    try:
        listener.run()
    finally:
        stop.set()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0
