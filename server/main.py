"""`queuebox server`: the composition root of the server process."""

from __future__ import annotations

import logging
import threading

from queuebox.config import Config

logger = logging.getLogger(__name__)


def server_client_id(config: Config) -> str:
    """The server's fixed MQTT client id (its persistent session survives restarts)."""
    return f"queuebox-server-{config.site.id}"


def run_server(config: Config, db_path: str, listen: str, port: int) -> None:
    """Open the engine on `db_path`, bridge it to MQTT, and serve the web app until interrupted."""
    import waitress

    from queuebox.bus import Bus
    from queuebox.protocol import Topics
    from server.engine import Engine
    from server.mqtt import MqttBridge
    from server.web import create_app

    engine = Engine(config, db_path)
    topics = Topics(config.mqtt.root, config.site.id)
    bus = Bus(config.mqtt, topics, server_client_id(config), subscriptions=topics.server_subscriptions())
    bridge = MqttBridge(engine, bus)
    stop = threading.Event()
    loop = threading.Thread(target=bridge.serve, args=(stop,), name="mqtt-bridge", daemon=True)
    app = create_app(engine)
    logger.info("queuebox server for %s: database %s, MQTT %s:%d, web on http://%s:%d/", config.site.name, db_path,
                config.mqtt.host, config.mqtt.port, listen, port)
    bus.start()
    loop.start()
    try:
        waitress.serve(app, host=listen, port=port, threads=config.server.threads, ident="queuebox")
    finally:
        app.extensions["queuebox.hub"].close()
        stop.set()
        loop.join(timeout=5)
        bus.stop()
        engine.close()
