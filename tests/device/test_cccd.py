"""The CCCD QR parser: the age decision, the day's keyed hash, and every refusal."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from device.cccd import REASONS, CardFacts, CardLedger, NotACard, age_on, read_card
from queuebox.clock import local_date

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
TODAY = date(2026, 11, 23)
# every tone mark on every vowel, as long addresses in the Mekong delta can be
TONES = "àáảãạ ằắẳẵặ ầấẩẫậ èéẻẽẹ ềếểễệ ìíỉĩị òóỏõọ ồốổỗộ ờớởỡợ ùúủũụ ừứửữự ỳýỷỹỵ đ"
LONG_ADDRESS = ("Tổ 12, Ấp Phước Thạnh, Xã Hưng Mỹ Đông, Huyện Châu Thành, Tỉnh Trà Vinh, Việt Nam, "
                + TONES + " Khóm Hòa Lợi, Phường Ngã Bảy")


def qr(id_number: str = "079052001234", old_id: str = "", name: str = "Nguyễn Thị Hường",
       birth: str = "15041950", sex: str = "Nữ", address: str = "Số 7 Lê Lợi, Phường Bến Nghé, Quận 1, TP Hồ Chí Minh",
       issued: str = "10082021") -> str:
    """A QR line in the card's format."""
    return "|".join([id_number, old_id, unicodedata.normalize("NFC", name), birth, sex,
                     unicodedata.normalize("NFC", address), issued])


@pytest.mark.parametrize("text, elderly", [
    (qr(), True),  # 76
    (qr(old_id="", birth="01012000"), False),  # the old ID field empty
    (qr(old_id="023456789", birth="30061966"), True),  # 60 since June
    (qr(birth="24111966", address=LONG_ADDRESS), False),  # 60 tomorrow
    (qr(birth="23111966", address=LONG_ADDRESS, name="Đặng Thị Ánh Tuyết"), True),  # 60 today
    (qr(name="", address=""), True),  # a scanner that drops Vietnamese letters
    (qr(name="Nguy?n Th? H??ng", address="S? 7 L? L?i"), True),  # ... or substitutes them
    (qr() + "\r\n", True),  # the Enter suffix left on
])
def test_real_format_lines_give_the_age_decision(text, elderly):
    assert read_card(text, today=TODAY, elderly_age=60) == CardFacts(elderly)


@pytest.mark.parametrize("text, reason", [
    ("079052001234|", "field_count"),  # a partial line
    (qr()[:40], "field_count"),
    (qr() + "|extra", "field_count"),
    ("https://dichvucong.gov.vn/p/home/dvc-trang-chu.html", "field_count"),  # another QR
    ("8935049500100", "field_count"),  # a product barcode
    ("", "field_count"),
    (qr(id_number="07905200123"), "bad_id"),
    (qr(id_number="0790520012345"), "bad_id"),
    (qr(id_number="07905200123A"), "bad_id"),
    (qr(id_number="０７９０５２００１２３４"), "bad_id"),  # full-width digits are digits to str.isdigit
    (qr(birth="31021950"), "bad_birth_date"),
    (qr(birth="29021951"), "bad_birth_date"),  # 1951 had no 29 February
    (qr(birth="15131950"), "bad_birth_date"),
    (qr(birth="1504195"), "bad_birth_date"),
    (qr(birth="1950-04-15"), "bad_birth_date"),
    (qr(birth="24112026", issued="24112026"), "birth_in_future"),
    (qr(issued="3102202"), "bad_issue_date"),
    (qr(issued="00082021"), "bad_issue_date"),
    (qr(issued="14041950"), "issue_before_birth"),
    (qr(issued="24112026"), "issue_in_future"),
])
def test_bad_lines_are_refused_with_a_reason_and_nothing_personal(text, reason):
    with pytest.raises(NotACard) as caught:
        read_card(text, today=TODAY, elderly_age=60)
    assert caught.value.reason == reason
    message = str(caught.value)
    assert REASONS[reason] in message
    for personal in ("079052001234", "Nguyễn", "15041950", "Lê Lợi"):
        assert personal not in message


@pytest.mark.parametrize("utc_time, elderly", [
    (datetime(2026, 4, 14, 16, 59, tzinfo=timezone.utc), False),  # 23:59 on 14 April in Hồ Chí Minh City
    (datetime(2026, 4, 14, 17, 1, tzinfo=timezone.utc), True),  # 00:01 on 15 April there, still the 14th in UTC
])
def test_the_birthday_counts_from_local_midnight_in_ho_chi_minh_city(utc_time, elderly):
    today = local_date(utc_time, HCM)
    assert read_card(qr(birth="15041966"), today=today, elderly_age=60).elderly is elderly


@pytest.mark.parametrize("today, age", [
    (date(2024, 2, 28), 59), (date(2024, 2, 29), 60),  # a leap year: the birthday itself
    (date(2025, 2, 28), 60), (date(2025, 3, 1), 61),  # no 29 February: the birthday is 1 March
    (date(2023, 2, 28), 58), (date(2023, 3, 1), 59),
])
def test_born_on_29_february(today, age):
    birth = date(1964, 2, 29)
    assert age_on(birth, today) == age
    assert read_card(qr(birth="29021964", issued="01012020"), today=today, elderly_age=60).elderly is (age >= 60)


def test_the_elderly_age_is_a_setting():
    assert read_card(qr(birth="01011955"), today=TODAY, elderly_age=75).elderly is False
    assert read_card(qr(birth="01011951"), today=TODAY, elderly_age=75).elderly is True


def test_the_keyed_hash_is_asked_for_and_holds_no_id():
    ledger = CardLedger()
    facts = read_card(qr(), today=TODAY, elderly_age=60, key=ledger.key(TODAY))
    assert facts.card_key and len(facts.card_key) == 64 and "079052001234" not in facts.card_key
    again = read_card(qr(name="", address=""), today=TODAY, elderly_age=60, key=ledger.key(TODAY))
    assert again.card_key == facts.card_key  # the same card the same day
    other = read_card(qr(id_number="079052001235"), today=TODAY, elderly_age=60, key=ledger.key(TODAY))
    assert other.card_key != facts.card_key
    assert "079052001234" not in repr(facts) and facts.card_key not in repr(facts)


def test_the_ledger_forgets_with_a_new_key_each_day():
    ledger = CardLedger()
    key = ledger.key(TODAY)
    card = read_card(qr(), today=TODAY, elderly_age=60, key=key).card_key
    ledger.record(TODAY, card, "A")
    assert ledger.taken(TODAY, card, "A") and not ledger.taken(TODAY, card, "B")
    tomorrow = date(2026, 11, 24)
    assert ledger.key(tomorrow) != key
    assert not ledger.taken(tomorrow, card, "A")
    assert read_card(qr(), today=tomorrow, elderly_age=60, key=ledger.key(tomorrow)).card_key != card
