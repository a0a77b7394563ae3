"""The counter display as a web page (`/counter/<id>/display`): a cheap tablet or TV stick above a
counter shows what `queuebox display --counter ID` draws (display/counter_layout.py), in the same
colours and the same words (queuebox/counter_screen.py).

Read-only and without a login: it shows the counter's name and the number it calls, which the
hall sees on the board anyway. It is a staff-listener page (not on the public listener's
allow-list, server/web/surfaces.py), so phones on the hall's Wi-Fi do not reach it when the
centre has a public listener. It stays current through the live streams (server/web/live.py: their
own threads, the caps, one rendering per commit for every page of one counter); the page's script
blinks the number after each call or recall and marks itself offline when the stream is lost.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from flask import Blueprint, Response, abort, render_template

from queuebox.clock import iso
from queuebox.counter_screen import REMOVED, WORDS, counter_call, screen_of
from queuebox.text import split_counter_name
from server.engine import Engine
from server.web.common import get_engine, get_hub
from server.web.live import live_response, shared_reads

bp = Blueprint("counter_display", __name__, url_prefix="/counter")


def display_view(engine: Engine, counter_id: str) -> dict[str, Any]:
    """What the page shows, as JSON: the counter's name (short and what it does), its phase
    (queuebox.counter_screen.PHASES), the number it calls or serves, a pause's reason, and its
    newest call on the board when it is of that number (`key` changes with every call and recall;
    `at` is when it was made, `recall` how many times it was called again), with the server's `now`."""
    board, payloads = engine.snapshots()
    cfg = engine.config.counter(counter_id)
    payload = payloads.get(counter_id)
    screen = screen_of(counter_id, payload if payload is not None else REMOVED, cfg.name if cfg else "")
    short, detail = split_counter_name(screen.name or counter_id)
    call = counter_call(board["calls"], counter_id)
    shown = call if call is not None and screen.ticket and call.get("ticket") == screen.ticket else None
    return {"now": iso(engine.now(), engine.config.zone), "seq": board["seq"], "phase": screen.phase,
            "ticket": screen.ticket, "reason": screen.reason, "name": short, "detail": detail,
            "call": {"key": f'{shown["ticket"]}|{shown["at"]}|{shown["recall"]}', "at": shown["at"],
                     "recall": shown["recall"]} if shown else None}


def _languages(engine: Engine) -> list[str]:
    langs = [lang for lang in engine.config.site.languages if lang in ("vi", "en")] or ["vi"]
    return list(dict.fromkeys(langs))[:2]


@bp.get("/<counter_id>/display")
def page(counter_id: str) -> Any:
    """The full-screen page of counter `counter_id` (404 for a counter the centre does not have)."""
    engine = get_engine()
    cfg = engine.config.counter(counter_id)
    if cfg is None:
        abort(404)
    langs = _languages(engine)
    words = {key: [texts[lang] for lang in langs] for key, texts in WORDS.items()}
    return render_template("counter/display.html", counter=cfg, view=display_view(engine, counter_id), words=words,
                           highlight_s=engine.config.display.highlight_s, lang=langs[0])


@bp.get("/<counter_id>/display/events")
def events(counter_id: str) -> Response:
    """Server-sent events: the page's view now and after every change. A counter removed while
    shown keeps its stream, whose view then says it is not in use."""
    if get_engine().config.counter(counter_id) is None:
        abort(404)
    view = partial(display_view, shared_reads(get_engine(), get_hub()), counter_id)
    return live_response(view, f"counter-display:{counter_id}", shared=("counter-display", counter_id))
