"""Vietnamese first, English on request.

Source strings are English, marked `_("…")` in Python and `{{ _("…") }}` in templates
(`%(name)s` placeholders, filled from keyword arguments). The Vietnamese translations are
Babel catalogs, `translations/vi/*.po`, one file per part of the site, merged at start.
The language is `?lang=vi|en` (remembered in a cookie), else the cookie, else the site's
first language. Pages that set no cookie (the public procedure lookup) take it from `?lang=`
alone: see `language_from_url`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po
from flask import Flask, Response, current_app, g, has_request_context, request

LANGUAGES = ("vi", "en")
TRANSLATIONS = Path(__file__).parent / "translations"
COOKIE = "lang"


@lru_cache(maxsize=None)
def catalog(lang: str) -> dict[str, str]:
    """msgid → translation for `lang`, from every .po file of that language (English: none needed)."""
    messages: dict[str, str] = {}
    for path in sorted((TRANSLATIONS / lang).glob("*.po")):
        with path.open("rb") as f:
            for message in read_po(f, locale=lang):
                if message.id and message.string and not message.fuzzy:
                    messages[str(message.id)] = str(message.string)
    return messages


def current_language() -> str:
    if not has_request_context():
        return "en"
    if "lang" not in g:
        asked = request.args.get("lang") or request.cookies.get(COOKIE)
        g.lang = asked if asked in LANGUAGES else default_language()
    return str(g.lang)


def language_from_url() -> None:
    """Take this request's language from `?lang=` alone, else the site's first language, and set no
    cookie to remember it: for public pages that set no cookie and that a cache may keep by URL."""
    asked = request.args.get("lang")
    g.lang = asked if asked in LANGUAGES else default_language()
    g.lang_cookie = False


def default_language() -> str:
    """The site's first language."""
    return str(current_app.config.get("QUEUEBOX_LANGUAGES", LANGUAGES)[0])


def gettext(text: str, **values: Any) -> str:
    """`text` in the request's language, with `%(name)s` placeholders filled from `values`."""
    translated = catalog(current_language()).get(text, text) if current_language() != "en" else text
    return translated % values if values else translated


_ = gettext


def N_(text: str) -> str:
    """Marks a string for the catalogs where it is defined; it is translated where it is shown."""
    return text


def ngettext(singular: str, plural: str, n: int, **values: Any) -> str:
    values.setdefault("num", n)
    return gettext(singular if n == 1 else plural, **values)


def init_app(app: Flask, languages: tuple[str, ...]) -> None:
    app.config["QUEUEBOX_LANGUAGES"] = tuple(lang for lang in languages if lang in LANGUAGES) or LANGUAGES
    app.jinja_env.add_extension("jinja2.ext.i18n")
    app.jinja_env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    app.jinja_env.globals["current_language"] = current_language

    @app.after_request
    def remember_language(response: Response) -> Response:
        asked = request.args.get("lang")
        if asked in LANGUAGES and request.cookies.get(COOKIE) != asked and g.get("lang_cookie", True):
            response.set_cookie(COOKIE, asked, max_age=365 * 86400, samesite="Lax", httponly=True)
        return response
