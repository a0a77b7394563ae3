"""A procedure's checklist of documents, printed by the touch kiosk: what it says
(`compose_checklist`, pure, drawn by `device.ticket.TicketRenderer` like a ticket) and where its
documents come from (`fetch_procedure`: the server's public JSON, ``GET <public_url>/procedures/<id>.json``).

The MQTT summaries of the catalogue hold no documents (they would not fit in 4 KiB), so the
kiosk asks the server's web for the one procedure a citizen opened, with a short timeout: a
server that does not answer leaves the screen saying the checklist cannot be printed now.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from typing import Any

from device.ticket import Block, SiteText

logger = logging.getLogger(__name__)

FETCH_TIMEOUT_S = 3.0
MAX_BYTES = 64 * 1024  # a procedure's JSON is a few KiB (documents at most 4,000 characters)
_TEXTS = ("code", "name_vi", "name_en", "processing_time", "fee", "result_place", "portal_url")


def procedure_url(public_url: str, procedure_id: int) -> str:
    return f"{public_url.rstrip('/')}/procedures/{int(procedure_id)}.json"


def parse_detail(data: bytes) -> dict[str, Any]:
    """The server's JSON of one procedure, checked; ValueError saying what is wrong."""
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    if not isinstance(obj.get("id"), int) or not isinstance(obj.get("name_vi"), str):
        raise ValueError('"id" and "name_vi" are required')
    documents = obj.get("documents")
    if not isinstance(documents, list) or not all(isinstance(d, str) for d in documents):
        raise ValueError('"documents" must be a list of texts')
    for key in _TEXTS:
        if obj.get(key) is not None and not isinstance(obj[key], str):
            raise ValueError(f'"{key}" must be a text')
    return obj


def fetch_procedure(public_url: str, procedure_id: int, timeout_s: float = FETCH_TIMEOUT_S) -> dict[str, Any] | None:
    """Procedure `procedure_id` as the server publishes it, or None (logged) if it cannot be had."""
    url = procedure_url(public_url, procedure_id)
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - the configured server
            return parse_detail(response.read(MAX_BYTES + 1)[:MAX_BYTES])
    except (urllib.error.URLError, OSError, ValueError) as exc:  # HTTPError (404) is a URLError
        logger.warning("procedure %d: no documents from %s: %s", procedure_id, url, exc)
        return None


def compose_checklist(detail: dict[str, Any], site: SiteText) -> list[Block]:
    """The checklist's content, top to bottom, in the site's main language (Vietnamese, the
    language of the documents): the procedure, its fee and time, a box per document."""
    english = (site.languages or ("vi",))[0] == "en"
    name = (detail.get("name_en") if english else "") or detail["name_vi"]
    blocks = [Block("text", site.centre, "regular", "centre"), Block("rule"),
              Block("text", "Danh sách giấy tờ" if not english else "Checklist of documents", "regular", "caption"),
              Block("text", name, "bold", "service")]
    if detail.get("code"):
        blocks.append(Block("text", f"{'Mã' if not english else 'Code'}: {detail['code']}", "regular", "small"))
    blocks.append(Block("space", pixels=6))
    facts = (("Lệ phí", "Fee", detail.get("fee")), ("Thời hạn", "Processing time", detail.get("processing_time")),
             ("Nơi trả kết quả", "Results at", detail.get("result_place")))
    for vi, en, value in facts:
        if value:
            blocks.append(Block("text", f"{en if english else vi}: {value}", "regular", "body"))
    blocks.append(Block("rule"))
    documents = detail.get("documents") or []
    if documents:
        blocks.append(Block("text", "Giấy tờ cần mang" if not english else "Documents to bring", "bold", "body"))
        blocks += [Block("item", document, "regular", "body") for document in documents]
    else:
        blocks.append(Block("text", "Không cần giấy tờ." if not english else "No documents needed.", "regular", "body"))
    blocks.append(Block("rule"))
    blocks.append(Block("text", "Mang đủ giấy tờ giúp hồ sơ được giải quyết nhanh hơn."
                        if not english else "Bring every document: it makes your case quicker.", "regular", "small"))
    if detail.get("portal_url"):
        blocks.append(Block("text", "Quét mã để xem thủ tục trên Cổng dịch vụ công"
                            if not english else "Scan for the procedure on the public service portal",
                            "regular", "small"))
    return blocks
