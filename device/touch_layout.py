"""Where everything of the touch kiosk's screens goes, and what each text says. Pure: a
`TouchState` and a screen size in, a list of `Widget`s out; `hit` finds the button under a touch.

Sizes follow the screen's shorter side, so the same layout serves a 1280x800 landscape panel
(10.1", ~5.9 px per mm) and a 1080x1920 portrait stand (21.5", ~4 px per mm). Every button is
at least `min_target(w, h)` pixels on both sides: 96 px on those two screens, 16 mm and 24 mm,
above the 10 mm a thumb needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from device.touch_model import LOOKUP_SCREENS, TouchState

Tone = Literal["normal", "primary", "priority", "muted", "alert", "ok", "plain"]

TEXT: dict[str, tuple[str, str]] = {
    "invite": ("Chạm vào màn hình để lấy số", "Touch the screen to take a number"),
    "invite_priority": ("Phiếu ưu tiên: chạm vào lĩnh vực", "Priority ticket: touch a service"),
    "priority_who": ("Người cao tuổi, người khuyết tật, phụ nữ mang thai, người có con nhỏ",
                     "Elderly, disabled, pregnant, with a small child"),
    "priority": ("Ưu tiên", "Priority"),
    "groups": ("Phiếu ưu tiên: chọn đối tượng", "Priority ticket: choose your group"),
    "group_code": ("Mã {code}", "Code {code}"),
    "lookup": ("Tra cứu thủ tục", "Look up a procedure"),
    "lang": ("English", "Tiếng Việt"),
    "back": ("‹ Quay lại", "‹ Back"),
    "home": ("Về màn hình chính", "Back to start"),
    "closed": ("Đã hết giờ", "Closed now"),
    "waiting": ("{n} người đang chờ", "{n} waiting"),
    "nobody": ("Không có ai chờ", "No one waiting"),
    "about": ("khoảng {m} phút", "about {m} min"),
    "no_services": ("Đang kết nối máy chủ…", "Connecting to the server…"),
    "paper_out": ("Máy in hết giấy. Vui lòng báo cán bộ.", "The printer is out of paper. Please tell a staff member."),
    "offline": ("Máy in đang lỗi. Vui lòng báo cán bộ.", "The printer is not working. Please tell a staff member."),
    "write_failed": ("Máy in đang lỗi. Vui lòng báo cán bộ.", "The printer is not working. Please tell a staff member."),
    "busy": ("Đang in phiếu…", "Printing your ticket…"),
    "your_number": ("Số của bạn", "Your number"),
    "take_ticket": ("Mời nhận phiếu bên dưới", "Please take your ticket below"),
    "ahead": ("{n} người chờ trước bạn", "{n} ahead of you"),
    "ahead_none": ("Không có ai chờ trước bạn", "No one is ahead of you"),
    "done": ("Xong", "Done"),
    "refused_service_closed": ("Lĩnh vực này đã hết giờ nhận hồ sơ.", "This service is closed now."),
    "refused_daily_limit": ("Đã hết số của lĩnh vực này hôm nay.", "No more numbers for this service today."),
    "refused": ("Không lấy được số. Vui lòng báo cán bộ.", "No number could be given. Please tell a staff member."),
    "no_reply": ("Không kết nối được máy chủ. Vui lòng thử lại sau hoặc báo cán bộ.",
                 "The server does not answer. Please try again or tell a staff member."),
    "bad_reply": ("Không lấy được số. Vui lòng báo cán bộ.", "No number could be given. Please tell a staff member."),
    "print_failed": ("Số {label} đã được cấp nhưng không in được. Vui lòng báo cán bộ.",
                     "Number {label} was given but could not be printed. Please tell a staff member."),
    "printer_fault": ("Máy in đang lỗi, chưa in được phiếu. Vui lòng báo cán bộ.",
                      "The printer cannot print. Please tell a staff member."),
    "fields": ("Tra cứu thủ tục: chọn lĩnh vực", "Look up a procedure: choose a service"),
    "count": ("{n} thủ tục", "{n} procedures"),
    "none_here": ("Chưa có thủ tục nào.", "No procedures yet."),
    "prev": ("‹ Trang trước", "‹ Previous"),
    "next": ("Trang sau ›", "Next ›"),
    "page": ("Trang {p}/{n}", "Page {p}/{n}"),
    "fee": ("Lệ phí: {v}", "Fee: {v}"),
    "time": ("Thời hạn: {v}", "Processing time: {v}"),
    "spot": ("Giải quyết ngay trong ngày", "Done on the spot"),
    "documents": ("Giấy tờ cần mang:", "Documents to bring:"),
    "loading": ("Đang tải danh sách giấy tờ…", "Loading the documents…"),
    "fetch_failed": ("Hiện chưa in được danh sách giấy tờ. Vui lòng hỏi cán bộ.",
                     "The checklist cannot be printed now. Please ask a staff member."),
    "no_documents": ("Không cần giấy tờ.", "No documents needed."),
    "more_documents": ("… và {n} giấy tờ nữa (có trong phiếu in)", "… and {n} more (on the printout)"),
    "print_list": ("In danh sách giấy tờ", "Print the checklist"),
    "printing_list": ("Đang in danh sách…", "Printing…"),
    "printed_list": ("Đã in. Mời nhận phiếu bên dưới.", "Printed. Please take it below."),
    "list_failed": ("Không in được. Vui lòng báo cán bộ.", "Could not print. Please tell a staff member."),
    "take_here": ("Lấy số lĩnh vực này", "Take a number here"),
}


def say(lang: str, key: str, **values: Any) -> str:
    """The text `key` in `lang` (vi or en), with `values` filled in."""
    vi, en = TEXT[key]
    return (en if lang == "en" else vi).format(**values)


@dataclass(frozen=True)
class Rect:
    x: int
    y: int
    w: int
    h: int

    def contains(self, px: int, py: int) -> bool:
        return self.x <= px < self.x + self.w and self.y <= py < self.y + self.h

    @property
    def centre(self) -> tuple[int, int]:
        return self.x + self.w // 2, self.y + self.h // 2


@dataclass(frozen=True)
class Line:
    """A text and its largest size in pixels; the renderer shrinks it (to half) and wraps it
    on up to `lines` lines to fit its widget."""
    text: str
    size: int
    bold: bool = False
    lines: int = 2


@dataclass(frozen=True)
class Widget:
    """A box on the screen: a button when it has an `action` and is `enabled`, else text."""
    rect: Rect
    lines: tuple[Line, ...]
    action: tuple[Any, ...] | None = None
    enabled: bool = True
    tone: Tone = "plain"
    align: Literal["centre", "left"] = "centre"
    name: str = ""  # what tests and the simulation call it: "tile:A", "priority", "back" …
    group: str = ""  # widgets of one group ("tiles") are drawn at one text size, that of the fullest

    @property
    def button(self) -> bool:
        return self.action is not None


def min_target(w: int, h: int) -> int:
    """The smallest side of any button on a `w`x`h` screen, in pixels."""
    return max(96, min(w, h) // 9)


def hit(widgets: list[Widget], x: int, y: int) -> Widget | None:
    """The enabled button at (`x`, `y`), or None (a touch there does nothing)."""
    return next((wd for wd in widgets if wd.button and wd.enabled and wd.rect.contains(x, y)), None)


def find(widgets: list[Widget], name: str) -> Widget | None:
    return next((wd for wd in widgets if wd.name == name), None)


class _Grid:
    """Sizes of one screen: `u` is a hundredth of the shorter side."""

    def __init__(self, w: int, h: int) -> None:
        self.w, self.h = w, h
        self.portrait = h > w
        self.u = min(w, h) / 100
        self.pad = round(2 * self.u)
        self.target = min_target(w, h)
        self.bar = max(self.target + self.pad, round(h * (0.075 if self.portrait else 0.13)))

    def px(self, units: float) -> int:
        return round(units * self.u)


def layout(state: TouchState, w: int, h: int) -> list[Widget]:
    """The widgets of `state.screen` on a `w`x`h` screen, drawn in order."""
    g = _Grid(w, h)
    screen = state.screen
    if screen == "result":
        return _result(state, g)
    if screen in LOOKUP_SCREENS:
        return {"fields": _fields, "procedures": _procedures, "procedure": _procedure}[screen](state, g)
    if screen == "groups":
        return _groups(state, g)
    return _home(state, g, priority=screen == "priority")


def _header(state: TouchState, g: _Grid, title: str, *, back: bool) -> tuple[list[Widget], int]:
    """The top bar: a back button (or nothing), the title, the language switch; its bottom y."""
    lang = state.lang
    side = max(g.target * 2, round(g.w * 0.2))
    out = []
    left = g.pad
    if back:
        out.append(Widget(Rect(g.pad, g.pad, side, g.bar - g.pad), (Line(say(lang, "back"), g.px(4.2), True, 1),),
                          ("home",) if state.screen in ("groups", "fields") else ("back",), tone="normal",
                          name="back"))
        left += side + g.pad
    right = g.w - g.pad - side
    out.append(Widget(Rect(left, g.pad, right - left - g.pad, g.bar - g.pad), (Line(title, g.px(5), True, 2),),
                      align="left" if back else "centre"))
    out.append(Widget(Rect(right, g.pad, side, g.bar - g.pad), (Line(say(lang, "lang"), g.px(4.2), False, 1),),
                      ("lang",), tone="normal", name="lang"))
    return out, g.bar + g.pad


def _columns(count: int, g: _Grid) -> int:
    if g.portrait:
        return 1 if count <= 5 else 2
    return 1 if count <= 1 else 2 if count <= 4 else 3


def _tiles(state: TouchState, g: _Grid, top: int, bottom: int, *, lookup: bool = False,
           priority: bool = False) -> list[Widget]:
    """A tile per service filling the box between `top` and `bottom`."""
    lang = state.lang
    services = state.services
    if not services:
        return [Widget(Rect(g.pad, top, g.w - 2 * g.pad, bottom - top), (Line(say(lang, "no_services"), g.px(5)),))]
    cols = _columns(len(services), g)
    rows = -(-len(services) // cols)
    cell_w = (g.w - g.pad * (cols + 1)) // cols
    cell_h = min((bottom - top - g.pad * (rows - 1)) // rows, round(cell_w * (0.5 if g.portrait else 0.75)))
    out = []
    name_size = g.px(6.5 if rows <= 3 else 5)
    for i, tile in enumerate(services):
        r, c = divmod(i, cols)
        rect = Rect(g.pad + c * (cell_w + g.pad), top + r * (cell_h + g.pad), cell_w, cell_h)
        other = tile.name_vi if lang == "en" else tile.name_en
        lines = [Line(tile.name(lang), name_size, True, 2)]
        if other and other != tile.name(lang):
            lines.append(Line(other, g.px(3.4), False, 1))
        if lookup:
            lines.append(Line(say(lang, "count", n=len(state.procedures.get(tile.code, ()))), g.px(3.6)))
            out.append(Widget(rect, tuple(lines), ("field", tile.code), tone="normal", name=f"field:{tile.code}",
                              group="tiles"))
            continue
        if not tile.open:
            lines.append(Line(say(lang, "closed"), g.px(4.2), True, 1))
            out.append(Widget(rect, tuple(lines), ("take", tile.code, priority), enabled=False, tone="muted",
                              name=f"tile:{tile.code}", group="tiles"))
            continue
        waiting = state.waiting.get(tile.code)
        if waiting is not None:
            text = say(lang, "waiting", n=waiting) if waiting else say(lang, "nobody")
            minutes = state.estimate_min(tile.code)
            if waiting and minutes is not None:
                text += f" · {say(lang, 'about', m=minutes)}"
            lines.append(Line(text, g.px(4), False, 1))
        out.append(Widget(rect, tuple(lines), ("take", tile.code, priority), enabled=state.can_take(),
                          tone="priority" if priority else "primary", name=f"tile:{tile.code}", group="tiles"))
    return out


def _priority_name(state: TouchState, lang: str, group: str | None) -> str:
    """ "Ưu tiên", or "Ưu tiên · Người cao tuổi" for a ticket of a priority group."""
    tile = state.priority_group(group)
    return f"{say(lang, 'priority')} · {tile.name(lang)}" if tile else say(lang, "priority")


def _groups(state: TouchState, g: _Grid) -> list[Widget]:
    """A large button per priority group: its name in the screen's language, its code small."""
    lang = state.lang
    out, top = _header(state, g, say(lang, "groups"), back=True)
    groups = state.groups
    cols = 1 if g.portrait or len(groups) <= 3 else 2
    rows = max(1, -(-len(groups) // cols))
    cell_w = (g.w - g.pad * (cols + 1)) // cols
    cell_h = min((g.h - g.pad - top - g.pad * (rows - 1)) // rows, round(g.h * (0.14 if g.portrait else 0.3)))
    for i, group in enumerate(groups):
        r, c = divmod(i, cols)
        rect = Rect(g.pad + c * (cell_w + g.pad), top + r * (cell_h + g.pad), cell_w, cell_h)
        lines = (Line(group.name(lang), g.px(6), True, 2), Line(say(lang, "group_code", code=group.code), g.px(3.4)))
        out.append(Widget(rect, lines, ("group", group.code), enabled=state.can_take(), tone="priority",
                          name=f"group:{group.code}", group="groups"))
    return out


def _home(state: TouchState, g: _Grid, *, priority: bool) -> list[Widget]:
    lang = state.lang
    out, top = _header(state, g, _priority_name(state, lang, state.group) if priority else "", back=priority)
    if not priority:  # the centre's name is not known here: the header holds the language switch only
        out = [wd for wd in out if wd.name]
    band = round(g.h * (0.07 if g.portrait else 0.1))
    if state.fault:
        out.append(Widget(Rect(g.pad, top, g.w - 2 * g.pad, band), (Line(say(lang, state.fault), g.px(5), True, 2),),
                          tone="alert", name="fault"))
    else:
        invite = say(lang, "invite_priority" if priority else "invite")
        lines = [Line(invite, g.px(6), True, 1)]
        if priority and state.group is None:  # with a group, the title names it
            lines.append(Line(say(lang, "priority_who"), g.px(3.4), False, 1))
        out.append(Widget(Rect(g.pad, top, g.w - 2 * g.pad, band), tuple(lines), name="invite"))
    top += band + g.pad
    bottom = g.h - g.pad if priority else g.h - g.bar - 2 * g.pad
    out += _tiles(state, g, top, bottom, priority=priority)
    if not priority:
        half = (g.w - 3 * g.pad) // 2
        y = g.h - g.bar - g.pad
        out.append(Widget(Rect(g.pad, y, half, g.bar), (Line(say(lang, "priority"), g.px(5.5), True, 1),
                                                        Line(say(lang, "priority_who"), g.px(2.8), False, 2)),
                          ("goto", "priority"), enabled=state.can_take(), tone="priority", name="priority"))
        out.append(Widget(Rect(2 * g.pad + half, y, half, g.bar), (Line(say(lang, "lookup"), g.px(5.5), True, 1),),
                          ("goto", "fields"), tone="normal", name="lookup"))
    return out


def _result(state: TouchState, g: _Grid) -> list[Widget]:
    lang = state.lang
    r = state.result
    out: list[Widget] = []
    if r is None:
        return out
    tile = state.service(r.service)
    name = tile.name(lang) if tile else r.service
    box = Rect(g.pad, g.pad, g.w - 2 * g.pad, g.h - g.bar - 3 * g.pad)
    head = [Line(name, g.px(6), True, 2)]
    if r.priority:
        head.append(Line(_priority_name(state, lang, r.group or None), g.px(4.5), True, 1))
    if r.state == "printing":
        body = head + [Line(say(lang, "busy"), g.px(9), True, 1)]
        return [Widget(box, tuple(body), name="printing")]
    if r.state == "printed":
        ahead = say(lang, "ahead", n=r.ahead) if r.ahead else say(lang, "ahead_none")
        if r.ahead and r.wait_min is not None:
            ahead += f" · {say(lang, 'about', m=r.wait_min)}"
        body = head + [Line(say(lang, "your_number"), g.px(5)), Line(r.label, g.px(26), True, 1),
                       Line(say(lang, "take_ticket"), g.px(6), True, 1), Line(ahead, g.px(4.5), False, 1)]
        out.append(Widget(box, tuple(body), tone="plain", name="printed"))
    else:
        key = {"refused": f"refused_{r.code}" if f"refused_{r.code}" in TEXT else "refused"}.get(r.state, r.state)
        message = say(lang, key if key in TEXT else "refused", label=r.label)
        out.append(Widget(box, tuple(head + [Line(message, g.px(6.5), True, 3)]), tone="alert", name="not_printed"))
    width = max(g.target * 3, g.w // 3)
    out.append(Widget(Rect((g.w - width) // 2, g.h - g.bar - g.pad, width, g.bar),
                      (Line(say(lang, "done"), g.px(6), True, 1),), ("home",), tone="normal", name="done"))
    return out


def _fields(state: TouchState, g: _Grid) -> list[Widget]:
    out, top = _header(state, g, say(state.lang, "fields"), back=True)
    return out + _tiles(state, g, top, g.h - g.pad, lookup=True)


def rows_per_page(g_w: int, g_h: int) -> int:
    """How many procedures one page of the list shows on a `g_w`x`g_h` screen."""
    g = _Grid(g_w, g_h)
    room = g.h - 2 * (g.bar + g.pad) - 2 * g.pad
    return max(1, room // (max(g.target, g.px(13)) + g.pad))


def _procedures(state: TouchState, g: _Grid) -> list[Widget]:
    lang = state.lang
    tile = state.service(state.field_code)
    items = state.procedures.get(state.field_code or "", ())
    out, top = _header(state, g, tile.name(lang) if tile else "", back=True)
    per = rows_per_page(g.w, g.h)
    pages = max(1, -(-len(items) // per))
    page = min(state.page, pages - 1)
    row_h = max(g.target, g.px(13))
    if not items:
        out.append(Widget(Rect(g.pad, top, g.w - 2 * g.pad, row_h), (Line(say(lang, "none_here"), g.px(5)),)))
    for i, item in enumerate(items[page * per:(page + 1) * per]):
        name = item.get("name_en") if lang == "en" and item.get("name_en") else item["name_vi"]
        rect = Rect(g.pad, top + i * (row_h + g.pad), g.w - 2 * g.pad, row_h)
        out.append(Widget(rect, (Line(name, g.px(4.4), True, 2),), ("procedure", item), tone="normal",
                          align="left", name=f"procedure:{item['id']}"))
    if pages > 1:
        y = g.h - g.bar - g.pad
        side = max(g.target * 2, g.w // 4)
        out.append(Widget(Rect(g.pad, y, side, g.bar), (Line(say(lang, "prev"), g.px(4.4), True, 1),),
                          ("page", page - 1), enabled=page > 0, tone="normal", name="prev"))
        out.append(Widget(Rect(g.pad + side, y, g.w - 2 * (g.pad + side), g.bar),
                          (Line(say(lang, "page", p=page + 1, n=pages), g.px(4)),)))
        out.append(Widget(Rect(g.w - g.pad - side, y, side, g.bar), (Line(say(lang, "next"), g.px(4.4), True, 1),),
                          ("page", page + 1), enabled=page + 1 < pages, tone="normal", name="next"))
    return out


def _procedure(state: TouchState, g: _Grid) -> list[Widget]:
    lang = state.lang
    item = state.procedure or {}
    name = item.get("name_en") if lang == "en" and item.get("name_en") else item.get("name_vi", "")
    out, top = _header(state, g, name, back=True)
    facts = []
    if item.get("fee"):
        facts.append(Line(say(lang, "fee", v=item["fee"]), g.px(4.2), True, 2))
    if item.get("processing_time"):
        facts.append(Line(say(lang, "time", v=item["processing_time"]), g.px(4.2), True, 2))
    if item.get("on_the_spot"):
        facts.append(Line(say(lang, "spot"), g.px(4.2), True, 1))
    facts_h = round(g.px(4.2) * 1.3) * max(1, len(facts)) + g.pad
    out.append(Widget(Rect(g.pad, top, g.w - 2 * g.pad, facts_h), tuple(facts), align="left"))
    top += facts_h + g.pad
    bottom = g.h - g.bar - 2 * g.pad
    out += _documents(state, g, Rect(g.pad, top, g.w - 2 * g.pad, bottom - top))
    y = g.h - g.bar - g.pad
    half = (g.w - 3 * g.pad) // 2
    list_key = {"printing": "printing_list", "printed": "printed_list", "failed": "list_failed"}.get(
        state.checklist or "", "print_list")
    out.append(Widget(Rect(g.pad, y, half, g.bar), (Line(say(lang, list_key), g.px(4.6), True, 2),), ("checklist",),
                      enabled=state.detail is not None and state.can_take() and state.checklist is None,
                      tone="normal", name="checklist"))
    tile = state.service(state.field_code)
    out.append(Widget(Rect(2 * g.pad + half, y, half, g.bar), (Line(say(lang, "take_here"), g.px(4.6), True, 2),),
                      ("take", state.field_code, False), enabled=bool(tile and tile.open) and state.can_take(),
                      tone="primary", name="take_here"))
    return out


def _documents(state: TouchState, g: _Grid, box: Rect) -> list[Widget]:
    """The documents of the procedure shown, as many as fit in `box`; the rest counted."""
    lang = state.lang
    size = g.px(3.8)
    if state.detail_status == "loading":
        return [Widget(box, (Line(say(lang, "loading"), size),), align="left", name="documents")]
    if state.detail_status == "failed" or state.detail is None:
        return [Widget(box, (Line(say(lang, "fetch_failed"), g.px(4.2), True, 3),), tone="alert", name="documents")]
    documents = list(state.detail.get("documents") or [])
    row = round(size * 1.6)  # a document on one line (a long one takes two: the renderer shrinks them to fit)
    fits = max(1, (box.h - 2 * row) // row)
    shown = documents if len(documents) <= fits else documents[:fits - 1]
    lines = [Line(say(lang, "documents"), g.px(4.2), True, 1)]
    lines += [Line(f"• {d}", size, False, 2) for d in shown] or [Line(say(lang, "no_documents"), size)]
    if len(shown) < len(documents):
        lines.append(Line(say(lang, "more_documents", n=len(documents) - len(shown)), size, False, 1))
    return [Widget(box, tuple(lines), align="left", name="documents")]
