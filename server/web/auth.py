"""Logging in and out, and who may see what.

Flask-Login keeps the session (a signed cookie, HttpOnly, SameSite=Lax, Secure when
`server.secure_cookies`); Flask-WTF protects every form and POST against cross-site
requests; passwords and lock-out live in `server.users`.
"""

from __future__ import annotations

from datetime import timedelta
from functools import wraps
from typing import Any, Callable
from urllib.parse import urlsplit

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired

from server import users
from server.web.common import db, get_engine
from server.web.i18n import _

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.session_protection = "basic"


class WebUser(UserMixin):
    """The logged-in account, as Flask-Login wants it."""

    def __init__(self, user: users.User) -> None:
        self.user = user
        self.login = user.login
        self.role = user.role
        self.counters = user.counters

    def get_id(self) -> str:
        return self.user.login

    def may_use_counter(self, counter_id: str) -> bool:
        return self.user.may_use_counter(counter_id)

    @property
    def is_manager(self) -> bool:
        return self.user.is_manager


@login_manager.user_loader
def _load(login: str) -> WebUser | None:
    user = users.get(db(), login)
    return WebUser(user) if user and user.active else None


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


def _safe_next(target: str | None) -> str | None:
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
                                    server.login_attempts, timedelta(minutes=server.lockout_min))
        if result.user is not None:
            login_user(WebUser(result.user))
            return redirect(_safe_next(request.args.get("next")) or home_for(current_user))
        if result.locked_until is not None:
            error = _("Too many failed logins: this account is locked until %(time)s.",
                      time=result.locked_until.astimezone(engine.config.zone).strftime("%H:%M"))
        else:
            error = _("Wrong login or password.")
    status = 401 if error else 200
    return render_template("login.html", form=form, error=error), status


@bp.post("/logout")
def logout() -> Any:
    logout_user()
    return redirect(url_for("auth.login"))


@bp.get("/")
def index() -> Any:
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return redirect(home_for(current_user))
