"""Text helpers every surface shares: Vietnamese without its diacritics (for an English voice, an
ASCII-only device, and search that finds "Đăng ký khai sinh" from "dang ky khai sinh"); a
counter's name split into what it is called and what it does (the board, counter displays)."""

from __future__ import annotations

import re
import unicodedata
from typing import Callable

_WORD = re.compile(r"\w+")
_BREAKS = re.compile(r"[^\S\u00a0]+")  # whitespace where a line may break: any but the no-break space


def without_diacritics(text: str) -> str:
    """`text` with tones and marks taken off and đ/Đ written d/D: "Quầy 3" → "Quay 3"."""
    folded = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return unicodedata.normalize("NFC", "".join(c for c in folded if not unicodedata.combining(c)))


def search_words(text: str) -> list[str]:
    """The words of `text` as search compares them: lower case, without diacritics, punctuation
    dropped ("Đăng ký (lại) khai-sinh" → ["dang", "ky", "lai", "khai", "sinh"])."""
    return _WORD.findall(without_diacritics(unicodedata.normalize("NFC", text)).casefold().replace("_", " "))


def split_counter_name(name: str) -> tuple[str, str]:
    """A counter's name as (what it is called, what it does): "Quầy 1 - Tiếp nhận hồ sơ đất đai"
    is ("Quầy 1", "Tiếp nhận hồ sơ đất đai"); a name without " - ", " – " or ": " is all short."""
    for separator in (" - ", " – ", ": "):
        short, found, detail = name.partition(separator)
        if found and short.strip() and detail.strip():
            return short.strip(), detail.strip()
    return name, ""


def wrap_words(text: str, width: float, measure: Callable[[str], float]) -> list[str]:
    """`text` broken at spaces into lines no wider than `width` by `measure` (a font's width of a
    string, in any unit), as many words on each line as fit. A word wider than a line is cut
    where it must (Vietnamese words are short syllables: only codes and addresses are). A
    no-break space (U+00A0) keeps two words together. Used by the board, the touch screen and
    the printed ticket, each with its own font's measure."""
    lines: list[str] = []
    line = ""
    for word in _BREAKS.split(text):
        if not word:
            continue
        trial = f"{line} {word}" if line else word
        if measure(trial) <= width:
            line = trial
            continue
        if line:
            lines.append(line)
        while len(word) > 1 and measure(word) > width:
            cut = len(word) - 1
            while cut > 1 and measure(word[:cut]) > width:
                cut -= 1
            lines.append(word[:cut])
            word = word[cut:]
        line = word
    return lines + [line] if line else lines
