"""The reading of a call (queuebox/words.py): one rule for espeak-ng and for recorded voice packs."""

from __future__ import annotations

import unicodedata

import pytest

from queuebox.words import FIXED_PROMPTS, PROMPT_ID, call_text, call_words, pack_prompts, sentence


def ids(label, counter="Quầy 3", priority=False):
    return [w.id for w in call_words(label, counter, "3", priority)]


@pytest.mark.parametrize("label,number", [
    ("A001", ["digit_1"]),
    ("A010", ["ten"]),
    ("A015", ["ten", "five_after_ten"]),
    ("A021", ["digit_2", "tens", "one_after_tens"]),
    ("A024", ["digit_2", "tens", "four_after_tens"]),
    ("A105", ["digit_1", "hundred", "zero_ten", "digit_5"]),
    ("B100", ["digit_1", "hundred"]),
    ("C999", ["digit_9", "hundred", "digit_9", "tens", "digit_9"]),
])
def test_a_call_is_the_lead_the_letter_the_number_and_the_counter(label, number):
    letter = f"letter_{label[0].lower()}"
    assert ids(label) == ["lead", letter, *number, "to_counter", "digit_3"]


@pytest.mark.parametrize("label,text", [
    ("A001", "Mời công dân có số thứ tự a một đến quầy số ba"),
    ("A015", "Mời công dân có số thứ tự a mười lăm đến quầy số ba"),
    ("A021", "Mời công dân có số thứ tự a hai mươi mốt đến quầy số ba"),
    ("A024", "Mời công dân có số thứ tự a hai mươi tư đến quầy số ba"),
    ("A105", "Mời công dân có số thứ tự a một trăm linh năm đến quầy số ba"),
    ("B100", "Mời công dân có số thứ tự bê một trăm đến quầy số ba"),
    ("C999", "Mời công dân có số thứ tự xê chín trăm chín mươi chín đến quầy số ba"),
])
def test_espeak_reads_the_same_words_as_the_clips(label, text):
    words = call_words(label, "Quầy 3", "3")
    assert call_text(label, "Quầy 3", "3")["vi"] == text == sentence(words)
    assert all(FIXED_PROMPTS.get(w.id, w.text) == w.text for w in words)


def test_a_priority_call_begins_with_uu_tien():
    assert ids("A001", priority=True)[:2] == ["priority", "lead"]
    assert call_text("A001", "Quầy 3", "3", priority=True)["vi"].startswith("Ưu tiên mời công dân có số thứ tự a một")
    assert call_text("A001", "Quầy 3", "3", priority=True)["en"].startswith("Priority. Ticket number A 1")


def test_a_named_counter_is_one_prompt_with_den():
    words = call_words("A023", "Bàn tiếp nhận 2", "tn2")
    assert (words[-1].id, words[-1].text) == ("counter_tn2", "đến Bàn tiếp nhận hai")


def test_the_prompts_of_a_centre():
    prompts = pack_prompts(["A", "B", "Đ"], [("1", "Quầy 1"), ("tn", "Bàn tiếp nhận")])
    by_id = {p.id: p.text for p in prompts}
    assert by_id["lead"] == "Mời công dân có số thứ tự" and by_id["priority"] == "ưu tiên"
    assert by_id["to_counter"] == "đến quầy số"
    assert {by_id[k] for k in ("letter_a", "letter_b", "letter_dd")} == {"a", "bê", "đê"}
    assert [by_id[k] for k in ("ten", "tens", "one_after_tens", "four_after_tens", "five_after_ten", "zero_ten",
                               "hundred")] == ["mười", "mươi", "mốt", "tư", "lăm", "linh", "trăm"]
    assert [by_id[f"digit_{d}"] for d in range(10)] == ["không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy",
                                                        "tám", "chín"]
    assert by_id["counter_tn"] == "đến Bàn tiếp nhận" and "counter_1" not in by_id
    assert all(PROMPT_ID.fullmatch(p.id) for p in prompts)
    assert all(unicodedata.is_normalized("NFC", p.text) for p in prompts)
