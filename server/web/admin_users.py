"""The administration of web accounts (role `admin` only): add, change role, counters and
whether the account may log in, set a new password, unlock an account locked by
`server.account_attempts` failed logins.

Each change is recorded as a `user_changed` event naming the account and the kind of change
(never the password). The last active admin cannot take away their own administration.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from server import users
from server.web.auth import login_guard, role_required
from server.web.common import db, get_engine
from server.web.i18n import N_, _

admins = role_required("admin")
ROLE_NAMES = {"admin": N_("Administrator"), "manager": N_("Manager"), "clerk": N_("Counter clerk")}
ROLE_HELP = {"admin": N_("Everything, including accounts."),
             "manager": N_("Overview, reports, services, counters and the board; any counter."),
             "clerk": N_("Only the consoles of the counters ticked below.")}
# users.UserError messages, in the manager's words.
_USER_ERRORS = [
    (r"^2 to 32 characters", N_("2 to 32 characters: lowercase letters, digits, '.', '_' or '-', "
                                "starting with a letter or digit")),
    (r"already exists", N_("This login is taken")),
    (r"^at least (?P<n>\d+) characters", N_("At least %(n)s characters")),
    (r"a clerk needs at least one counter", N_("A counter clerk needs at least one counter")),
    (r"unknown counter", N_("Unknown counter")),
    (r"role must be one of", N_("Choose one of the options")),
]


def _translate(error: users.UserError) -> str:
    for pattern, message in _USER_ERRORS:
        match = re.search(pattern, error.message)
        if match:
            return _(message, **match.groupdict()) if match.groupdict() else _(message)
    return error.message


def _record(login: str, change: str) -> None:
    get_engine().record("user_changed", f"web/{current_user.login}", {"login": login, "change": change})


def _counters() -> list[tuple[str, str]]:
    return [(c.id, c.name) for c in get_engine().config.counters]


def _user_or_404(login: str) -> users.User:
    user = users.get(db(), login)
    if user is None:
        abort(404)
    return user


@admins
def users_list() -> Any:
    engine = get_engine()
    return render_template("admin/users.html", accounts=users.all_users(db()), roles=ROLE_NAMES,
                           counter_names=dict(_counters()), now=engine.now(), zone=engine.config.zone)


@admins
def user_unlock(login: str) -> Any:
    """Lift the lock of an account (and every per-address block of it) before its time."""
    _user_or_404(login)
    users.unlock(db(), login)
    login_guard().forget_login(login)
    _record(login, "unlocked")
    flash(_("%(login)s may log in again.", login=login))
    return redirect(url_for("admin.users_list"))


@admins
def user_new() -> Any:
    fields: dict[str, Any] = {"login": "", "role": "clerk", "counters": [], "active": True}
    errors: dict[str, str] = {}
    if request.method == "POST":
        login = request.form.get("login", "").strip().lower()
        fields = {"login": login, "role": request.form.get("role", ""), "counters": request.form.getlist("counters"),
                  "active": True}
        password = request.form.get("password", "")
        if password != request.form.get("password2", ""):
            errors["password2"] = _("The two passwords differ")
        else:
            try:
                users.add(db(), login, password, fields["role"], _known(fields["counters"]), get_engine().now(),
                          known_counters={cid for cid, _name in _counters()})
            except users.UserError as exc:
                errors[exc.field] = _translate(exc)
        if not errors:
            _record(login, "added")
            flash(_("Saved."))
            return redirect(url_for("admin.users_list"))
    return _form(None, fields, errors)


@admins
def user_edit(login: str) -> Any:
    account = _user_or_404(login)
    fields: dict[str, Any] = {"login": login, "role": account.role, "counters": list(account.counters),
                              "active": account.active}
    errors: dict[str, str] = {}
    if request.method == "POST":
        fields.update(role=request.form.get("role", ""), counters=request.form.getlist("counters"),
                      active=request.form.get("active") == "on")
        if account.role == "admin" and account.active and (fields["role"] != "admin" or not fields["active"]) \
                and _active_admins() <= 1:
            errors["role" if fields["role"] != "admin" else "active"] = _(
                "This is the last active administrator: make another account administrator first.")
        else:
            try:
                users.update(db(), login, fields["role"], _known(fields["counters"]), fields["active"],
                             known_counters={cid for cid, _name in _counters()})
            except users.UserError as exc:
                errors[exc.field] = _translate(exc)
        if not errors:
            _record(login, "updated")
            flash(_("Saved."))
            return redirect(url_for("admin.users_list"))
    return _form(account, fields, errors)


@admins
def user_password(login: str) -> Any:
    account = _user_or_404(login)
    errors: dict[str, str] = {}
    password = request.form.get("password", "")
    if password != request.form.get("password2", ""):
        errors["password2"] = _("The two passwords differ")
    else:
        try:
            users.set_password(db(), login, password)
        except users.UserError as exc:
            errors["password"] = _translate(exc)
    if not errors:
        _record(login, "password")
        flash(_("The new password of %(login)s is saved.", login=login))
        return redirect(url_for("admin.users_list"))
    fields = {"login": login, "role": account.role, "counters": list(account.counters), "active": account.active}
    return _form(account, fields, errors)


def register(bp: Blueprint) -> None:
    """Add the users pages to the administration's blueprint."""
    bp.add_url_rule("/users", view_func=users_list, methods=["GET"])
    bp.add_url_rule("/users/new", view_func=user_new, methods=["GET", "POST"])
    bp.add_url_rule("/users/<login>/edit", view_func=user_edit, methods=["GET", "POST"])
    bp.add_url_rule("/users/<login>/password", view_func=user_password, methods=["POST"])
    bp.add_url_rule("/users/<login>/unlock", view_func=user_unlock, methods=["POST"])


def _form(account: users.User | None, fields: dict[str, Any], errors: dict[str, str]) -> Any:
    return render_template("admin/user_form.html", account=account, fields=fields, errors=errors, roles=ROLE_NAMES,
                           role_help=ROLE_HELP, counters=_counters(), min_password=users.MIN_PASSWORD), \
        422 if errors else 200


def _known(counters: list[str]) -> list[str]:
    """The ticked counters in the configured order (duplicates dropped)."""
    ticked = set(counters)
    configured = [cid for cid, _name in _counters()]
    return [cid for cid in configured if cid in ticked] + sorted(ticked - set(configured))


def _active_admins() -> int:
    return sum(1 for u in users.all_users(db()) if u.role == "admin" and u.active)
