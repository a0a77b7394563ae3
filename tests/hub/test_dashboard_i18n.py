"""Every string the province dashboard shows has its Vietnamese translation in its own
catalog (hub/web/translations/vi), with the same placeholders, and none is left unused."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

import hub.web

WEB = Path(hub.web.__file__).parent
KEYWORDS = {"_": None, "gettext": None, "N_": None, "ngettext": (1, 2)}
METHODS = [("**/templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def extracted() -> set[str]:
    found: set[str] = set()
    for _f, _l, message, _c, _x in extract_from_dir(
            str(WEB), METHODS, keywords=KEYWORDS, options_map={"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}):
        found.update(t for t in (message if isinstance(message, tuple) else (message,)) if t)
    return found


def entries() -> dict[str, str]:
    result = {}
    for path in sorted((WEB / "translations" / "vi").glob("*.po")):
        with path.open("rb") as f:
            result.update((str(m.id), str(m.string)) for m in read_po(f, locale="vi") if m.id)
    return result


def test_every_shown_string_has_a_vietnamese_translation():
    found, catalog = extracted(), entries()
    assert {"Log in", "printer out of paper", "Last heard %(time)s"} <= found
    assert sorted(t for t in found if not catalog.get(t)) == []
    assert sorted(t for t in catalog if t not in found) == []  # none left unused


def test_translations_keep_their_placeholders_and_are_nfc():
    catalog = entries()
    assert [k for k, v in catalog.items() if set(PLACEHOLDER.findall(k)) != set(PLACEHOLDER.findall(v))] == []
    assert [v for v in catalog.values() if unicodedata.normalize("NFC", v) != v] == []
    assert catalog["printer out of paper"] == "máy in hết giấy"
