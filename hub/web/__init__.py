"""The province dashboard (`queuebox hub-web`): a Flask app of its own over the hub's
PostgreSQL, served by the centre's hardened waitress listener (server/httpd.py).

It only reads what `queuebox hub` stores, except the login counts of its accounts. The
security is the centre web's: the same Content-Security-Policy and headers, CSRF on every
form, session cookies HttpOnly and SameSite, login throttling (hub/web/auth.py). Pages are
server-rendered; the overview refreshes its rows with a short poll (static/hub.js). The
centre web's stylesheets are served as they are, under /style/.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

from flask import Blueprint, Flask, jsonify, make_response, render_template
from flask_wtf.csrf import CSRFError, CSRFProtect

from hub.web import auth, i18n
from hub.report_cache import ReportCache
from hub.web.common import Settings, close_conn, conn, utc_now
from hub.web.i18n import N_, _
from queuebox.config import Config
from server.web import _CSP as CENTRE_CSP
from server.web import MAX_BODY

CENTRE_STATIC = Path(__file__).resolve().parents[2] / "server" / "web" / "static"


def create_app(dsn: str, config: Config, *, secret_key: str, now: Callable[..., Any] | None = None,
               reports: ReportCache | None = None) -> Flask:
    """The dashboard over the hub database `dsn`; `secret_key` signs its sessions; `reports`:
    the closed months' reports, shared with whoever makes them ahead (hub/web_main.py)."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=secret_key,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=config.server.session_hours),
        MAX_CONTENT_LENGTH=MAX_BODY,
        SESSION_COOKIE_NAME="queuebox_hub_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.server.secure_cookies,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SECURE=config.server.secure_cookies,
        WTF_CSRF_TIME_LIMIT=None,  # the token is bound to the session
    )
    app.extensions["queuebox.hub_web"] = Settings(dsn, config, now or utc_now, reports or ReportCache())
    app.teardown_appcontext(close_conn)
    CSRFProtect(app)
    i18n.init_app(app, config.site.languages)
    auth.init_app(app)
    app.register_blueprint(Blueprint("centre_style", __name__, static_folder=str(CENTRE_STATIC),
                                     static_url_path="/style"))
    from hub.web import pages, reports
    app.register_blueprint(pages.bp)
    app.register_blueprint(reports.bp)

    @app.after_request
    def security_headers(response: Any) -> Any:
        response.headers.setdefault("Content-Security-Policy", CENTRE_CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    @app.errorhandler(CSRFError)
    def csrf_failed(exc: CSRFError) -> Any:
        message = _("This form has expired or did not come from this page. Reload the page and try again.")
        return render_template("error.html", status=400, message=message), 400

    for status, message in ((400, N_("The request could not be read.")),
                            (403, N_("You are not allowed to open this page.")),
                            (404, N_("This page does not exist.")),
                            (405, N_("This action is not allowed here.")),
                            (413, N_("The request is too large."))):
        app.register_error_handler(status, _error_handler(status, message))

    @app.get("/healthz")
    def health() -> Any:
        count = conn().execute("SELECT count(*) FROM centres").fetchone()
        return jsonify({"ok": True, "centres": count[0] if count else 0})

    return app


def _error_handler(status: int, message: str) -> Any:
    def handle(exc: Exception) -> Any:
        response = make_response(render_template("error.html", status=status, message=_(message)), status)
        if status == 405 and getattr(exc, "valid_methods", None):
            response.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
        return response
    return handle


