"""Small real test doubles for the kiosk: a bus that records, a clock moved by hand, and
escpos Dummy printers that answer status queries or fail to write."""

from __future__ import annotations

import queue
import threading
from typing import Any

from escpos.printer import Dummy
from queuebox.protocol import Topics


class FakeBus:
    """The part of `queuebox.bus.Bus` the kiosk uses; `published` records (topic, payload, retain)."""

    def __init__(self, topics: Topics, client_id: str) -> None:
        self.topics = topics
        self.client_id = client_id
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.connected = threading.Event()
        self.connected.set()
        self.published: list[tuple[str, Any, bool]] = []

    def publish(self, topic: str, message: Any, *, retain: bool = False, qos: int = 1,
                expiry_s: float | None = None) -> None:
        self.published.append((topic, message, retain))


class FakeMonotonic:
    """A monotonic clock the test moves by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


class AnsweringDummy(Dummy):
    """A Dummy that answers ``DLE EOT`` status queries like a printer: `answers` maps the
    query to the reply bytes, or to an exception raised while reading. Change it any time."""

    def __init__(self, answers: dict[bytes, bytes | BaseException]) -> None:
        super().__init__()
        self.answers = answers
        self.last = b""

    def _raw(self, msg: bytes) -> None:
        self.last = msg
        super()._raw(msg)

    def _read(self) -> bytes:
        answer = self.answers[self.last]
        if isinstance(answer, BaseException):
            raise answer
        return answer


class BrokenDummy(Dummy):
    """A printer whose ticket writes fail while `error` is set (a USB write timing out on a
    jammed printer); with `jobs_only` false every write fails, status queries too."""

    def __init__(self, error: BaseException | None, *, jobs_only: bool = True) -> None:
        super().__init__()
        self.error = error
        self.jobs_only = jobs_only

    def _raw(self, msg: bytes) -> None:
        if self.error is not None and (msg.startswith(b"\x1b@") or not self.jobs_only):
            raise self.error
        super()._raw(msg)
