"""Live updates for the web pages: server-sent events fed by the engine's commits.

The engine calls `Hub.publish` after each commit (from whichever thread committed). Each
open page has a subscription: a small queue that only says "something changed, newest seq
is N". The page's stream then renders its own view once, however many commits came in
between, so a slow tablet never makes the engine wait and never gets a backlog.

A stream ends after `max_s` seconds (the browser's EventSource reconnects by itself) so a
page left open does not hold a web worker thread forever, and it sends a comment every
`heartbeat_s` so proxies and dead connections are noticed.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from typing import Any, Callable, Iterator

from server.store import EventRecord


class Hub:
    """Fans out 'the database changed' to every open page; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: set[queue.Queue[int]] = set()
        self.closed = threading.Event()

    def publish(self, records: tuple[EventRecord, ...]) -> None:
        seq = records[-1].seq if records else 0
        with self._lock:
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


def stream(hub: Hub, view: Callable[[], Any], *, max_s: float = 300.0, heartbeat_s: float = 15.0,
           retry_ms: int = 2000) -> Iterator[str]:
    """The event stream of one page: its `view()` now, then again after every change."""
    q = hub.subscribe()
    try:
        yield f"retry: {retry_ms}\n\n"
        yield sse(view())
        deadline = time.monotonic() + max_s
        while not hub.closed.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                q.get(timeout=min(heartbeat_s, left))
            except queue.Empty:
                yield ": keep-alive\n\n"
                continue
            if hub.closed.is_set():
                return
            yield sse(view())
    finally:
        hub.unsubscribe(q)
