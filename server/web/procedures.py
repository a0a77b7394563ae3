"""The public lookup of the centre's procedures, for citizens' phones (also on the public listener):

- `/procedures`: the centre's fields in their service order, each with its number of procedures,
  and a search box; `/procedures?q=dang ky khai sinh` the procedures a search finds
  (`queuebox.catalogue.search`: diacritics and case aside);
- `/procedures/field/<code>`: one field's procedures;
- `/procedures/<id>`: one procedure: documents to bring, processing time, fee, where results are
  returned, its portal link and a QR code (of the portal link, else of this page) to show to
  another phone.

Server-rendered, no script, plain GET forms. Nothing personal is asked or kept, and no cookie is
ever set: the language is `?lang=` alone (`i18n.language_from_url`) and links carry it, so a page
is the same for everyone with its URL and may be cached a minute. Hidden procedures, unknown
fields and ids are a 404 page of this lookup (not the app's, which would open a session).
"""

from __future__ import annotations

import unicodedata
from typing import Any

import segno
from flask import Blueprint, abort, render_template, request, url_for

from queuebox.catalogue import Procedure, search
from queuebox.text import search_words
from server.catalogue_store import get_procedure, load_procedures
from server.web import i18n
from server.web.common import db, get_engine
from server.web.counter import service_name
from server.web.i18n import _, current_language, ngettext

bp = Blueprint("procedures", __name__)

MAX_AGE_S = 60  # a manager's change shows on phones within a minute
MAX_QUERY = 100  # characters of a search that are kept: a procedure's name says it in fewer
MAX_RESULTS = 50  # procedures a search lists: more is too long to scroll on a phone, fewer words say more


@bp.before_request
def language_from_url() -> None:
    i18n.language_from_url()


@bp.url_defaults
def keep_language(endpoint: str, values: dict[str, Any]) -> None:
    """Links between these pages carry the page's language, since no cookie remembers it."""
    if current_language() != i18n.default_language():
        values.setdefault("lang", current_language())


@bp.after_request
def public_cache(response: Any) -> Any:
    """The same page for everyone with its URL: cacheable for a minute, revalidated by its ETag."""
    response.headers["Cache-Control"] = f"public, max-age={MAX_AGE_S}"
    if response.status_code == 200:
        response.add_etag()
        response.make_conditional(request)
    return response


@bp.context_processor
def page_tools() -> dict[str, Any]:
    return {"language_url": language_url, "default_language": i18n.default_language, "max_query": MAX_QUERY}


@bp.errorhandler(404)
def not_found(_exc: Exception) -> Any:
    return render_template("public/procedures_missing.html"), 404


@bp.get("/procedures")
def index() -> Any:
    catalogue = load_procedures(db())
    query = search_query()
    if not query:
        return render_template("public/procedures.html", fields=fields(catalogue), query="", results=None)
    found = sorted(search(catalogue, query), key=field_order())
    shown = [item(p) for p in found[:MAX_RESULTS]]
    return render_template(
        "public/procedures.html", fields=None, query=query, results=shown, more=len(found) > len(shown),
        found_text=ngettext('%(num)s procedure found for “%(query)s”', '%(num)s procedures found for “%(query)s”',
                            len(found), query=query),
        more_text=_("The first %(shown)s are listed: add a word to narrow the search.", shown=len(shown)))


@bp.get("/procedures/field/<code>")
def field(code: str) -> Any:
    if get_engine().config.service(code) is None:
        abort(404)
    shown = [item(p) for p in load_procedures(db()) if p.service == code]
    return render_template("public/procedures_field.html", field_name=field_name(code), results=shown,
                           count_text=count_text(len(shown)))


@bp.get("/procedures/<int:procedure_id>")
def procedure(procedure_id: int) -> Any:
    found = get_procedure(db(), procedure_id)
    if found is None or found.hidden:
        abort(404)
    page_url = public_url(url_for("procedures.procedure", procedure_id=procedure_id))
    portal = found.portal_url if found.portal_url.startswith(("https://", "http://")) else ""
    return render_template("public/procedures_one.html", p=item(found), portal=portal,
                           qr=qr_svg(portal or page_url), qr_of_portal=bool(portal))


@bp.get("/procedures/<path:_rest>")
def unknown(_rest: str) -> Any:
    abort(404)


def search_query() -> str:
    """The `q` of the request, NFC, at most MAX_QUERY characters; "" when it holds no word to search."""
    query = unicodedata.normalize("NFC", request.args.get("q", ""))[:MAX_QUERY].strip()
    return query if search_words(query) else ""


def fields(catalogue: list[Procedure]) -> list[dict[str, Any]]:
    """The fields that have procedures, in the centre's service order: code, name, count, url."""
    counts: dict[str, int] = {}
    for p in catalogue:
        counts[p.service] = counts.get(p.service, 0) + 1
    return [{"code": s.code, "name": field_name(s.code), "count": counts[s.code],
             "count_text": count_text(counts[s.code]), "url": url_for("procedures.field", code=s.code)}
            for s in get_engine().config.services if counts.get(s.code)]


def count_text(count: int) -> str:
    return ngettext("%(num)s procedure", "%(num)s procedures", count)


def field_order() -> Any:
    """Sort key: the centre's service order (a procedure of a field no longer configured goes last)."""
    order = {s.code: i for i, s in enumerate(get_engine().config.services)}
    return lambda p: order.get(p.service, len(order))


def field_name(code: str) -> str:
    return service_name(get_engine(), code, current_language())


def item(p: Procedure) -> dict[str, Any]:
    """What the pages show of a procedure, in the page's language (its own texts are as published)."""
    return {"id": p.id, "code": p.code, "name": p.name(current_language()), "field": p.service,
            "field_name": field_name(p.service), "documents": p.documents, "processing_time": p.processing_time,
            "fee": p.fee, "result_place": p.result_place, "on_the_spot": p.on_the_spot,
            "url": url_for("procedures.procedure", procedure_id=p.id),
            "field_url": (url_for("procedures.field", code=p.service)
                          if get_engine().config.service(p.service) is not None else None)}


def language_url(lang: str) -> str:
    """This page in `lang` (its search kept)."""
    args = dict(request.view_args or {})
    if search_query():
        args["q"] = search_query()
    return url_for(request.endpoint or "procedures.index", **args, lang=lang)


def public_url(path: str) -> str:
    """`path` under `server.public_url`, the address citizens' phones reach the server by."""
    return get_engine().config.server.public_url.rstrip("/") + path


def qr_svg(data: str) -> str:
    """A QR code of `data` as inline SVG that scales to its box (dark modules, no background)."""
    return str(segno.make(data, error="m").svg_inline(omitsize=True, border=2, svgclass="qr", lineclass=None))
