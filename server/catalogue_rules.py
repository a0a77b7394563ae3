"""What makes a procedure of the catalogue valid, and its summary for the screens. Pure: the web
form, the CSV/XLSX import and the engine's writes all check procedures with `check_procedure`
and `check_catalogue`; the MQTT bridge publishes what `summaries` builds.

A problem is a `Problem`: the field it concerns, a code, and the values its message needs.
Each surface words it (`Problem.text` in English for the command line; the web translates
the code), so the rule is written once.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping
from urllib.parse import urlsplit

from queuebox.catalogue import LIMITS, MAX_PROCEDURES, Procedure
from queuebox.protocol import MAX_PAYLOAD, MAX_PROCEDURE_ITEMS

# The texts of a procedure, in the order forms and files show them; `documents` is one per line.
TEXT_FIELDS = ("code", "service", "name_vi", "name_en", "documents", "processing_time", "fee",
               "result_place", "portal_url")
# Bullets a published list puts before each document ("- Tờ khai …", "+ Bản sao …", "• …"):
# the catalogue stores the documents without them and the screens draw their own.
_BULLETS = ("- ", "+ ", "• ", "* ", "– ")

MESSAGES = {  # code -> English message (the web has its Vietnamese and English ones)
    "required": "required",
    "too_long": "at most %(max)s characters (this has %(n)s)",
    "document_too_long": "document %(line)s is over %(max)s characters",
    "unknown_service": "%(value)s is not the code of a service (fields: %(known)s)",
    "duplicate_code": "procedure code %(value)s is used by another procedure",
    "bad_url": "must be an address beginning with http:// or https://",
    "bad_yes_no": "write Có or Không (yes/no, x or 1/0), not %(value)s",
    "formula": "is a spreadsheet formula: write the text itself",
    "too_many": "at most %(max)s procedures (this has %(n)s)",
    # of a whole file (server.catalogue_files)
    "too_big": "the file has %(n)s bytes; at most %(max)s (2 MB)",
    "empty": "the file is empty: nothing to import",
    "not_a_table": "the file is neither CSV nor XLSX (%(detail)s)",
    "not_utf8": "the CSV is not UTF-8 text: save it as \"CSV UTF-8\"",
    "missing_column": "column %(column)s is missing",
    "unknown_column": "column %(column)s is not known (columns: %(known)s)",
    "no_rows": "the file has a header but no procedure",
}


@dataclass(frozen=True)
class Problem:
    """Why a field cannot be saved: `code` is a key of MESSAGES, `values` fill its placeholders."""
    field: str
    code: str
    values: Mapping[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return MESSAGES[self.code] % dict(self.values) if self.values else MESSAGES[self.code]


def clean_line(text: str) -> str:
    """One line of text as stored: NFC, whitespace runs made one space, trimmed."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def clean_documents(text: str) -> tuple[str, ...]:
    """The documents of a cell or text area: one per line, bullets and empty lines dropped."""
    documents = []
    for line in unicodedata.normalize("NFC", text).splitlines():
        line = clean_line(line)
        while line.startswith(_BULLETS):
            line = line[2:].lstrip()
        if line in ("-", "+", "•", "*", "–"):
            continue
        if line:
            documents.append(line)
    return tuple(documents)


def is_web_address(text: str) -> bool:
    """An absolute http(s) address with a host and no spaces."""
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not any(c.isspace() for c in text)


def check_procedure(values: Mapping[str, str], services: Iterable[str], *, procedure_id: int = 0,
                    on_the_spot: bool = False, hidden: bool = False) -> tuple[Procedure, list[Problem]]:
    """A procedure from its texts (keys of TEXT_FIELDS; missing ones are empty) and what is
    wrong with it: required name and field, the service code among `services`, every text
    within LIMITS, the portal address http(s). Uniqueness of codes spans procedures: see
    `check_catalogue`. The Procedure is returned even with problems (to show the form again)."""
    known = list(services)
    problems: list[Problem] = []
    text = {key: clean_line(str(values.get(key) or "")) for key in TEXT_FIELDS if key != "documents"}
    documents = clean_documents(str(values.get("documents") or ""))
    service = text["service"].upper()
    for key in ("service", "name_vi"):
        if not text[key]:
            problems.append(Problem(key, "required"))
    if service and service not in known:
        problems.append(Problem("service", "unknown_service", {"value": text["service"], "known": ", ".join(known)}))
    for key, value in text.items():
        if key in LIMITS and len(value) > LIMITS[key]:
            problems.append(Problem(key, "too_long", {"max": LIMITS[key], "n": len(value)}))
    for line, document in enumerate(documents, 1):
        if len(document) > LIMITS["document"]:
            problems.append(Problem("documents", "document_too_long", {"line": line, "max": LIMITS["document"]}))
            break
    stored = "\n".join(documents)
    if len(stored) > LIMITS["documents"]:
        problems.append(Problem("documents", "too_long", {"max": LIMITS["documents"], "n": len(stored)}))
    if text["portal_url"] and not is_web_address(text["portal_url"]):
        problems.append(Problem("portal_url", "bad_url"))
    procedure = Procedure(id=procedure_id, service=service, name_vi=text["name_vi"], name_en=text["name_en"],
                          code=text["code"] or None, documents=documents, processing_time=text["processing_time"],
                          fee=text["fee"], result_place=text["result_place"], portal_url=text["portal_url"],
                          on_the_spot=on_the_spot, hidden=hidden)
    return procedure, problems


def check_catalogue(procedures: list[Procedure]) -> list[tuple[int, Problem]]:
    """What is wrong with `procedures` together: (index, problem) for each procedure code used
    again (the later ones) and, at index -1, more than MAX_PROCEDURES of them."""
    problems: list[tuple[int, Problem]] = []
    if len(procedures) > MAX_PROCEDURES:
        problems.append((-1, Problem("", "too_many", {"max": MAX_PROCEDURES, "n": len(procedures)})))
    seen: set[str] = set()
    for index, procedure in enumerate(procedures):
        if procedure.code is not None:
            key = procedure.code.casefold()
            if key in seen:
                problems.append((index, Problem("code", "duplicate_code", {"value": procedure.code})))
            seen.add(key)
    return problems


def ordered(procedures: Iterable[Procedure], services: list[str]) -> list[Procedure]:
    """In the centre's order: by the services' order (unknown fields last, by code), then position."""
    rank = {code: i for i, code in enumerate(services)}
    return sorted(procedures, key=lambda p: (rank.get(p.service, len(rank)), p.service, p.position, p.id))


def renumbered(procedures: list[Procedure]) -> list[Procedure]:
    """The same procedures with positions 1, 2, 3 … within each service, in the given order."""
    counts: dict[str, int] = {}
    result = []
    for p in procedures:
        counts[p.service] = counts.get(p.service, 0) + 1
        result.append(replace(p, position=counts[p.service]))
    return result


def summaries(procedures: Iterable[Procedure], seq: int) -> dict[str, dict[str, Any]]:
    """The retained `procedures/<service>` payload of every service that has visible procedures:
    at most MAX_PROCEDURE_ITEMS entries in the catalogue's order, and fewer if the payload would
    pass the protocol's MAX_PAYLOAD bytes; those left out are counted in "more"."""
    by_service: dict[str, list[Procedure]] = {}
    for p in sorted(procedures, key=lambda p: (p.service, p.position, p.id)):
        if not p.hidden:
            by_service.setdefault(p.service, []).append(p)
    payloads = {}
    for service, listed in by_service.items():
        entries = [{"id": p.id, "code": p.code, "name_vi": p.name_vi, "name_en": p.name_en,
                    "processing_time": p.processing_time, "fee": p.fee, "on_the_spot": p.on_the_spot}
                   for p in listed[:MAX_PROCEDURE_ITEMS]]
        payload = {"seq": seq, "service": service, "procedures": entries, "more": len(listed) - len(entries)}
        while _size(payload) > MAX_PAYLOAD:  # a few long names fill 4 KiB: leave out the last
            entries.pop()
            payload["more"] += 1
        payloads[service] = payload
    return payloads


def _size(payload: dict[str, Any]) -> int:
    """Bytes of `payload` as `queuebox.protocol.encode` sends it."""
    return len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
