"""Vietnamese first, English on request, for the province dashboard: the centre web's way
(`server.web.i18n`: `?lang=`, a cookie, the first language of `site.languages`), with the
dashboard's own catalogs, `hub/web/translations/vi/*.po`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po
from flask import Flask

from server.web import i18n as centre_i18n
from server.web.i18n import N_, current_language

TRANSLATIONS = Path(__file__).parent / "translations"
__all__ = ["N_", "current_language", "gettext", "init_app", "_"]


@lru_cache(maxsize=None)
def catalog(lang: str) -> dict[str, str]:
    """msgid → translation for `lang`, from the dashboard's .po files of that language."""
    messages: dict[str, str] = {}
    for path in sorted((TRANSLATIONS / lang).glob("*.po")):
        with path.open("rb") as f:
            for message in read_po(f, locale=lang):
                if message.id and message.string and not message.fuzzy:
                    messages[str(message.id)] = str(message.string)
    return messages


def gettext(text: str, **values: Any) -> str:
    """`text` in the request's language, `%(name)s` placeholders filled from `values`."""
    lang = current_language()
    translated = catalog(lang).get(text, text) if lang != "en" else text
    return translated % values if values else translated


_ = gettext


def ngettext(singular: str, plural: str, n: int, **values: Any) -> str:
    values.setdefault("num", n)
    return gettext(singular if n == 1 else plural, **values)


def init_app(app: Flask, languages: tuple[str, ...]) -> None:
    """The centre's language choice and cookie, with the dashboard's catalogs in the templates."""
    centre_i18n.init_app(app, languages)
    app.jinja_env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
