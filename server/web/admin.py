"""Placeholder: administration and overview (being written)."""
from flask import Blueprint
from server.web.auth import role_required

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/")
@role_required("admin", "manager")
def overview() -> str:
    return "overview"
