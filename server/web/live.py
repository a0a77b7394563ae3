"""Live updates for the web pages: server-sent events fed by the engine's commits.

The engine calls `Hub.publish` after each commit (from whichever thread committed). Each
open page has a subscription: a small queue that only says "something changed, newest seq
is N". The page's stream then renders its own view once, however many commits came in
between, so a slow tablet never makes the engine wait and never gets a backlog.

A stream ends after `max_s` seconds (the browser's EventSource reconnects by itself), sends a
comment every `heartbeat_s` for proxies, and ends within `check_s` of its client going away
(waitress's ``waitress.client_disconnected``), so a closed page frees its thread at once.

Streams run on a thread pool of their own (`server.httpd`, by `is_stream_path`), sized by
`server.live_streams`; `StreamLimits` caps them in total, per user (or paired tablet) and per
address; `live_response` answers the excess with 429 and a Retry-After.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections import Counter
from typing import TYPE_CHECKING, Any, Callable, Iterator, cast

from flask import Response, current_app, request

from server.store import EventRecord
from server.web.i18n import _

if TYPE_CHECKING:
    from server.engine import Engine

STREAM_SUFFIX = "/events"  # every live page's stream URL ends so (counter console, rating tablet, overview)
RETRY_AFTER_S = 60  # what a refused stream is told to wait
SHARED_MAX_AGE_S = 1.0  # a view rendered for several pages is reused at most this long


def is_stream_path(path: str) -> bool:
    """Whether a request for `path` opens a live stream (it then runs on the stream threads)."""
    return path.endswith(STREAM_SUFFIX)


class Hub:
    """Fans out 'the database changed' to every open page; thread-safe.

    After a commit every open page renders its view at once; `shared` lets pages that show the
    same thing (the overviews, two tabs of one console, every console's engine snapshot) render
    it once per commit instead of once each, which keeps the engine's lock free for commands."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: set[queue.Queue[int]] = set()
        self.closed = threading.Event()
        self.latest = 0  # seq of the last commit published
        self._shared: dict[Any, tuple[int, float, Any]] = {}  # key -> (seq, monotonic time, value)
        self._computing: dict[Any, threading.Lock] = {}

    def shared(self, key: Any, compute: Callable[[], Any], max_age_s: float = SHARED_MAX_AGE_S) -> Any:
        """`compute()`, or the value it gave for `key` since the last commit if that was less than
        `max_age_s` seconds ago (views carry the server's `now`, which must stay fresh). Callers
        never change the value. Concurrent callers of one key compute it once."""
        with self._lock:
            lock = self._computing.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                seq = self.latest
                hit = self._shared.get(key)
            if hit is not None and hit[0] == seq and time.monotonic() - hit[1] < max_age_s:
                return hit[2]
            value = compute()
            with self._lock:
                self._shared[key] = (seq, time.monotonic(), value)
            return value

    def publish(self, records: tuple[EventRecord, ...]) -> None:
        seq = records[-1].seq if records else 0
        with self._lock:
            self.latest = max(self.latest, seq)
            for q in self._subscribers:
                try:
                    q.put_nowait(seq)
                except queue.Full:  # it has a change pending already; one is enough
                    pass

    def subscribe(self) -> queue.Queue[int]:
        q: queue.Queue[int] = queue.Queue(maxsize=1)
        with self._lock:
            self._subscribers.add(q)
        return q

    def unsubscribe(self, q: queue.Queue[int]) -> None:
        with self._lock:
            self._subscribers.discard(q)

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def close(self) -> None:
        """End every stream (server shutdown)."""
        self.closed.set()
        self.publish(())


def sse(data: Any, event: str = "update") -> str:
    """One server-sent event carrying `data` as JSON."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


def stream(hub: Hub, view: Callable[[], Any], *, gone: Callable[[], bool] | None = None, max_s: float = 300.0,
           heartbeat_s: float = 15.0, check_s: float = 1.0, retry_ms: int = 2000) -> Iterator[str]:
    """The event stream of one page: its `view()` now, then again after every change.

    `gone()` says the client has closed the connection (waitress's
    ``environ["waitress.client_disconnected"]``); it is asked every `check_s` seconds, so a
    closed page's stream ends within about that long. Seconds throughout."""
    q = hub.subscribe()
    gone = gone or (lambda: False)
    try:
        yield f"retry: {retry_ms}\n\n"
        yield sse(view())
        deadline = time.monotonic() + max_s
        beat = time.monotonic() + heartbeat_s
        while not hub.closed.is_set() and not gone():
            now = time.monotonic()
            if now >= deadline:
                return
            if now >= beat:
                beat = now + heartbeat_s
                yield ": keep-alive\n\n"
                continue
            try:
                q.get(timeout=min(check_s, deadline - now, beat - now))
            except queue.Empty:
                continue
            if hub.closed.is_set():
                return
            yield sse(view())
    finally:
        hub.unsubscribe(q)


class StreamLimits:
    """Counts the open live streams and refuses one past a cap; thread-safe.

    Caps: `total` streams, `per_user` for one holder (a staff account or a paired tablet),
    `per_address` for one client address. The loopback addresses 127.0.0.1 and ::1 are not
    capped per address: they are this machine itself (a screen on the server's Pi, or a reverse
    proxy, behind which every client would share one address); the per-user cap still holds."""

    @classmethod
    def from_config(cls, server: Any) -> StreamLimits:
        """The caps of `server` (a `queuebox.config.ServerConfig`)."""
        return cls(server.live_streams, server.streams_per_user, server.streams_per_address)

    def __init__(self, total: int, per_user: int, per_address: int) -> None:
        self.total, self.per_user, self.per_address = total, per_user, per_address
        self._lock = threading.Lock()
        self._holders: Counter[str] = Counter()
        self._addresses: Counter[str] = Counter()
        self._open = 0

    def open(self, holder: str, address: str) -> Callable[[], None] | None:
        """Count one stream of `holder` (e.g. ``user:3``, ``tablet:<hash>``) from `address`; returns
        the function that ends it (call once), or None when a cap is reached."""
        capped = not _is_loopback(address)
        with self._lock:
            if (self._open >= self.total or self._holders[holder] >= self.per_user
                    or (capped and self._addresses[address] >= self.per_address)):
                return None
            self._open += 1
            self._holders[holder] += 1
            if capped:
                self._addresses[address] += 1
        done = threading.Event()

        def close() -> None:
            with self._lock:
                if done.is_set():
                    return
                done.set()
                self._open -= 1
                _decrement(self._holders, holder)
                if capped:
                    _decrement(self._addresses, address)
        return close

    @property
    def open_streams(self) -> int:
        with self._lock:
            return self._open


def _decrement(counts: Counter[str], key: str) -> None:
    counts[key] -= 1
    if counts[key] <= 0:
        del counts[key]


LOOPBACK = frozenset({"127.0.0.1", "::1"})  # what this machine's browsers and a local proxy connect from


def _is_loopback(address: str) -> bool:
    return address in LOOPBACK


class SharedReads:
    """The engine as live views read it: `snapshots()` (the board and every counter's state, the
    costly read under the engine's lock) is taken once per commit for all open pages. Anything
    else is the engine's own."""

    def __init__(self, engine: Any, hub: Hub) -> None:
        self._engine, self._hub = engine, hub

    def snapshots(self) -> Any:
        return self._hub.shared("engine.snapshots", self._engine.snapshots)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)


def shared_reads(engine: Engine, hub: Hub) -> Engine:
    """`engine` for a live view's reads (`SharedReads`), typed as the engine it stands for."""
    return cast("Engine", SharedReads(engine, hub))


def live_response(view: Callable[[], Any], holder: str, shared: Any,
                  ended: Callable[[], bool] = lambda: False) -> Response:
    """The response of a live page's stream (call it in the view, with the request's context):
    `view()` as server-sent events while the caps allow, counted until waitress closes the
    response; past a cap a 429 with Retry-After, and nothing subscribed. `holder` names who
    holds it for the per-user cap (``user:<id>``, ``tablet:<hash>``); pages with the same
    `shared` key show the same view, rendered once per commit (see `Hub.shared`). The stream
    ends when `ended()` says so (a staff session ended meanwhile: `auth.session_ended`).

    The pages' scripts treat any refusal as "try again later", not at once (EventSource does
    not reconnect after a non-200 answer by itself)."""
    app = current_app
    environ = request.environ
    close = app.extensions["queuebox.streams"].open(holder, str(environ.get("REMOTE_ADDR") or ""))
    if close is None:
        message = _("Too many live pages are open. Close some tabs or windows, then reload this page.")
        return Response(message + "\n", status=429, mimetype="text/plain",
                        headers={"Retry-After": str(RETRY_AFTER_S), "Cache-Control": "no-store"})
    hub: Hub = app.extensions["queuebox.hub"]
    disconnected = environ.get("waitress.client_disconnected") or (lambda: False)
    events = stream(hub, lambda: hub.shared(shared, view), gone=lambda: disconnected() or ended())
    response = Response(events, mimetype="text/event-stream",
                        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    response.call_on_close(close)
    return response
