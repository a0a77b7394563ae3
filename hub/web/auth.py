"""Logging in to the province dashboard, and who may see what.

The centre web's rules (`server.web.auth`) over the hub's accounts (`hub.accounts`): a signed
session cookie (HttpOnly, SameSite=Lax, Secure with `server.secure_cookies`) holding
``login:session_gen`` and the time of the login; every request reloads the account and
refuses the session when the account is gone or disabled, its `session_gen` changed (logout,
a new password) or the login is older than `server.session_hours`. Guesses are throttled per
address by `server.login_guard` and per account in the database.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from flask import Blueprint, Flask, current_app, redirect, render_template, request, session, url_for
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user

from hub import accounts
from hub.web.common import conn, settings
from hub.web.i18n import _
from server.login_guard import LoginGuard
from server.web.auth import LoginForm, safe_next
from server.web.auth import role_required  # the centre's rule, for the dashboard's pages too

bp = Blueprint("auth", __name__)
LOGIN_AT = "qb_hub_login_at"  # session key: when this session logged in (ISO, UTC)


def init_app(app: Flask) -> None:
    manager = LoginManager()
    manager.login_view = "auth.login"
    manager.session_protection = "basic"
    manager.user_loader(_load)
    manager.unauthorized_handler(lambda: redirect(url_for("auth.login", next=request.full_path.rstrip("?"))))
    manager.init_app(app)
    server = app.extensions["queuebox.hub_web"].config.server
    app.extensions["queuebox.login_guard"] = LoginGuard(server.login_attempts, server.address_attempts,
                                                        timedelta(minutes=server.lockout_min))
    app.register_blueprint(bp)


class WebAccount(UserMixin):
    """The logged-in province account, as Flask-Login wants it."""

    def __init__(self, account: accounts.Account) -> None:
        self.account = account
        self.login = account.login
        self.role = account.role

    def get_id(self) -> str:
        return f"{self.account.login}:{self.account.session_gen}"

    @property
    def is_admin(self) -> bool:
        return self.account.is_admin


def _load(user_id: str) -> WebAccount | None:
    login, sep, gen = user_id.partition(":")
    account = accounts.get(conn(), login)
    if not sep or account is None or not account.active or not gen or gen != account.session_gen:
        return None
    try:
        since = datetime.fromisoformat(session.get(LOGIN_AT, ""))
    except (TypeError, ValueError):
        return None
    if settings().now() - since >= timedelta(hours=settings().config.server.session_hours):
        return None
    return WebAccount(account)


viewer_required = role_required(*accounts.ROLES)  # every province account reads the dashboard


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        s = settings()
        now = s.now()
        result = accounts.authenticate(conn(), form.login.data.strip().lower(), form.password.data, now,
                                       address=request.remote_addr or "",
                                       guard=current_app.extensions["queuebox.login_guard"],
                                       account_attempts=s.config.server.account_attempts,
                                       lockout=timedelta(minutes=s.config.server.lockout_min))
        if result.user is not None:
            session[LOGIN_AT] = now.astimezone(timezone.utc).isoformat()
            login_user(WebAccount(result.user))  # type: ignore[arg-type]
            return redirect(safe_next(request.args.get("next")) or url_for("pages.overview"))
        until = result.locked_until.astimezone(s.config.zone).strftime("%H:%M") if result.locked_until else ""
        if result.by == "account":
            error = _("Too many failed logins: this account is locked until %(time)s.", time=until)
        elif result.by == "device":
            error = _("Too many failed logins from this device: it may try again at %(time)s.", time=until)
        else:
            error = _("Wrong login or password.")
    return render_template("login.html", form=form, error=error), 401 if error else 200


@bp.post("/logout")
def logout() -> Any:
    """Log out this account everywhere: every session it has, on every device, ends."""
    if current_user.is_authenticated:
        accounts.end_sessions(conn(), current_user.login)
    logout_user()
    return redirect(url_for("auth.login"))


@bp.get("/")
def index() -> Any:
    return redirect(url_for("pages.overview" if current_user.is_authenticated else "auth.login"))
