"""`queuebox server`: the composition root of the server process."""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Callable

from queuebox.bus import Connected, Message
from queuebox.config import Config
from server.engine import Engine
from server.mqtt import Committed, MqttBridge

logger = logging.getLogger(__name__)


def server_client_id(config: Config) -> str:
    """The server's fixed MQTT client id (its persistent session survives restarts): its account
    name, ``server``, because the broker binds each client id to the account of the same name
    (``use_username_as_clientid``). Before 2026-12 it was ``queuebox-server-<site id>``."""
    return "server"


class Probe:
    """An inbox item the bridge loop answers by setting `answered`: proof that it goes round."""

    def __init__(self) -> None:
        self.answered = threading.Event()


class WatchedBridge(MqttBridge):
    """The bridge, answering the watchdog's probes on its own loop."""

    def handle(self, item: Message | Connected | Committed | Probe) -> None:
        if isinstance(item, Probe):
            item.answered.set()
            return
        super().handle(item)


def health_check(loop: threading.Thread, inbox: queue.Queue[Any], engine: Engine,
                 timeout_s: float) -> Callable[[], bool]:
    """For the watchdog: True when the bridge `loop` answers a probe put on its `inbox` within
    `timeout_s` and the engine reads the database (a stuck command holds its lock: the check
    then hangs, which stops the pings just the same)."""
    def healthy() -> bool:
        if not loop.is_alive():
            return False
        probe = Probe()
        inbox.put(probe)
        if not probe.answered.wait(timeout_s):
            return False
        engine.snapshot()
        return True
    return healthy


def run_server(config: Config, db_path: str, listen: str, port: int, *, dev: bool = False,
               dev_tickets: str | None = None) -> None:
    """Open the engine on `db_path`, bridge it to MQTT, and serve the web app until Ctrl-C or
    SIGTERM. Under systemd (``Type=notify``) it says READY=1 once the web socket is bound and the
    bridge runs, then pings the watchdog while the bridge loop and the engine answer.

    `dev` (the demo only) adds the virtual kiosk page, which presses the simulated kiosk's
    buttons through this process's MQTT connection and shows the tickets saved in `dev_tickets`."""
    import signal

    from queuebox import notify
    from queuebox.bus import Bus
    from queuebox.protocol import Topics
    from server import httpd
    from server.web import create_app

    engine = Engine(config, db_path)
    topics = Topics(config.mqtt.root, config.site.id)
    bus = Bus(config.mqtt, topics, server_client_id(config), subscriptions=topics.server_subscriptions(),
              retained=False)
    bridge = WatchedBridge(engine, bus)
    stop = threading.Event()
    loop = threading.Thread(target=bridge.serve, args=(stop,), name="mqtt-bridge", daemon=True)
    # opens the new business day at midnight even if no command comes (board and states follow)
    days = threading.Thread(target=engine.watch_day, args=(stop,), name="day-watch", daemon=True)

    def press(topic: str, text: str) -> None:  # the virtual kiosk's; a press not taken within a minute is stale
        bus.publish(topic, text, expiry_s=60)
    app = create_app(engine, dev=dev, dev_publish=press, dev_tickets=dev_tickets)
    hub = app.extensions["queuebox.hub"]
    watchdog = notify.Watchdog()
    watchdog.healthy = health_check(loop, bus.inbox, engine, timeout_s=watchdog.every_s)

    def on_sigterm(signum: int, frame: Any) -> None:
        hub.close()  # ends the live pages' streams, so the web threads can finish
        raise SystemExit(0)  # waitress's loop stops on it as on Ctrl-C

    logger.info("queuebox server for %s: database %s, MQTT %s:%d, web on http://%s:%d/", config.site.name, db_path,
                config.mqtt.host, config.mqtt.port, listen, port)
    files = httpd.raise_open_files_limit()
    if files < httpd.descriptors_needed(config.server):
        logger.warning("only %d open files allowed: lower server.connection_limit or raise LimitNOFILE", files)
    bus.start()
    loop.start()
    days.start()
    previous = signal.getsignal(signal.SIGTERM)
    public: httpd.Listener | None = None
    try:
        server = httpd.staff_listener(app, config.server, listen, port)
        if config.server.public_listen:
            public = httpd.public_listener(app, config.server)
            threading.Thread(target=public.run, name="web-public", daemon=True).start()
            logger.info("public pages also on http://%s:%d/", config.server.public_listen, public.port)
        watchdog.start()
        notify.ready(f"web on http://{listen}:{port}/, database {db_path}")
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, on_sigterm)
        server.run()
    finally:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, previous)
        notify.stopping()
        watchdog.stop()
        hub.close()
        if public is not None:
            public.close()
        stop.set()
        loop.join(timeout=5)
        days.join(timeout=5)
        bus.stop()
        engine.close()
