"""The procedure catalogue's shared definitions: what a procedure is, how long each of its texts
may be, and how a search matches it. Pure: the server stores and validates procedures, the
lookup page, the board's slides and the touch kiosk show them, all by these definitions."""

from __future__ import annotations

from dataclasses import dataclass

from queuebox.text import search_words

# Characters each text may hold (a published procedure name can be long: "Thủ tục đăng ký
# khai sinh kết hợp đăng ký nhận cha, mẹ, con …" runs past 200).
LIMITS = {
    "code": 32,            # as on the provincial list, e.g. "1.001193"
    "name_vi": 300,
    "name_en": 300,
    "documents": 4000,     # all documents, one per line
    "document": 400,       # one of them
    "processing_time": 120,  # as published: "Trong ngày", "05 ngày làm việc"
    "fee": 300,            # as published: "Miễn phí", "50.000 đồng/bản"
    "result_place": 200,
    "portal_url": 500,
}
MAX_PROCEDURES = 1000  # in one catalogue: a province's list for a commune is a few hundred


@dataclass(frozen=True)
class Procedure:
    """One administrative procedure as the centre publishes it. `service` is the code of its
    field (a service of the configuration); `documents` the papers to bring, in order."""
    id: int
    service: str
    name_vi: str
    name_en: str = ""
    code: str | None = None
    documents: tuple[str, ...] = ()
    processing_time: str = ""
    fee: str = ""
    result_place: str = ""
    portal_url: str = ""
    on_the_spot: bool = False
    position: int = 0
    hidden: bool = False

    def name(self, lang: str) -> str:
        """The name in `lang`, the Vietnamese one when it has no English name."""
        return self.name_en if lang == "en" and self.name_en else self.name_vi


def matches(procedure: Procedure, query: str) -> bool:
    """Every word of `query` begins a word of the procedure's names or code, diacritics and case
    aside ("dang ky khai sinh" and "khai sinh" both find "Đăng ký khai sinh"); an empty query
    matches everything."""
    wanted = search_words(query)
    words = search_words(" ".join((procedure.name_vi, procedure.name_en, procedure.code or "")))
    return all(any(w.startswith(q) for w in words) for q in wanted)


def search(procedures: list[Procedure], query: str) -> list[Procedure]:
    """The procedures `query` matches, in the catalogue's order, hidden ones left out."""
    return [p for p in procedures if not p.hidden and matches(p, query)]
