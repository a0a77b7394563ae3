"""What a counter display draws: pure (stdlib and queuebox only), `now` passed in.

`counter_layout` turns a `CounterScreen` (queuebox/counter_screen.py: the counter's name, what it
does now, the number it holds) into a `Layout` of boxes (display/boxes.py), drawn by the board's
renderer (display/render.py) in the board's colours and fonts. A header carries the counter's name
(split as the board splits it: "Quầy 1" large, "Tiếp nhận hồ sơ đất đai" under it), the clock and
the offline mark; the rest of the screen is the number, as large as the screen allows, which swaps
to the board's highlight colours while it blinks after a call or recall — or "Tạm dừng" with the
reason, or a calm "Mời số tiếp theo" when the counter is free. Landscape and portrait alike.
"""

from __future__ import annotations

from datetime import datetime

from display.board import CLIP, Highlight, blinking, clean, local_time
from display.boxes import Builder, Layout, Measure, estimate_width
from queuebox.config import Config
from queuebox.counter_screen import WORDS, CounterScreen
from queuebox.text import split_counter_name

MAX_REASON_SHOWN = 80  # characters of a pause reason on the screen (the protocol allows 200)


def _languages(config: Config) -> tuple[str, str | None]:
    langs = [lang for lang in config.site.languages if lang in ("vi", "en")] or ["vi"]
    return langs[0], next((lang for lang in langs[1:] if lang != langs[0]), None)


def call_highlight(screen: CounterScreen, highlight: Highlight | None) -> Highlight | None:
    """`highlight` (of the counter's newest call on the board) if it is the call of the number the
    screen shows, else None: a call of another ticket, or a counter no longer calling, never blinks."""
    if highlight is None or highlight.key is None or screen.phase not in ("calling", "serving"):
        return None
    return highlight if highlight.key[0] == screen.ticket else None


def counter_layout(screen: CounterScreen, now: datetime, config: Config, size: tuple[int, int], *,
                   highlight: Highlight | None = None, offline: bool = False,
                   measure: Measure = estimate_width) -> Layout:
    """What a counter display draws on a `size` (width, height) screen; see the module docstring.
    `highlight` is the counter's newest call as `display.board.follow` tracks it (None: no blinking)."""
    width, height = max(1, int(size[0])), max(1, int(size[1]))
    b = Builder(width, height, measure)
    u = b.u
    first, second = _languages(config)
    m = round(0.03 * u)
    portrait = height > width * 1.1

    # header: the counter's name, the clock, the offline mark
    head_h = round((0.3 if portrait else 0.27) * u)
    b.fill("header", 0, 0, width, head_h, "header")
    name = clean(screen.name, CLIP["counter_name"]) or screen.counter
    short, detail = split_counter_name(name)
    clock_w = (0.28 if portrait else 0.17) * width
    name_w = width - clock_w - 3 * m
    short_h = head_h * (0.58 if detail else 1.0)
    b.text("counter.name", short, m, 0, name_w, short_h, 0.15 * u, bold=True, colour="header_text")
    if detail:
        b.lines("counter.detail", detail, m, short_h, name_w, head_h - short_h, 0.06 * u,
                colour="header_text")
    b.text("counter.clock", local_time(now, config).strftime("%H:%M"), width - m - clock_w, 0, clock_w, head_h,
           0.075 * u, bold=True, colour="header_text", align="right")
    band = round(0.08 * u) if offline else 0  # the offline mark: a line along the bottom, the number stays
    if offline:
        mark = WORDS["offline"][first] + (f"  ·  {WORDS['offline'][second]}" if second else "")
        b.text("counter.offline", mark, m, height - band, width - 2 * m, band, 0.05 * u, bold=True,
               colour="warning", align="center")

    x, y, w, h = m, head_h + m, width - 2 * m, height - head_h - 2 * m - band
    if screen.phase in ("calling", "serving"):
        _number(b, screen, now, config, (x, y, w, h), call_highlight(screen, highlight), first, second)
    elif screen.phase == "paused":
        b.fill("counter.panel", x, y, w, h, "panel")
        word_h = h * (0.42 if screen.reason else 0.6)
        b.text("counter.state", WORDS["paused"][first], x, y, w, word_h, 0.22 * u, bold=True, colour="warning",
               align="center")
        y2 = y + word_h
        if second:
            b.text("counter.state2", WORDS["paused"][second], x, y2, w, h * 0.16, 0.08 * u, colour="muted",
                   align="center")
            y2 += h * 0.16
        if screen.reason:
            reason = clean(screen.reason, MAX_REASON_SHOWN)
            b.lines("counter.reason", reason, x + m, y2, w - 2 * m, y + h - y2 - m, 0.085 * u)
    else:  # free, removed, or nothing from the server yet: calm, no panel
        calm = screen.phase == "idle"
        b.text("counter.state", WORDS[screen.phase][first], x, y + h * 0.18, w, h * 0.36,
               (0.14 if calm else 0.09) * u, bold=calm, colour="text" if calm else "muted", align="center")
        if second:
            b.text("counter.state2", WORDS[screen.phase][second], x, y + h * 0.54, w, h * 0.2, 0.065 * u,
                   colour="muted", align="center")
    return Layout(width, height, tuple(b.boxes))


def _number(b: Builder, screen: CounterScreen, now: datetime, config: Config, region: tuple[float, ...],
            highlight: Highlight | None, first: str, second: str | None) -> None:
    """The number the counter calls or serves, as large as the region allows, with its caption and
    the call count of a recall; in the highlight colours in the bright phase of its blinking."""
    x, y, w, h = region
    u = b.u
    bright = blinking(highlight, now, config.display.highlight_s) is True
    b.fill("counter.panel", x, y, w, h, "highlight" if bright else "panel")
    words = WORDS[screen.phase]
    cap_h = h * 0.17
    caption = words[first] + (f"  ·  {words[second]}" if second else "")
    b.text("counter.caption", caption, x + 0.02 * u, y, w - 0.04 * u, cap_h, 0.07 * u, bold=True,
           colour="highlight_text" if bright else "title", align="center")
    recall = highlight.key[3] if highlight is not None and highlight.key is not None else 0
    rec_h = h * 0.15 if recall else 0
    number_h = h - cap_h - rec_h
    b.text("counter.ticket", screen.ticket, x + 0.02 * u, y + cap_h, w - 0.04 * u, number_h,
           0.6 * u, bold=True, colour="highlight_text" if bright else "label",
           align="center")
    if recall:
        text = WORDS["call_n"][first].format(n=recall + 1)
        if second:
            text += f"  ·  {WORDS['call_n'][second].format(n=recall + 1)}"
        b.text("counter.recall", text, x, y + h - rec_h, w, rec_h * 0.85, 0.06 * u, bold=True,
               colour="highlight_text" if bright else "warning", align="center")


def counter_fixed_texts(config: Config) -> list[str]:
    """Every text a counter display can show that comes from the config or from here (for the
    glyph check of the fonts)."""
    texts = [c.name for c in config.counters] + ["0123456789:·…"]
    texts += [text.format(n=2) for words in WORDS.values() for text in words.values()]
    return [clean(t, 10_000) for t in texts if clean(t, 10_000)]
