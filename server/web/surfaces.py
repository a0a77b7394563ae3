"""Which pages each listener serves: the staff listener everything, the public one
(`server.public_listen`, for citizens' phones on the hall's Wi-Fi) only the allow-list below.

The public listener wraps the app with `public_only`, which marks each request; the app's
`before_request` hook (`init_app`) answers any endpoint that is not on the allow-list with
the app's plain 404, as if it did not exist. The list names Flask endpoints, not URL
patterns, so it means exactly what the app routes (no path trick reaches another page). A
later public page (opening hours) is one more name here.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from flask import Flask, abort, request

LISTENER = "queuebox.listener"  # the WSGI environ key public_only sets
# Endpoints the public listener serves: the ticket status page and its JSON refresh, the
# procedure lookup (server/web/procedures.py: its pages and its own 404 for any other path under it)
# and a procedure's JSON (the touch kiosk's checklist).
PUBLIC_ENDPOINTS = frozenset({"public.status", "public.status_json", "procedures_json.procedure_json",
                              "procedures.index", "procedures.field", "procedures.procedure", "procedures.unknown"})
# Static files those pages (and the error page they may show) load.
PUBLIC_STATIC = frozenset({"app.css", "status.css", "status.js", "lookup.css", "favicon.svg"})


def is_public(endpoint: str | None, view_args: dict[str, Any] | None) -> bool:
    """Whether the request routed to `endpoint` (with `view_args`) may be served to the public."""
    if endpoint in PUBLIC_ENDPOINTS:
        return True
    return endpoint == "static" and (view_args or {}).get("filename") in PUBLIC_STATIC


def init_app(app: Flask) -> None:
    """Refuse (404) every non-public endpoint on requests that came through `public_only`."""
    def public_pages_only() -> None:
        if request.environ.get(LISTENER) == "public" and not is_public(request.endpoint, request.view_args):
            abort(404)
    # first of the app's hooks, so that no other one (a login check, a redirect) answers before it
    app.before_request_funcs.setdefault(None, []).insert(0, public_pages_only)


def public_only(app: Callable[..., Any]) -> Callable[..., Iterable[bytes]]:
    """`app` as the public listener serves it (see `init_app`, which `create_app` installs)."""
    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ[LISTENER] = "public"
        return app(environ, start_response)  # type: ignore[no-any-return]
    return wsgi


# POST paths that take a file, on the staff listener only: their body may be up to MAX_UPLOAD_BODY
# (the procedure catalogue, at most 2 MB, is refused past that with a message of its own; a file
# a little over it still reaches the page, so the manager reads why; the recorded voice's ZIP or
# WAV files, server/web/admin_voice.py).
UPLOAD_PATHS = frozenset({"/admin/procedures/import", "/admin/voice/import"})
MAX_UPLOAD_BODY = 8 * 1024 * 1024
