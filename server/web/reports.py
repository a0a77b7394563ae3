"""Placeholder (being written)."""
from flask import Blueprint

from server.web.auth import role_required

bp = Blueprint("reports", __name__, url_prefix="/reports")


@bp.get("/")
@role_required("admin", "manager")
def index() -> str:
    return "reports"
