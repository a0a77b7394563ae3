"""The kiosk's watchdog check: `KioskApp.alive` is true while the kiosk loop goes round."""

from __future__ import annotations

import threading
import time

from device.main import KioskApp
from device.printer import EscposPrinter
from escpos.printer import Dummy
from queuebox.bus import Message
from queuebox.protocol import Topics
from tests.device.fakes import FakeBus
from tests.factories import make_config

CONFIG = make_config(kiosk={"id": "k1", "buttons": {"A": 5}, "priority_button": 0})
WAIT_S = 10


class Bus(FakeBus):
    """FakeBus that `KioskApp` can start and stop."""

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


def wait_for(condition, timeout: float = WAIT_S) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)  # polling another thread's progress
    return True


def test_alive_while_the_loop_turns_not_while_it_is_stuck_nor_after_it_stopped(mock_factory, dejavu):
    release = threading.Event()
    entered = threading.Event()

    def on_message(message: Message) -> bool:  # a handler that hangs, like a write to a jammed printer
        entered.set()
        release.wait(WAIT_S)
        return True

    app = KioskApp(CONFIG, pin_factory=mock_factory, printer=EscposPrinter(Dummy(), 576), fonts=dejavu,
                   bus=Bus(Topics("t", "test"), "kiosk-k1"), on_message=on_message)
    try:
        app.start()
        assert app.alive(stuck_after_s=1.0)
        app.bus.inbox.put(Message("t/test/kiosk/k1/simulate", b"a"))
        assert entered.wait(WAIT_S)
        assert wait_for(lambda: not app.alive(stuck_after_s=0.3))
        release.set()
        assert wait_for(lambda: app.alive(stuck_after_s=0.3))
    finally:
        release.set()
        app.stop()
    assert not app.alive()
