"""The web application (Flask app factory), served by waitress inside `queuebox server`.

It never writes queue state itself: counter buttons, the API and the administration all go
through the engine, the single writer. Pages are server-rendered; the little JavaScript
there is (live updates, shortcuts) is shipped in `static/`, nothing comes from the internet.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

from flask import Flask, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect

from server import rules
from server.engine import Engine
from server.web import i18n, surfaces
from server.web.common import close_db, json_error
from server.web.i18n import N_, _
from server.web.live import Hub, StreamLimits

MAX_BODY = 64 * 1024  # bytes; forms and API commands are tiny
csrf = CSRFProtect()

# Content-Security-Policy: scripts and styles only from this server (no inline script).
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")


def create_app(engine: Engine, *, hub: Hub | None = None, secret_key: str | None = None,
               dev: bool = False, dev_publish: Callable[[str, str], None] | None = None,
               dev_tickets: str | Path | None = None) -> Flask:
    """The Flask app serving `engine`. `secret_key` signs sessions (default: the one in the file
    `server.secret_key_file`, made if missing, so logins survive restarts); `dev` adds the
    demo's virtual-kiosk page, which presses buttons with `dev_publish(topic, text)` (MQTT)
    and shows the ticket pictures in `dev_tickets` (see `server.web.devkiosk`)."""
    app = Flask(__name__)
    config = engine.config
    app.config.update(
        SECRET_KEY=secret_key or _stored_secret(engine),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=config.server.session_hours),  # the cookie signature's age limit
        MAX_CONTENT_LENGTH=MAX_BODY,
        SESSION_COOKIE_NAME="queuebox_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.server.secure_cookies,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SECURE=config.server.secure_cookies,
        WTF_CSRF_TIME_LIMIT=None,  # a counter console stays open all day; the token is bound to the session
        QUEUEBOX_DEV=dev,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    hub = hub or Hub()
    engine.add_listener(hub.publish)
    app.extensions["queuebox.engine"] = engine
    app.extensions["queuebox.hub"] = hub
    app.extensions["queuebox.streams"] = StreamLimits.from_config(config.server)  # caps on open live pages
    app.teardown_appcontext(close_db)

    @app.before_request
    def allow_uploads() -> None:  # before the CSRF check, which reads the form
        if request.method == "POST" and request.path in surfaces.UPLOAD_PATHS:
            request.max_content_length = surfaces.MAX_UPLOAD_BODY
    csrf.init_app(app)
    i18n.init_app(app, config.site.languages)
    surfaces.init_app(app)  # the public listener serves only the public pages

    from server.web import admin, api, auth, counter, counter_display, procedures, public, reports
    auth.login_manager.init_app(app)
    for module in (auth, counter, counter_display, admin, public, procedures, api, reports):
        app.register_blueprint(module.bp)
    app.register_blueprint(admin.admin_voice.voice_files)  # what the displays download
    csrf.exempt(api.bp)  # the API authenticates each request with a token, not a cookie
    from server.web import procedures_json
    app.register_blueprint(procedures_json.bp)
    if dev:
        from server.web import devkiosk
        devkiosk.init_app(app, publish=dev_publish, tickets=dev_tickets)

    @app.context_processor
    def site() -> dict[str, Any]:
        return {"site": engine.config.site, "dev": dev}

    @app.after_request
    def security_headers(response: Any) -> Any:
        response.headers.setdefault("Content-Security-Policy", _CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")  # status URLs carry their token
        return response

    @app.errorhandler(CSRFError)
    def csrf_failed(exc: CSRFError) -> Any:
        if request.path.startswith("/api/"):
            return json_error(400, "bad_request", exc.description)
        return _error_page(400, _("This form has expired or did not come from this page. Reload the page and try again.")), 400

    for status, message in ((400, N_("The request could not be read.")),
                            (403, N_("You are not allowed to open this page.")),
                            (404, N_("This page does not exist.")),
                            (405, N_("This action is not allowed here.")),
                            (413, N_("The request is too large."))):
        app.register_error_handler(status, _error_handler(status, message))

    @app.get("/healthz")
    def health() -> Any:
        state = engine.snapshot()
        return jsonify({
            "ok": True,
            "site": engine.config.site.id,
            "day": state.day.isoformat() if state.day.year > 1 else None,
            "waiting": rules.waiting_counts(state),
            "counters": {cid: c.state for cid, c in state.counters.items()},
        })

    return app


def _error_page(status: int, message: str) -> str:
    return render_template("error.html", status=status, message=message)


def _error_handler(status: int, message: str) -> Any:
    codes = {400: "bad_request", 403: "forbidden", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}

    def handle(exc: Exception) -> Any:
        if request.path.startswith("/api/"):
            response = json_error(status, codes[status], message)
        else:
            response = make_response(_error_page(status, _(message)), status)
        if status == 405 and getattr(exc, "valid_methods", None):  # RFC 9110: a 405 says what is allowed
            response.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
        return response
    return handle


def _stored_secret(engine: Engine) -> str:
    """The session signing key, from its 0600 file (`server.secret_key_file`, made if missing)."""
    from server.secret_key import key_path, read_or_make_key
    return read_or_make_key(key_path(engine.config, engine.db_path))
