"""`queuebox server`: the composition root of the server process."""

from __future__ import annotations

import logging

from queuebox.config import Config

logger = logging.getLogger(__name__)


def run_server(config: Config, db_path: str, listen: str, port: int) -> None:
    """Open the engine on `db_path` and serve the web app until interrupted."""
    import waitress

    from server.engine import Engine
    from server.web import create_app

    engine = Engine(config, db_path)
    app = create_app(engine)
    logger.info("queuebox server for %s: database %s, web on http://%s:%d/", config.site.name, db_path, listen, port)
    try:
        waitress.serve(app, host=listen, port=port, threads=4, ident="queuebox")
    finally:
        engine.close()
