"""Logging in and out, and who may see what.

Flask-Login keeps the session (a signed cookie, HttpOnly, SameSite=Lax, Secure when
`server.secure_cookies`); Flask-WTF protects every form and POST against cross-site
requests; passwords and lock-out live in `server.users`, the per-address throttle in
`server.login_guard` (one per app, `app.extensions["queuebox.login_guard"]`).

A session holds ``login:session_gen`` (Flask-Login's alternative-token pattern) and the time
of the login. Every request reloads the account and refuses the session when the account is
gone or disabled, when its `session_gen` changed (logout, a new password, a new role: every
device is logged out) or when the login is older than `server.session_hours`.
"""

from __future__ import annotations

import time
from datetime import timedelta
from functools import wraps
from typing import Any, Callable
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, redirect, render_template, request, session, url_for
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired

from queuebox.clock import parse_iso
from server import store, users
from server.login_guard import LoginGuard
from server.web.common import db, get_engine
from server.web.i18n import _

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.session_protection = "basic"
LOGIN_AT = "qb_login_at"  # session key: when this session logged in (ISO, the engine's clock)


@bp.record_once
def _make_guard(state: Any) -> None:
    server = state.app.extensions["queuebox.engine"].config.server
    state.app.extensions["queuebox.login_guard"] = LoginGuard(server.login_attempts, server.address_attempts,
                                                              timedelta(minutes=server.lockout_min))


def login_guard() -> LoginGuard:
    """This app's throttle of login guesses."""
    return current_app.extensions["queuebox.login_guard"]  # type: ignore[no-any-return]


class WebUser(UserMixin):
    """The logged-in account, as Flask-Login wants it."""

    def __init__(self, user: users.User) -> None:
        self.user = user
        self.login = user.login
        self.role = user.role
        self.counters = user.counters

    def get_id(self) -> str:
        return f"{self.user.login}:{self.user.session_gen}"

    def may_use_counter(self, counter_id: str) -> bool:
        return self.user.may_use_counter(counter_id)

    @property
    def is_manager(self) -> bool:
        return self.user.is_manager


@login_manager.user_loader
def _load(user_id: str) -> WebUser | None:
    """The session's account, or None (logged out) when the session no longer holds."""
    login, sep, gen = user_id.partition(":")
    user = users.get(db(), login)
    if not sep or user is None or not user.active or not gen or gen != user.session_gen:
        return None
    engine = get_engine()
    try:
        since = parse_iso(session.get(LOGIN_AT, ""))
    except (TypeError, ValueError):
        return None
    if engine.now() - since >= timedelta(hours=engine.config.server.session_hours):
        return None
    return WebUser(user)


def session_ended(every_s: float = 5.0) -> Callable[[], bool]:
    """For a live stream, which runs on after its request: a function telling whether the current
    user's session has since ended (logout, a new password or role, the account disabled or
    gone), looked up at most every `every_s` seconds."""
    login, _sep, gen = current_user.get_id().partition(":")
    db_path = get_engine().db_path
    state = {"ended": False, "next": time.monotonic() + every_s}

    def ended() -> bool:
        if state["ended"] or time.monotonic() < state["next"]:
            return bool(state["ended"])
        state["next"] = time.monotonic() + every_s
        conn = store.open_database(db_path)  # on the stream's own thread
        try:
            user = users.get(conn, login)
        finally:
            conn.close()
        state["ended"] = user is None or not user.active or user.session_gen != gen
        return bool(state["ended"])
    return ended


@login_manager.unauthorized_handler
def _unauthorized() -> Any:
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def role_required(*roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Only logged-in users with one of `roles`; others get 403 (or the login page)."""
    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        @login_required
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)
        return guarded
    return decorate


def require_counter(counter_id: str) -> None:
    """404 for a counter that does not exist, 403 for one this user may not use."""
    if get_engine().config.counter(counter_id) is None:
        abort(404)
    if not current_user.may_use_counter(counter_id):
        abort(403)


def home_for(user: WebUser) -> str:
    if user.role == "clerk":
        return url_for("counter.console", counter_id=user.counters[0]) if user.counters else url_for("auth.login")
    return url_for("admin.overview")


def safe_next(target: str | None) -> str | None:
    """Only a path on this site (no scheme, no host): never an open redirect."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


class LoginForm(FlaskForm):
    login = StringField("login", validators=[DataRequired()])
    password = PasswordField("password", validators=[DataRequired()])


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        engine = get_engine()
        server = engine.config.server
        result = users.authenticate(db(), form.login.data.strip().lower(), form.password.data, engine.now(),
                                    address=request.remote_addr or "", guard=login_guard(),
                                    account_attempts=server.account_attempts,
                                    lockout=timedelta(minutes=server.lockout_min))
        if result.user is not None:
            session[LOGIN_AT] = engine.now().isoformat()
            login_user(WebUser(result.user))
            return redirect(safe_next(request.args.get("next")) or home_for(current_user))
        until = result.locked_until.astimezone(engine.config.zone).strftime("%H:%M") if result.locked_until else ""
        if result.by == "account":
            error = _("Too many failed logins: this account is locked until %(time)s.", time=until)
        elif result.by == "device":
            error = _("Too many failed logins from this device: it may try again at %(time)s.", time=until)
        else:
            error = _("Wrong login or password.")
    status = 401 if error else 200
    return render_template("login.html", form=form, error=error), status


@bp.post("/logout")
def logout() -> Any:
    """Log out this account everywhere: every session it has, on every device, ends."""
    if current_user.is_authenticated:
        users.end_sessions(db(), current_user.login)
    logout_user()
    return redirect(url_for("auth.login"))


@bp.get("/")
def index() -> Any:
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return redirect(home_for(current_user))


def signed_in_cookie(app: Any, cookie_header: str) -> bool:
    """Whether a request's Cookie header carries a session of a signed-in user, validly signed and
    not expired: checked before a large upload's body is read (server.httpd), so nobody who never
    signed in can make the server take megabytes. The request itself still checks the account."""
    from werkzeug.http import parse_cookie
    value = parse_cookie(cookie_header).get(app.config["SESSION_COOKIE_NAME"])
    serializer = app.session_interface.get_signing_serializer(app)
    if not value or serializer is None:
        return False
    try:
        data = serializer.loads(value, max_age=int(app.permanent_session_lifetime.total_seconds()))
    except Exception:  # noqa: BLE001 - any bad signature, age or payload: not signed in
        return False
    return isinstance(data, dict) and "_user_id" in data
