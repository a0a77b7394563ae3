"""The board's information slides: what they show and which one is on the screen. Pure
(stdlib and queuebox only), `now` passed in.

Under the newest call the board shows, in turn, the slides `display.slides` names: the previous
calls ("history"), each field's procedures page by page, a QR code of the lookup page, the board
message, the hotline. Their data comes only from the server: the retained `procedures/<service>`
summaries (`read_summary`) and the `lookup_url` of the `services` snapshot (`read_lookup_url`).

`deck` lists the slides that have something to show; `showing` says which of them is on the
screen at `now`: a new call shows the previous calls at once, for `highlight_s`, and the turn
then goes on from the slide after them, each slide for `slide_s`. `next_turn` is when the slide
changes by time alone, so the display sleeps until then and redraws nothing in between.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from display.board import CLIP, Board, Highlight, clean
from queuebox.catalogue import LIMITS, Procedure
from queuebox.config import Config

MAX_LOOKUP_URL = 300  # characters of the lookup page's address: a QR code of more gets too fine to scan across a hall
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)  # the turn's origin before any call


@dataclass(frozen=True)
class FieldSummary:
    """The procedures of one field (service) as its retained summary lists them, and how many
    more the server left out of the summary (`more`)."""
    service: str
    procedures: tuple[Procedure, ...] = ()
    more: int = 0


@dataclass(frozen=True)
class SlideSources:
    """What the slides show beyond the board: the summaries by field and the lookup page's address."""
    procedures: tuple[FieldSummary, ...] = ()
    lookup_url: str = ""

    def field(self, service: str) -> FieldSummary | None:
        return next((f for f in self.procedures if f.service == service), None)


@dataclass(frozen=True)
class Slide:
    """One slide: its kind (a name of `display.slides`) and, for procedures, the field and page."""
    kind: str
    service: str = ""
    page: int = 0
    pages: int = 1


    @property
    def name(self) -> str:
        """"history", "lookup" …; a procedures slide "procedures/<field>/<page from 0>"."""
        return f"{self.kind}/{self.service}/{self.page}" if self.kind == "procedures" else self.kind


HISTORY = Slide("history")


def read_summary(service: str, raw: dict[str, Any]) -> FieldSummary:
    """A FieldSummary from a `procedures/<service>` payload already checked by
    `queuebox.protocol_messages.parse_procedures`: texts cleaned and clipped to the catalogue's limits."""
    items = []
    for item in raw.get("procedures") or ():
        name = clean(item.get("name_vi"), LIMITS["name_vi"])
        if not name:
            continue
        items.append(Procedure(id=item.get("id") or 0, service=service, name_vi=name,
                               name_en=clean(item.get("name_en"), LIMITS["name_en"]),
                               code=clean(item.get("code"), LIMITS["code"]) or None,
                               processing_time=clean(item.get("processing_time"), LIMITS["processing_time"]),
                               fee=clean(item.get("fee"), LIMITS["fee"]), on_the_spot=item.get("on_the_spot") is True))
    more = raw.get("more")
    return FieldSummary(service, tuple(items), more if isinstance(more, int) and more > 0 else 0)


def read_lookup_url(raw: Any) -> str:
    """The `lookup_url` of a `services` snapshot, if it is an http(s) address; else ''."""
    url = clean(raw.get("lookup_url"), MAX_LOOKUP_URL + 1) if isinstance(raw, dict) else ""
    if len(url) > MAX_LOOKUP_URL or " " in url or not url.lower().startswith(("http://", "https://")):
        return ""
    return url


def with_summary(sources: SlideSources, service: str, summary: FieldSummary | None) -> SlideSources:
    """`sources` with the summary of `service` replaced (None: removed; an empty payload)."""
    kept = tuple(f for f in sources.procedures if f.service != service)
    if summary is not None and (summary.procedures or summary.more):
        kept += (summary,)
    return SlideSources(kept, sources.lookup_url)


def board_message(board: Board, config: Config) -> str:
    """The message the board shows: the server's, else the configured one."""
    return board.message or clean(config.display.message, CLIP["message"])


def deck(board: Board, config: Config, sources: SlideSources, per_page: int,
         kinds: tuple[str, ...] | None = None) -> tuple[Slide, ...]:
    """The slides of `display.slides` (or `kinds`) that have something to show, in that order; the
    procedures slide becomes one slide per page (`per_page` rows each, the "more" line counting
    as a row) of each field, fields in the centre's order. Never empty: the history stands in."""
    slides: list[Slide] = []
    for kind in config.display.slides if kinds is None else kinds:
        if kind == "history" and len(board.calls) > 1 and config.display.history > 0:
            slides.append(HISTORY)
        elif kind == "procedures":
            for summary in _in_field_order(sources.procedures, config):
                rows = len(summary.procedures) + (1 if summary.more else 0)
                pages = max(1, math.ceil(rows / max(1, per_page)))
                slides.extend(Slide("procedures", summary.service, page, pages) for page in range(pages))
        elif kind == "lookup" and sources.lookup_url:
            slides.append(Slide("lookup"))
        elif kind == "message" and board_message(board, config):
            slides.append(Slide("message"))
        elif kind == "hotline" and clean(config.site.hotline, 40):
            slides.append(Slide("hotline"))
    return tuple(slides) or (HISTORY,)


def _in_field_order(summaries: Iterable[FieldSummary], config: Config) -> list[FieldSummary]:
    order = {s.code: i for i, s in enumerate(config.services)}
    return sorted(summaries, key=lambda f: (order.get(f.service, len(order)), f.service))


def _anchor(highlight: Highlight | None, highlight_s: float) -> datetime:
    """When the turn (re)started: the end of the last call's highlight, else the epoch."""
    if highlight is None or highlight.since is None:
        return EPOCH
    return highlight.since + timedelta(seconds=highlight_s)


def showing(slides: tuple[Slide, ...], now: datetime, highlight: Highlight | None, config: Config) -> Slide:
    """The slide on the screen at `now`. While the newest call is highlighted (for
    `display.highlight_s` after it came) the previous calls show; then each slide for
    `display.slide_s` in turn, starting after the history, round and round."""
    anchor = _anchor(highlight, config.display.highlight_s)
    if highlight is not None and highlight.since is not None and highlight.since <= now < anchor:
        return HISTORY
    if len(slides) <= 1:
        return slides[0] if slides else HISTORY
    start = slides.index(HISTORY) + 1 if HISTORY in slides else 0
    turns = math.floor((now - anchor).total_seconds() / config.display.slide_s)
    return slides[(start + turns) % len(slides)]


def next_turn(now: datetime, highlight: Highlight | None, config: Config) -> datetime:
    """The next time `showing` may give another slide by time alone: the end of the highlight or
    the next turn of the slides."""
    anchor = _anchor(highlight, config.display.highlight_s)
    if now < anchor and highlight is not None and highlight.since is not None and highlight.since <= now:
        return anchor
    turns = math.floor((now - anchor).total_seconds() / config.display.slide_s) + 1
    return anchor + timedelta(seconds=turns * config.display.slide_s)


# --- a sample, for screenshots ---------------------------------------------------------------------

def sample_sources(config: Config) -> SlideSources:
    """Realistic procedures of a commune's land and civil-status fields (the first two services
    of `config`) and a lookup address, for `--sample` screenshots and docs."""
    codes = [s.code for s in config.services][:2] or ["A", "B"]
    land = (("Cấp Giấy chứng nhận quyền sử dụng đất, quyền sở hữu tài sản gắn liền với đất lần đầu",
             "Theo biểu phí của tỉnh", "30 ngày làm việc", False),
            ("Đăng ký biến động quyền sử dụng đất do chuyển nhượng, tặng cho, thừa kế", "Theo biểu phí của tỉnh",
             "10 ngày làm việc", False),
            ("Xác nhận tình trạng thửa đất", "Miễn phí", "03 ngày làm việc", False))
    civil = (("Đăng ký khai sinh", "Miễn phí", "Trong ngày", True),
             ("Chứng thực bản sao từ bản chính giấy tờ, văn bản do cơ quan có thẩm quyền cấp",
              "2.000 đồng/trang; từ trang thứ 3: 1.000 đồng/trang", "Trong ngày", True),
             ("Đăng ký kết hôn", "Miễn phí", "Trong ngày", False),
             ("Cấp bản sao trích lục hộ tịch", "8.000 đồng/bản", "Trong ngày", True),
             ("Chứng thực chữ ký trong các giấy tờ, văn bản", "10.000 đồng/trường hợp", "Trong ngày", True),
             ("Đăng ký khai tử", "Miễn phí", "Trong ngày", False))
    fields = []
    for n, (code, items) in enumerate(zip(codes[::-1], (civil, land))):
        fields.append(FieldSummary(code, tuple(
            Procedure(id=10 * n + i, service=code, name_vi=name, fee=fee, processing_time=time, on_the_spot=spot)
            for i, (name, fee, time, spot) in enumerate(items, 1))))
    return SlideSources(tuple(fields), "http://192.168.1.10:8081/procedures")
