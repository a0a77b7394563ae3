"""The printed ticket: what it says (`compose`) and how it looks (`TicketRenderer`), as a
1-bit Pillow image for 58 mm (384 dots) or 80 mm (576 dots) paper at 203 dpi.

Pure: no files, no clock, no printer. The fonts come in opened by the caller
(`device.fonts.read_fonts`); the time printed is the ticket's `issued_at` from the server.
Pillow is the one outside import: DESIGN.md §2 makes this module "PURE ticket layout ->
Pillow 1-bit image" (Vietnamese is drawn as pixels, so it prints on every printer).

The QR code with the status URL is not in the image: the printer draws it natively after
the image (`device.printer`), so the image ends with the line inviting to scan it.

Text is normalised to NFC (precomposed Vietnamese letters) and laid out with Pillow's
basic layout: one glyph per character, which is what `missing_glyphs` checks.
"""

from __future__ import annotations

import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Literal, Mapping

from PIL import Image, ImageDraw, ImageFont

from queuebox.config import Config, PriorityGroupConfig, ServiceConfig
from queuebox.text import wrap_words

PAPER_WIDTH_PX = {58: 384, 80: 576}  # printable dots per line at 203 dpi
WEEKDAYS_VI = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật")
WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_THRESHOLD = [0] * 140 + [255] * 116  # grey below 140 prints black: a shade bolder than half-way
_NOTDEF_PROBE = "\U0010FFFD"  # a private-use code point no text font maps: it draws .notdef

Style = Literal["regular", "bold"]
Role = Literal["centre", "service", "service_en", "caption", "label", "mark", "body", "body_en", "small"]

# Font size in pixels of each role, per paper width. 58 mm paper is narrow, but text under
# ~18 px (2.2 mm) is hard to read for the elderly, so it shrinks less than the paper. Few
# distinct sizes: each (font, size) Pillow loads keeps its own copy of the font (~0.7 MB).
SIZES: dict[int, dict[str, int]] = {
    576: {"centre": 26, "service": 36, "service_en": 22, "caption": 22, "label": 170, "mark": 26,
          "body": 26, "body_en": 22, "small": 22},
    384: {"centre": 20, "service": 27, "service_en": 18, "caption": 18, "label": 118, "mark": 20,
          "body": 20, "body_en": 18, "small": 18},
}


@dataclass(frozen=True)
class TicketInfo:
    """One issued ticket, as the server's reply describes it (DESIGN.md §4 `kiosk/<kiosk>/reply`)."""
    label: str
    service: str
    service_name: str
    issued_at: datetime  # zone-aware, in the centre's zone
    waiting_ahead: int
    estimated_wait_min: int | None
    status_url: str
    priority: bool = False
    service_name_en: str = ""
    group: str | None = None  # the code of its priority group (e.g. CT); None: none
    group_name: str = ""  # the group's Vietnamese name, printed under the priority mark
    group_name_en: str = ""

    @classmethod
    def from_reply(cls, ticket: Mapping[str, Any]) -> TicketInfo:
        """The `ticket` object of an ok reply; ValueError naming the field if it is unusable."""
        if not isinstance(ticket, Mapping):
            raise ValueError(f"ticket must be an object, not {ticket!r}")
        def get(key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
            value = ticket.get(key, default)
            if value is ...:
                raise ValueError(f"ticket.{key} is missing")
            if value is not default and (not isinstance(value, kind) or isinstance(value, bool) and kind is int):
                raise ValueError(f"ticket.{key} has the wrong type: {value!r}")
            return value

        label = get("label", str)
        if not label.strip():
            raise ValueError("ticket.label is empty")
        try:
            issued_at = datetime.fromisoformat(get("issued_at", str))
        except ValueError:
            raise ValueError(f"ticket.issued_at is not an ISO-8601 time: {ticket.get('issued_at')!r}") from None
        if issued_at.tzinfo is None:
            raise ValueError("ticket.issued_at has no UTC offset")
        ahead = get("waiting_ahead", int)
        wait = get("estimated_wait_min", int, None)
        if ahead < 0 or (wait is not None and wait < 0):
            raise ValueError("ticket.waiting_ahead and estimated_wait_min must not be negative")
        return cls(label=label, service=get("service", str), service_name=get("service_name", str),
                   service_name_en=get("service_name_en", str, "") or "", priority=get("priority", bool, False),
                   issued_at=issued_at, waiting_ahead=ahead, estimated_wait_min=wait,
                   status_url=get("status_url", str, "") or "", group=get("group", str, None),
                   group_name=get("group_name", str, None) or "", group_name_en=get("group_name_en", str, None) or "")


@dataclass(frozen=True)
class SiteText:
    """What every ticket of a centre prints besides the ticket itself."""
    centre: str
    hotline: str = ""
    languages: tuple[str, ...] = ("vi", "en")

    @classmethod
    def from_config(cls, config: Config) -> SiteText:
        return cls(centre=config.site.name, hotline=config.site.hotline, languages=tuple(config.site.languages))


@dataclass(frozen=True)
class Block:
    """One piece of the ticket, top to bottom. `text` blocks wrap at spaces; a `label` is
    shrunk to fit on one line; a `mark` is white text in a black box; a `rule` a line; an
    `item` is left-aligned text after a drawn check box, its next lines indented under the text.
    `own` marks what belongs to one ticket (its label, time and counts): the renderer
    draws it anew instead of keeping its rows for the next ticket."""
    kind: Literal["text", "label", "mark", "rule", "space", "item"]
    text: str = ""
    style: Style = "regular"
    role: Role = "body"
    pixels: int = 0  # height of a `space`
    own: bool = False


def _bilingual(languages: tuple[str, ...], vi: str, en: str) -> list[tuple[str, str]]:
    """(language, text) in the configured order, main language first."""
    texts = {"vi": vi, "en": en}
    chosen = [(lang, texts[lang]) for lang in languages if lang in texts and texts[lang]]
    return chosen or [("vi", vi)]


def _people_ahead(n: int) -> tuple[str, str]:
    if n == 0:
        return "Không có ai chờ trước bạn", "No one is ahead of you"
    return f"{n} người đang chờ trước bạn", f"{n} {'person' if n == 1 else 'people'} ahead of you"


def compose(info: TicketInfo, site: SiteText) -> list[Block]:
    """The ticket's content, top to bottom, in the site's languages (the first is the main one)."""
    langs = site.languages or ("vi",)
    english = "en" in langs

    def lines(vi: str, en: str, *, main: Role = "body", second: Role = "body_en", style: Style = "regular",
              second_style: Style = "regular", own: bool = False) -> list[Block]:
        out = []
        for i, (_, text) in enumerate(_bilingual(langs, vi, en)):
            out.append(Block("text", text, style if i == 0 else second_style, main if i == 0 else second, own=own))
        return out

    blocks = [Block("text", site.centre, "regular", "centre"), Block("rule")]
    en_name = info.service_name_en if english else ""
    blocks += lines(info.service_name, en_name or (info.service_name if langs[0] == "en" else ""),
                    main="service", second="service_en", style="bold")
    blocks += [Block("space", pixels=6)]
    blocks += [Block("text", " / ".join(t for _, t in _bilingual(langs, "Số thứ tự", "Your number")),
                     "regular", "caption")]
    blocks.append(Block("label", info.label, "bold", "label", own=True))
    if info.priority:
        blocks.append(Block("mark", " · ".join(t for _, t in _bilingual(langs, "ƯU TIÊN", "PRIORITY")), "bold", "mark"))
    if info.priority and info.group:
        name = info.group_name or info.group
        blocks += [Block("space", pixels=4)]
        blocks += lines(f"{info.group} · {name}", info.group_name_en if english else "", style="bold")
    when = info.issued_at
    blocks += [Block("space", pixels=6),
               Block("text", f"{(WEEKDAYS_VI if langs[0] == 'vi' else WEEKDAYS_EN)[when.weekday()]}, "
                     f"{when:%d/%m/%Y} – {when:%H:%M}", "regular", "body", own=True),
               Block("space", pixels=8)]
    blocks += lines(*_people_ahead(info.waiting_ahead), style="bold", own=True)
    if info.waiting_ahead and info.estimated_wait_min is not None:
        blocks += lines(f"Dự kiến chờ khoảng {info.estimated_wait_min}\u00a0phút",
                        f"Estimated wait: about {info.estimated_wait_min}\u00a0min", own=True)
    blocks += [Block("rule")]
    blocks += lines("Vui lòng theo dõi màn hình và loa gọi số.", "Please watch the screen for your number.",
                    main="small", second="small")
    blocks += lines("Phiếu chỉ có giá trị trong ngày.", "Valid today only.", main="small", second="small")
    if site.hotline:
        blocks += [Block("space", pixels=4)]
        blocks += lines(f"Đường dây nóng: {site.hotline}", f"Hotline: {site.hotline}", main="small", second="small")
    if info.status_url:
        blocks += [Block("rule")]
        blocks += lines("Quét mã để theo dõi lượt của bạn", "Scan to follow your turn", main="small", second="small")
    return blocks


def texts(blocks: list[Block]) -> list[tuple[Style, str]]:
    """Every (style, text) the blocks draw: what must have glyphs in the fonts."""
    return [(b.style, b.text) for b in blocks if b.text]


@dataclass(frozen=True)
class FontData:
    """The two TrueType fonts, as the caller opens them: `open(style, size)` is the font of
    that style at `size` pixels with Pillow's basic layout; the names say where they came from."""
    open: Callable[[Style, int], ImageFont.FreeTypeFont]
    regular_name: str = "regular"
    bold_name: str = "bold"


class TicketRenderer:
    """Draws tickets `width_px` wide (384 or 576) with `fonts`.

    Keeps the sized fonts it made and the rows it drew of the lines every ticket shares
    (centre, service names, instructions, footer; up to `ROW_CACHE` rows). A ticket's own
    blocks (`Block.own`: label, time, counts) are not kept with them: a full-width row is
    one byte per dot (a label ~110 KB), and keeping each ticket's grew a kiosk by ~0.12 MB
    a ticket, 25 MB after 200 tickets. The label is always drawn anew; the time and counts
    repeat on the next tickets, so the last `RECENT_ROWS` of those are kept (~0.6 MB).
    """

    MARGIN = 12
    LINE_GAP = 4
    ROW_CACHE = 128  # the shared lines of a centre's tickets are ~40 rows; a bound, in case names change
    RECENT_ROWS = 32

    def __init__(self, fonts: FontData, width_px: int) -> None:
        if width_px not in SIZES:
            raise ValueError(f"paper width must be one of {sorted(SIZES)} pixels, not {width_px}")
        self.fonts = fonts
        self.width = width_px
        self.sizes = SIZES[width_px]
        self._fonts: dict[tuple[Style, int], ImageFont.FreeTypeFont] = {}
        self._rows: dict[Block, list[Image.Image]] = {}
        self._recent: OrderedDict[Block, list[Image.Image]] = OrderedDict()  # own rows, least recent first

    def font(self, style: Style, size: int) -> ImageFont.FreeTypeFont:
        """The font of `style` at `size` pixels (made once)."""
        key = (style, size)
        if key not in self._fonts:
            self._fonts[key] = self.fonts.open(style, size)
        return self._fonts[key]

    def render(self, info: TicketInfo, site: SiteText) -> Image.Image:
        """The ticket as a mode "1" image `width_px` wide (black ink is 0, paper 1)."""
        return self.draw(compose(info, site))

    def draw(self, blocks: list[Block]) -> Image.Image:
        """The blocks, top to bottom, as one mode "1" image."""
        rows = [row for block in blocks for row in self.rows(block)]
        image = Image.new("1", (self.width, sum(r.height for r in rows) + 2 * self.MARGIN), 1)
        y = self.MARGIN
        for row in rows:
            image.paste(row, (0, y))
            y += row.height
        return image

    def rows(self, block: Block) -> list[Image.Image]:
        """The full-width row images `block` takes (a wrapped text takes several)."""
        if block.own:
            return self._recent_rows(block)
        rows = self._rows.get(block)
        if rows is None:
            if len(self._rows) >= self.ROW_CACHE:
                self._rows.clear()
            rows = self._rows[block] = self._draw_rows(block)
        return rows

    def _recent_rows(self, block: Block) -> list[Image.Image]:
        if block.kind == "label":  # one ticket's alone
            return self._draw_rows(block)
        rows = self._recent.get(block)
        if rows is None:
            rows = self._recent[block] = self._draw_rows(block)
            if len(self._recent) > self.RECENT_ROWS:
                self._recent.popitem(last=False)
        else:
            self._recent.move_to_end(block)
        return rows

    # --- layout ---------------------------------------------------------------------

    def _draw_rows(self, block: Block) -> list[Image.Image]:
        inner = self.width - 2 * self.MARGIN
        if block.kind == "space":
            return [Image.new("1", (self.width, block.pixels), 1)]
        if block.kind == "rule":
            row = Image.new("1", (self.width, 16), 1)
            ImageDraw.Draw(row).line([(self.MARGIN, 7), (self.width - self.MARGIN, 7)], fill=0, width=2)
            return [row]
        text = unicodedata.normalize("NFC", block.text)
        size = self.sizes[block.role]
        if block.kind == "label":
            return [self._centred(self._fitting(block.style, size, text, inner), text)]
        if block.kind == "mark":
            return [self._inverted(self._fitting(block.style, size, text, inner - 40), text)]
        font = self.font(block.style, size)
        if block.kind == "item":
            return self._item(font, text, inner)
        return [self._centred(font, line) for line in _wrap(text, font, inner)]

    def _item(self, font: ImageFont.FreeTypeFont, text: str, inner: int) -> list[Image.Image]:
        """A document of a checklist: a box drawn as lines (no font needs a glyph for it), the
        text after it, its next lines under the text."""
        side = int(font.size * 0.7)
        indent = side + int(font.size * 0.5)
        rows = []
        for i, line in enumerate(_greedy(text, font, inner - indent)):
            above, below = self._extent(font, line)
            row = self.text_image(font, line, (self.width, above + below + self.LINE_GAP),
                                  (self.MARGIN + indent, above), anchor="ls")
            if i == 0:
                ImageDraw.Draw(row).rectangle([self.MARGIN, above - side, self.MARGIN + side, above], outline=0,
                                              width=2)
            rows.append(row)
        return rows

    def _fitting(self, style: Style, size: int, text: str, width: int) -> ImageFont.FreeTypeFont:
        """The font at `size`, or smaller until `text` fits in `width` on one line."""
        font = self.font(style, size)
        while size > 10 and font.getlength(text) > width:
            size = int(size * 0.9)
            font = self.font(style, size)
        return font

    @staticmethod
    def _extent(font: ImageFont.FreeTypeFont, text: str) -> tuple[int, int]:
        """(above, below) the baseline that a row of `text` needs: at least the font's ascent
        and descent, more where stacked Vietnamese marks (Ễ, Ỗ) rise higher."""
        ascent, descent = font.getmetrics()
        _, top, _, bottom = font.getbbox(text, anchor="ls") if text else (0, 0, 0, 0)
        return max(ascent, 1 - top), max(descent, bottom + 1)

    # Text is drawn anti-aliased in greyscale, then cut at a threshold to black and white.
    # Drawing straight into a "1" image uses FreeType's monochrome hinting, which at 18-20 px
    # drops the horn of Ư/ư in DejaVu Sans Bold (ƯU TIÊN printed as "UU TIÊN").

    @staticmethod
    def text_image(font: ImageFont.FreeTypeFont, text: str, size: tuple[int, int], origin: tuple[int, int], *,
                   anchor: str = "ms", inverted: bool = False) -> Image.Image:
        """`text` as the ticket prints it, in a mode "1" image of `size`: black on white
        (white on black if `inverted`), drawn at `origin` with Pillow's `anchor`."""
        canvas = Image.new("L", size, 0 if inverted else 255)
        ImageDraw.Draw(canvas).text(origin, text, font=font, fill=255 if inverted else 0, anchor=anchor)
        return canvas.point(_THRESHOLD, "1")

    def _centred(self, font: ImageFont.FreeTypeFont, text: str) -> Image.Image:
        above, below = self._extent(font, text)
        return self.text_image(font, text, (self.width, above + below + self.LINE_GAP), (self.width // 2, above))

    def _inverted(self, font: ImageFont.FreeTypeFont, text: str) -> Image.Image:
        above, below = self._extent(font, text)
        pad = 8
        box_w = int(font.getlength(text)) + 4 * pad
        box_h = above + below + 2 * pad
        box = self.text_image(font, text, (box_w, box_h), (box_w // 2, pad + above), inverted=True)
        row = Image.new("1", (self.width, box_h + self.LINE_GAP + 4), 1)
        row.paste(box, ((self.width - box_w) // 2, 0))
        return row


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """`text` broken at spaces into as few lines as fit in `width`, balanced (the narrowest
    width that still needs no more lines), so no word is left alone on the last line. A
    no-break space (U+00A0) keeps two words together; it prints as a space."""
    lines = _greedy(text, font, width)
    if len(lines) > 1:
        low, high = 1, width
        while low < high:
            middle = (low + high) // 2
            if len(_greedy(text, font, middle)) <= len(lines):
                high = middle
            else:
                low = middle + 1
        lines = _greedy(text, font, low)
    return [line.replace("\u00a0", " ") for line in lines]


def _greedy(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """As many words on each line as fit; a word wider than a line is cut between characters."""
    return wrap_words(text, width, font.getlength) or [""]


# --- checks and samples ---------------------------------------------------------------

def missing_glyphs(font: ImageFont.FreeTypeFont, text: str) -> list[str]:
    """The characters of `text` (NFC) that `font` has no glyph for: they would print as the
    font's .notdef box. Found by comparing each character's rendered mask with the mask of
    a code point no font maps; white space is skipped."""
    def signature(ch: str) -> tuple[tuple[int, int], bytes]:
        mask = font.getmask(ch)
        return mask.size, bytes(mask)

    notdef = signature(_NOTDEF_PROBE)
    return sorted({ch for ch in unicodedata.normalize("NFC", text)
                   if not ch.isspace() and signature(ch) == notdef})


def sample_ticket(service: ServiceConfig, issued_at: datetime, public_url: str, *, sequence: int = 23,
                  waiting_ahead: int = 4, priority: bool = False,
                  group: PriorityGroupConfig | None = None) -> TicketInfo:
    """A plausible ticket of `service` for previews: its `sequence`-th label of the day,
    the wait estimated from the service's minutes per citizen; a `group` makes it priority."""
    return TicketInfo(label=service.label(sequence), service=service.code, service_name=service.name_vi,
                      service_name_en=service.name_en, priority=priority or group is not None, issued_at=issued_at,
                      group=group.code if group else None, group_name=group.name_vi if group else "",
                      group_name_en=group.name_en if group else "",
                      waiting_ahead=waiting_ahead, estimated_wait_min=waiting_ahead * service.service_min,
                      status_url=f"{public_url.rstrip('/')}/t/preview{sequence:04d}")
