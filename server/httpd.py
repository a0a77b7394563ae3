"""The web server of `queuebox server`: waitress, made to hold up in a public hall.

What plain waitress does not do, and why we add it:

- **A deadline for each request.** waitress's `channel_timeout` measures inactivity, so a
  client that sends one header line every few seconds (slowloris) keeps its connection
  forever. Here a connection that has not finished sending a request (headers and body)
  `request_timeout_s` after it began is closed, whatever it trickles; so is a connection that
  sent nothing at all for that long.
- **Shedding instead of refusing at the connection limit.** Past `connection_limit` waitress
  stops accepting, so 100 idle sockets lock everybody out. Here the listener keeps accepting
  and closes the oldest connections that have no request being served (those that never
  completed a request first), so a flood of idle sockets costs only its own members.
- **Live streams on threads of their own.** A server-sent event stream holds its thread for
  minutes; on the request workers a few dozen of them would starve `/login` and `/healthz`.
  `LiveDispatcher` gives streams (paths `server.web.live.is_stream_path`) a pool of their own,
  `live_streams` plus a few spare threads that answer the excess with 429 at once.
- **Bounded requests.** Bodies over `MAX_BODY` are refused (413) from their Content-Length,
  before they are read; headers over `MAX_HEADER` likewise (431). The one exception is a file
  upload on the staff listener (`server.web.surfaces.UPLOAD_PATHS`: the procedure catalogue),
  whose body may reach `MAX_UPLOAD_BODY`.
- **Enough descriptors.** The soft RLIMIT_NOFILE (often 1,024) is raised to the hard limit.

`serve()` builds the staff listener (everything) and, when `server.public_listen` is set, a
public listener with its own workers and connection budget that serves only the public
pages (`server.web.surfaces`).
"""

from __future__ import annotations

import copy
import heapq
import logging
import resource
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher

from queuebox.config import ServerConfig
from server.web.live import is_stream_path
from server.web.surfaces import MAX_UPLOAD_BODY, UPLOAD_PATHS

logger = logging.getLogger(__name__)

MAX_BODY = 64 * 1024  # bytes; forms and API commands are tiny (the app refuses the same, see server.web)
MAX_HEADER = 16 * 1024  # bytes of request line + headers; a browser's are ~1-2 KiB
IDLE_TIMEOUT_S = 60  # a kept-alive connection with no request in progress is closed after this much silence
SPARE_STREAM_THREADS = 8  # threads of the stream pool beyond live_streams: they answer the excess (429) at once
PUBLIC_THREADS = 8  # request workers of the public listener (a status page costs a few ms)
SHED_BATCH = 16  # connections closed at once when the limit is reached, so we do not sort on every accept
SHED_LOG_EVERY_S = 60.0
OUTBUF_BYTES = 64 * 1024


def raise_open_files_limit() -> int:
    """Raise this process's soft limit of open files to its hard limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:  # a container may refuse; we run with what we have
            logger.warning("could not raise the open files limit from %d: %s", soft, exc)
    return soft


class HallParser(HTTPRequestParser):
    """waitress's request parser, letting a file upload (`UPLOAD_PATHS`) send a larger body where the
    listener allows uploads (`adj.may_upload`, the staff listener's) and only from a signed-in
    session: a phone that never signed in cannot make the server buffer megabytes on its disk."""

    def parse_header(self, header_plus: bytes) -> None:
        super().parse_header(header_plus)
        may_upload = getattr(self.adj, "may_upload", None)
        if (may_upload is not None and self.command == "POST" and self.path in UPLOAD_PATHS
                and may_upload(self.headers.get("COOKIE", ""))):
            self.adj = copy.copy(self.adj)
            self.adj.max_request_body_size = MAX_UPLOAD_BODY + 1


class HallChannel(HTTPChannel):
    """waitress's connection, remembering when its current request began and whether it ever
    completed one (for the request deadline and for choosing whom to shed)."""

    parser_class = HallParser

    def __init__(self, server: Any, sock: Any, addr: Any, adj: Any, map: Any = None) -> None:
        super().__init__(server, sock, addr, adj, map=map)
        self.since = self.creation_time  # when the request being received began (or the connection opened)
        self.served = False  # whether a whole request ever arrived on this connection

    def received(self, data: bytes) -> bool:
        if self.request is None and data:
            self.since = time.time()  # these bytes begin a new request
        done = super().received(data)
        if self.requests:
            self.served = True
        return bool(done)

    def receiving(self) -> bool:
        """Whether the client owes us (the rest of) a request: a partial one, or none yet on a fresh connection."""
        return not self.requests and (self.request is not None or not self.served)


class HallServer(TcpWSGIServer):
    """One listening socket with the request deadline and shedding described in the module doc.
    `adj.request_timeout_s` and `adj.hall_limit` are ours (set by `make_server`)."""

    channel_class = HallChannel
    request_timeout_s: float = 10.0
    hall_limit: int = 2000
    _last_shed_log = 0.0

    def maintenance(self, now: float) -> None:
        super().maintenance(now)  # waitress's inactivity timeout (channel_timeout)
        cutoff = now - self.request_timeout_s
        for channel in list(self.active_channels.values()):
            if not channel.will_close and isinstance(channel, HallChannel) and channel.receiving() \
                    and channel.since < cutoff:
                channel.will_close = True  # the loop closes it on its next pass

    def readable(self) -> bool:
        now = time.time()
        if now >= self.next_channel_cleanup:
            self.next_channel_cleanup = now + self.adj.cleanup_interval
            self.maintenance(now)
        if not self.accepting:
            return False
        if len(self.active_channels) < self.hall_limit:
            return True
        return self._shed(now)

    def _shed(self, now: float) -> bool:
        """At the limit: close the oldest idle connections; False (stop accepting) if all are busy."""
        open_channels = [c for c in self.active_channels.values() if not c.will_close]
        excess = len(open_channels) - self.hall_limit + 1
        if excess <= 0:
            return True
        idle = [c for c in open_channels if isinstance(c, HallChannel) and not c.requests]
        victims = heapq.nsmallest(excess + SHED_BATCH, idle, key=lambda c: (c.served, c.since))
        for channel in victims:
            channel.will_close = True
        if now - self._last_shed_log >= SHED_LOG_EVERY_S:
            self._last_shed_log = now
            logger.warning("web: %d connections open, the limit; closing the oldest idle ones", len(open_channels))
        return len(victims) >= excess


class LiveDispatcher(ThreadedTaskDispatcher):
    """waitress's worker pool for ordinary requests, plus a pool of its own for live streams
    that starts its threads as streams come (up to `stream_threads`), so an appliance with few
    live pages does not pay the memory of many idle threads."""

    def __init__(self, threads: int, stream_threads: int) -> None:
        super().__init__()
        self.streams = _GrowingDispatcher("live", stream_threads)
        self.set_thread_count(threads)

    def add_task(self, task: Any) -> None:
        requests = getattr(task, "requests", None)  # the task is a channel with its parsed requests
        if requests and not requests[0].error and is_stream_path(requests[0].path):
            self.streams.add_task(task)
        else:
            super().add_task(task)

    def shutdown(self, cancel_pending: bool = True, timeout: float = 5) -> bool:
        streams = self.streams.shutdown(cancel_pending, timeout)
        return super().shutdown(cancel_pending, timeout) and streams


class _GrowingDispatcher(ThreadedTaskDispatcher):
    """A pool that starts a thread when a task finds none idle, up to `most` (they then stay)."""

    def __init__(self, name: str, most: int) -> None:
        super().__init__()
        self.name, self.most = name, most

    def add_task(self, task: Any) -> None:
        with self.lock:
            running = len(self.threads) - self.stop_count
            idle = running - self.active_count - len(self.queue)
        if idle <= 0 and running < self.most:
            self.set_thread_count(running + 1)
        elif idle <= 0:
            logger.warning("web: all %d live-stream threads are busy; a request waits", running)
        with self.lock:  # waitress's add_task, without its warning about a thread that is only starting
            self.queue.append(task)
            self.queue_cv.notify()

    def shutdown(self, cancel_pending: bool = True, timeout: float = 5) -> bool:
        self.most = 0  # no new threads while stopping
        return bool(super().shutdown(cancel_pending, timeout))

    def start_new_thread(self, target: Any, thread_no: int) -> None:
        threading.Thread(target=target, name=f"{self.name}-{thread_no}", args=(thread_no,), daemon=True).start()


@dataclass
class Listener:
    """One waitress listener and the socket map its loop runs over."""

    server: HallServer
    socket_map: dict[int, Any]
    dispatcher: ThreadedTaskDispatcher

    @property
    def port(self) -> int:
        return int(self.server.effective_port)

    def run(self) -> None:
        """Serve until `close()` (or SystemExit / KeyboardInterrupt in this thread)."""
        try:
            wasyncore.loop(timeout=self.server.adj.asyncore_loop_timeout, map=self.socket_map, use_poll=True)
        except (SystemExit, KeyboardInterrupt):
            pass
        finally:
            self.dispatcher.shutdown()

    def close(self) -> None:
        """Stop accepting and close every connection; the loop then ends."""
        wasyncore.close_all(self.socket_map)


def make_listener(app: Callable[..., Any], host: str, port: int, *, threads: int, stream_threads: int,
                  connection_limit: int, request_timeout_s: float,
                  may_upload: Callable[[str], bool] | None = None) -> Listener:
    """A bound, accepting listener for `app` on `host`:`port` (0: a free port). `stream_threads`
    0 means no stream pool: every request goes to the `threads` workers. `may_upload(cookie)`:
    whether a request to one of the `UPLOAD_PATHS` with this Cookie header may send a body up
    to MAX_UPLOAD_BODY (None: never)."""
    adj = Adjustments(host=host, port=port, threads=threads, ident="queuebox", asyncore_use_poll=True,
                      connection_limit=connection_limit, channel_timeout=IDLE_TIMEOUT_S, cleanup_interval=1,
                      # waitress refuses a body of `>=` its size, Flask one of `>` MAX_CONTENT_LENGTH: +1 agrees
                      max_request_body_size=MAX_BODY + 1, max_request_header_size=MAX_HEADER,
                      # one request read ahead keeps a streaming connection readable, so its close is
                      # seen at once (environ["waitress.client_disconnected"]) rather than at the next write
                      channel_request_lookahead=1,
                      # a connection's output buffer is replaced after this many bytes: waitress keeps what
                      # it has sent in the buffer until then (16 MB by default), which a live page would fill
                      outbuf_high_watermark=OUTBUF_BYTES)
    adj.may_upload = may_upload  # read by HallParser
    dispatcher: ThreadedTaskDispatcher
    if stream_threads:
        dispatcher = LiveDispatcher(threads, stream_threads)
    else:
        dispatcher = ThreadedTaskDispatcher()
        dispatcher.set_thread_count(threads)
    socket_map: dict[int, Any] = {}
    server = HallServer(app, map=socket_map, dispatcher=dispatcher, adj=adj, sockinfo=adj.listen[0])
    server.request_timeout_s = request_timeout_s
    server.hall_limit = connection_limit
    return Listener(server, socket_map, dispatcher)


def staff_listener(app: Any, config: ServerConfig, host: str, port: int) -> Listener:
    """The listener serving the whole (Flask) app, live streams on their own pool, file uploads
    from signed-in sessions."""
    from server.web.auth import signed_in_cookie
    return make_listener(app, host, port, threads=config.threads,
                         stream_threads=config.live_streams + SPARE_STREAM_THREADS,
                         connection_limit=config.connection_limit, request_timeout_s=config.request_timeout_s,
                         may_upload=lambda cookie: signed_in_cookie(app, cookie))


def public_listener(app: Callable[..., Any], config: ServerConfig, port: int | None = None) -> Listener:
    """The listener of `server.public_listen`: only the public pages, its own workers and budget."""
    from server.web.surfaces import public_only
    return make_listener(public_only(app), config.public_listen, config.public_port if port is None else port,
                         threads=PUBLIC_THREADS, stream_threads=0, connection_limit=config.connection_limit,
                         request_timeout_s=config.request_timeout_s)


def descriptors_needed(config: ServerConfig) -> int:
    """Open files the web may need at its limits (both listeners), plus room for the rest of the process."""
    listeners = 2 if config.public_listen else 1
    return listeners * (config.connection_limit + SHED_BATCH) + 256
