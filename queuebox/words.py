"""How a call is read out in Vietnamese: the one rule shared by espeak-ng and recorded voice packs.

A call becomes a list of `Word`s, each a prompt id (the name of a recorded clip in a voice
pack) with the Vietnamese text it stands for. espeak-ng speaks the texts joined into one
sentence; a voice pack plays the clips of the ids one after another. Both read "A021" the
same way: "a hai mươi mốt".

Ticket numbers are read as Vietnamese cardinals, not digit by digit: that is how people say
numbers, the leading zeros are only the printed format, and the structure of a cardinal
("hai mươi ba" against "ba mươi hai") makes a misheard syllable noticeable in a noisy room.
The forms that change with position have prompts of their own: "mười" (10–19) and "mươi"
(the tens from 20), "mốt" (1 after a ten from 20), "tư" (4 after a ten from 20), "lăm" (5 after
any ten), "linh" (a zero ten inside a number, 105).

Pure: no I/O, stdlib only; the server (which lists the prompts to record) and the display
(which speaks) both use it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable

from queuebox.text import without_diacritics

DIGITS = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")
GROUPS = ("", "nghìn", "triệu", "tỷ")
LETTERS = {"A": "a", "Ă": "á", "Â": "ớ", "B": "bê", "C": "xê", "D": "dê", "Đ": "đê", "E": "e", "Ê": "ê",
           "F": "ép", "G": "giê", "H": "hát", "I": "i", "J": "gi", "K": "ca", "L": "e lờ", "M": "em mờ",
           "N": "en nờ", "O": "o", "Ô": "ô", "Ơ": "ơ", "P": "pê", "Q": "quy", "R": "e rờ", "S": "ét xì",
           "T": "tê", "U": "u", "Ư": "ư", "V": "vê", "W": "vê kép", "X": "ích xì", "Y": "i dài", "Z": "dét"}
LEAD = "Mời công dân có số thứ tự"
TO_COUNTER = "đến quầy số"
PRIORITY = "ưu tiên"
_COUNTER = re.compile(r"(?:quầy|quay)\s*(?:số\s*)?(\d+)", re.IGNORECASE)

# prompt id -> its text, for every fixed prompt of a pack (letters and counters come on top)
FIXED_PROMPTS: dict[str, str] = {
    "lead": LEAD, "to_counter": TO_COUNTER, "priority": PRIORITY,
    **{f"digit_{d}": word for d, word in enumerate(DIGITS)},
    "ten": "mười", "tens": "mươi", "one_after_tens": "mốt", "four_after_tens": "tư", "five_after_ten": "lăm",
    "zero_ten": "linh", "hundred": "trăm", "thousand": "nghìn",
}
_NUMBER_IDS = {text: pid for pid, text in FIXED_PROMPTS.items()
               if pid.startswith("digit_") or pid in ("ten", "tens", "one_after_tens", "four_after_tens",
                                                      "five_after_ten", "zero_ten", "hundred", "thousand")}
PROMPT_ID = re.compile(r"[a-z0-9_]{1,40}")


@dataclass(frozen=True)
class Word:
    """One piece of a call: `id` names its clip in a voice pack ("" when no pack can have one,
    e.g. "triệu"); `text` is what it says."""
    id: str
    text: str


# --- numbers -----------------------------------------------------------------------------------

def _hundreds(n: int, inner: bool) -> list[str]:
    """Words of 0 < n < 1000; `inner` when a higher group comes before (1005: "không trăm linh năm")."""
    h, rest = divmod(n, 100)
    tens, unit = divmod(rest, 10)
    words: list[str] = []
    if h or inner:
        words += [DIGITS[h], "trăm"]
    if tens == 0:
        if unit:
            words += (["linh"] if words else []) + [DIGITS[unit]]
    elif tens == 1:
        words.append("mười")
        if unit:
            words.append("lăm" if unit == 5 else DIGITS[unit])
    else:
        words += [DIGITS[tens], "mươi"]
        if unit:
            words.append({1: "mốt", 4: "tư", 5: "lăm"}.get(unit, DIGITS[unit]))
    return words


def number_words(n: int) -> list[Word]:
    """`n` (0 ≤ n < 10¹²) as a Vietnamese speaker reads it, word by word (see `vietnamese_number`)."""
    if not 0 <= n < 10**12:
        raise ValueError(f"{n} is out of range")
    if n == 0:
        return [Word("digit_0", DIGITS[0])]
    groups = []
    while n:
        n, part = divmod(n, 1000)
        groups.append(part)
    texts: list[str] = []
    for i in range(len(groups) - 1, -1, -1):
        part = groups[i]
        if part:
            texts += _hundreds(part, inner=bool(texts))
            if GROUPS[i]:
                texts.append(GROUPS[i])
    return [Word(_NUMBER_IDS.get(text, ""), text) for text in texts]


def vietnamese_number(n: int) -> str:
    """`n` (0 ≤ n < 10¹²) read out: 21 "hai mươi mốt", 15 "mười lăm", 24 "hai mươi tư",
    105 "một trăm linh năm", 1005 "một nghìn không trăm linh năm"."""
    return " ".join(w.text for w in number_words(n))


# --- labels, counters, calls ---------------------------------------------------------------------

def letter_id(letter: str) -> str:
    """The prompt id of a letter: "letter_a", "letter_dd" for Đ (ids are ASCII, see `PROMPT_ID`)."""
    ascii_name = without_diacritics(letter).lower()
    marks = {"Ă": "_breve", "Â": "_hat", "Ê": "_hat", "Ô": "_hat", "Ơ": "_horn", "Ư": "_horn", "Đ": "d"}
    return f"letter_{ascii_name}{marks.get(letter.upper(), '')}"


def label_words(label: str) -> list[Word]:
    """A ticket label: letters by their Vietnamese names, each run of digits as a number
    ("A023" → a hai mươi ba, "AB-105" → a bê một trăm linh năm)."""
    words: list[Word] = []
    for token in re.findall(r"\d+|[^\W\d_]", unicodedata.normalize("NFC", label)):
        if token.isdecimal():  # not isdigit: '²' is a digit int() cannot read
            words += number_words(int(token[-12:]))
        elif token.upper() in LETTERS:
            words.append(Word(letter_id(token), LETTERS[token.upper()]))
        else:
            words.append(Word("", token.lower()))
    return words


def spoken_label(label: str) -> str:
    """`label_words` as one string ("A023" → "a hai mươi ba")."""
    return " ".join(w.text for w in label_words(label))


def counter_number(name: str) -> int | None:
    """3 for a counter named "Quầy 3" or "quầy số 3"; None for any other name."""
    match = _COUNTER.fullmatch(unicodedata.normalize("NFC", name).strip())
    return int(match.group(1)[-12:]) if match else None


def counter_prompt(counter_id: str) -> str:
    """The prompt id of a counter whose name is not "Quầy <number>": "counter_<id>" (ASCII)."""
    return "counter_" + re.sub(r"[^a-z0-9]", "_", without_diacritics(counter_id).lower())[:30]


def counter_text(name: str) -> str:
    """What the counter prompt of a named counter says: "đến Bàn tiếp nhận", numbers read out."""
    name = " ".join(unicodedata.normalize("NFC", name).split())
    return "đến " + " ".join(re.sub(r"\d+", lambda m: f" {vietnamese_number(int(m.group(0)[-12:]))} ", name).split())


def counter_words(name: str, counter_id: str) -> list[Word]:
    """Where to go: "đến quầy số ba" for "Quầy 3" (a number, read from the number prompts),
    else one prompt of the counter ("đến Bàn tiếp nhận")."""
    number = counter_number(name)
    if number is not None:
        return [Word("to_counter", TO_COUNTER), *number_words(number)]
    return [Word(counter_prompt(counter_id) if counter_id else "", counter_text(name))]


def spoken_counter(name: str) -> str:
    """A counter's name for the Vietnamese voice: "Quầy 3" → "quầy số ba"; other names keep
    their words, with numbers read out ("Phòng 12" → "Phòng mười hai")."""
    number = counter_number(name)
    if number is not None:
        return f"quầy số {vietnamese_number(number)}"
    return counter_text(name).removeprefix("đến ")


def call_words(label: str, counter_name: str, counter_id: str = "", priority: bool = False) -> list[Word]:
    """The Vietnamese call, word by word: ["ưu tiên",] "Mời công dân có số thứ tự", the label,
    where to go. A priority ticket is called with "ưu tiên" first."""
    words = [Word("priority", PRIORITY)] if priority else []
    return words + [Word("lead", LEAD), *label_words(label), *counter_words(counter_name, counter_id)]


def sentence(words: Iterable[Word]) -> str:
    """The words as one sentence for a speech synthesiser: the first letter capitalised, the first
    letter of each later word as it comes in the middle of a sentence ("Ưu tiên mời công dân")."""
    texts = [w.text for w in words]
    text = " ".join(texts[:1] + [t[:1].lower() + t[1:] for t in texts[1:]])
    return text[:1].upper() + text[1:]


def english_counter(name: str, counter_id: str) -> str:
    """'counter 3' for "Quầy 3" (or a numeric id), else the name without diacritics."""
    number = counter_number(name)
    if number is not None:
        return f"counter {number}"
    if counter_id.isdigit():
        return f"counter {counter_id}"
    return without_diacritics(name)


def call_text(label: str, counter_name: str, counter_id: str = "", priority: bool = False) -> dict[str, str]:
    """The sentences for one call, by language (vi, en)."""
    english_label = " ".join(str(int(t[-12:])) if t.isdecimal() else t.upper()
                             for t in re.findall(r"\d+|[^\W\d_]", without_diacritics(label)))
    return {
        "vi": sentence(call_words(label, counter_name, counter_id, priority)),
        "en": f"{'Priority. ' if priority else ''}Ticket number {english_label}, please go to "
              f"{english_counter(counter_name, counter_id)}.",
    }


# --- what a pack holds ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Prompt:
    """A clip a voice pack should hold: its id and the text to record."""
    id: str
    text: str
    kind: str  # phrase, letter, number, counter


def pack_prompts(service_codes: Iterable[str], counters: Iterable[tuple[str, str]]) -> list[Prompt]:
    """Every prompt the centre's calls need: the phrases, the letters of its service codes, the
    number words, and a prompt for each counter (id, name) whose name is not "Quầy <number>"."""
    prompts = [Prompt(pid, FIXED_PROMPTS[pid], "phrase") for pid in ("lead", "to_counter", "priority")]
    letters: dict[str, str] = {}
    for code in service_codes:
        for word in label_words(code):
            if word.id:
                letters.setdefault(word.id, word.text)
    prompts += [Prompt(pid, text, "letter") for pid, text in sorted(letters.items())]
    prompts += [Prompt(pid, FIXED_PROMPTS[pid], "number") for pid in _NUMBER_IDS.values()]
    prompts += [Prompt(counter_prompt(cid), counter_text(name), "counter") for cid, name in counters
                if counter_number(name) is None]
    return prompts
