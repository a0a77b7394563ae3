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

import gzip
import unicodedata
from functools import lru_cache
from typing import Any, Callable

import segno
from flask import Blueprint, abort, render_template, request, url_for

from queuebox.catalogue import Procedure, search
from queuebox.text import search_words
from server.catalogue_store import count_by_service, get_procedure, load_procedures
from server.web import i18n
from server.web.common import db, get_engine
from server.web.counter import service_name
from server.web.i18n import _, current_language, ngettext

bp = Blueprint("procedures", __name__)

MAX_AGE_S = 60  # a manager's change shows on phones within a minute
MAX_QUERY = 100  # characters of a search that are kept: a procedure's name says it in fewer
GZIP_FROM = 1024  # bytes of a page from which it is sent gzipped: below, the header costs what it saves
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
    """The same page for everyone with its URL: cacheable for a minute, revalidated by its ETag;
    gzipped for the phones that take it (a field's list shrinks about six times on the Wi-Fi)."""
    response.headers["Cache-Control"] = f"public, max-age={MAX_AGE_S}"
    response.vary.add("Accept-Encoding")
    if "gzip" in request.accept_encodings and len(response.get_data()) >= GZIP_FROM:
        response.set_data(gzip.compress(response.get_data(), compresslevel=6, mtime=0))  # mtime 0: same bytes, same ETag
        response.headers["Content-Encoding"] = "gzip"
    if response.status_code == 200:
        response.add_etag()  # of the bytes sent, so each encoding has its own
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
    query = search_query()
    if not query:
        return render_template("public/procedures.html", fields=fields(count_by_service(db())), query="", results=None)
    found = sorted(search(load_procedures(db()), query), key=field_order())
    shown = list_rows(found[:MAX_RESULTS])
    return render_template(
        "public/procedures.html", fields=None, query=query, results=shown, more=len(found) > len(shown),
        found_text=ngettext('%(num)s procedure found for “%(query)s”', '%(num)s procedures found for “%(query)s”',
                            len(found), query=query),
        more_text=_("The first %(shown)s are listed: add a word to narrow the search.", shown=len(shown)))


@bp.get("/procedures/field/<code>")
def field(code: str) -> Any:
    if get_engine().config.service(code) is None:
        abort(404)
    shown = list_rows([p for p in load_procedures(db()) if p.service == code])
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


def fields(counts: dict[str, int]) -> list[dict[str, Any]]:
    """The fields that have procedures (`counts`: code → shown procedures), in the centre's service
    order: code, name, count, url."""
    return [{"code": s.code, "name": field_name(s.code), "count": counts[s.code],
             "count_text": count_text(counts[s.code]), "url": url_for("procedures.field", code=s.code)}
            for s in get_engine().config.services if counts.get(s.code)]


def count_text(count: int) -> str:
    return ngettext("%(num)s procedure", "%(num)s procedures", count)


def field_order() -> Callable[[Procedure], int]:
    """Sort key: the centre's service order (a procedure of a field no longer configured goes last)."""
    order = {s.code: i for i, s in enumerate(get_engine().config.services)}
    return lambda p: order.get(p.service, len(order))


def field_name(code: str) -> str:
    return service_name(get_engine(), code, current_language())


def list_rows(procedures: list[Procedure]) -> list[dict[str, Any]]:
    """What a list shows of each procedure, in the page's language: name, field, time, fee, badge, url.
    (A field's list is a hundred rows: each text is translated, and the link routed, once a page.)"""
    url = procedure_url()
    time_text, fee_text, badge = _("Time: %(time)s"), _("Fee: %(fee)s"), _("Done on the spot")
    lang = current_language()
    names = {s.code: field_name(s.code) for s in get_engine().config.services}
    return [{"name": p.name(lang), "field_name": names.get(p.service, p.service), "url": url(p.id),
             "time_text": time_text % {"time": p.processing_time} if p.processing_time else "",
             "fee_text": fee_text % {"fee": p.fee} if p.fee else "", "badge": badge if p.on_the_spot else ""}
            for p in procedures]


def procedure_url() -> Callable[[int], str]:
    """`url_for("procedures.procedure", procedure_id=…)` (with the page's language) as a function
    that routes once: the address differs only by the id."""
    marker = 987654321
    before, after = url_for("procedures.procedure", procedure_id=marker).split(str(marker))
    return lambda procedure_id: f"{before}{procedure_id}{after}"


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


@lru_cache(maxsize=256)  # ~3 KB each; making one takes longer than the rest of the page
def qr_svg(data: str) -> str:
    """A QR code of `data` as inline SVG that scales to its box (dark modules, no background)."""
    return str(segno.make(data, error="m").svg_inline(omitsize=True, border=2, svgclass="qr", lineclass=None))
