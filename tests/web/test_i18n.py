"""Every string the web shows has its Vietnamese translation in the Babel catalogs, and the
catalogs agree with each other and with their placeholders."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from server.web import i18n

WEB = Path(i18n.__file__).parent
KEYWORDS = {"_": None, "gettext": None, "N_": None, "ngettext": (1, 2)}
METHODS = [("**/templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def extracted() -> dict[str, str]:
    """msgid → where it was found, from templates and Python of server/web."""
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            str(WEB), METHODS, keywords=KEYWORDS, options_map={"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}):
        for text in (message if isinstance(message, tuple) else (message,)):
            if text:
                found.setdefault(text, f"{filename}:{lineno}")
    return found


def catalog_entries() -> list[tuple[str, str, str]]:
    entries = []
    for path in sorted((WEB / "translations" / "vi").glob("*.po")):
        with path.open("rb") as f:
            for message in read_po(f, locale="vi"):
                if message.id:
                    entries.append((path.name, str(message.id), str(message.string)))
    return entries


def test_strings_are_found_in_templates_and_code():
    found = extracted()
    assert "Log in" in found and "Wrong login or password." in found and "This page does not exist." in found


def test_every_shown_string_has_a_vietnamese_translation():
    translated = i18n.catalog("vi")
    missing = {text: where for text, where in extracted().items() if not translated.get(text)}
    assert missing == {}


def test_catalogs_do_not_contradict_each_other():
    seen: dict[str, tuple[str, str]] = {}
    clashes = []
    for name, msgid, msgstr in catalog_entries():
        if msgid in seen and seen[msgid][1] != msgstr:
            clashes.append((msgid, seen[msgid][0], name))
        seen.setdefault(msgid, (name, msgstr))
    assert clashes == []


def test_translations_keep_their_placeholders():
    wrong = [(name, msgid) for name, msgid, msgstr in catalog_entries()
             if msgstr and set(PLACEHOLDER.findall(msgid)) != set(PLACEHOLDER.findall(msgstr))]
    assert wrong == []


def test_no_catalog_entry_is_left_unused():
    used = extracted()
    unused = [(name, msgid) for name, msgid, _ in catalog_entries() if msgid not in used]
    assert unused == []
