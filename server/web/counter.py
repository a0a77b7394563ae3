"""Placeholder: the counter console (being written)."""
from flask import Blueprint
from server.web.auth import require_counter
from flask_login import login_required

bp = Blueprint("counter", __name__, url_prefix="/counter")


@bp.get("/<counter_id>")
@login_required
def console(counter_id: str) -> str:
    require_counter(counter_id)
    return f"counter {counter_id}"
