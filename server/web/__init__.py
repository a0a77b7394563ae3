"""The web application (Flask app factory). For now: the health endpoint a supervisor polls."""

from __future__ import annotations

from flask import Flask, jsonify

from server import rules
from server.engine import Engine


def create_app(engine: Engine) -> Flask:
    """The Flask app serving `engine`; it never writes except through the engine."""
    app = Flask(__name__)
    app.config["JSON_AS_ASCII"] = False
    app.json.ensure_ascii = False  # type: ignore[attr-defined]

    @app.get("/healthz")
    def health():  # type: ignore[no-untyped-def]
        state = engine.snapshot()
        return jsonify({
            "ok": True,
            "site": engine.config.site.id,
            "day": state.day.isoformat() if state.day.year > 1 else None,
            "waiting": rules.waiting_counts(state),
            "counters": {cid: c.state for cid, c in state.counters.items()},
        })

    return app
