"""`GET /procedures/<id>.json`: one procedure of the catalogue, public, for the touch kiosk's
checklist of documents (the MQTT summaries hold no documents) and any program reading the
catalogue. A hidden or unknown procedure is the app's plain 404, the same for both; no cookie
is set and nothing about a citizen is involved.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, jsonify

from server.catalogue_store import get_procedure
from server.web.common import db

bp = Blueprint("procedures_json", __name__)

MAX_AGE_S = 60  # a manager's change reaches a kiosk within a minute even through a cache


@bp.get("/procedures/<int:procedure_id>.json")
def procedure_json(procedure_id: int) -> Any:
    procedure = get_procedure(db(), procedure_id)
    if procedure is None or procedure.hidden:
        abort(404)
    response = jsonify({
        "id": procedure.id, "code": procedure.code, "service": procedure.service, "name_vi": procedure.name_vi,
        "name_en": procedure.name_en, "documents": list(procedure.documents),
        "processing_time": procedure.processing_time, "fee": procedure.fee, "result_place": procedure.result_place,
        "portal_url": procedure.portal_url, "on_the_spot": procedure.on_the_spot,
    })
    response.headers["Cache-Control"] = f"public, max-age={MAX_AGE_S}"
    return response
