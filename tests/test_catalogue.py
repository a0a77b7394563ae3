"""The catalogue's shared definitions: search without diacritics, and the retained summary topic."""

from __future__ import annotations

import json

import pytest

from queuebox.catalogue import Procedure, matches, search
from queuebox.protocol import ProtocolError, Topics
from queuebox.protocol_messages import parse_procedures
from queuebox.text import search_words, without_diacritics

BIRTH = Procedure(1, "B", "Đăng ký khai sinh", "Birth registration", code="1.001193")
LAND = Procedure(2, "A", "Cấp đổi Giấy chứng nhận quyền sử dụng đất", "Exchange of land use certificate")
HIDDEN = Procedure(3, "B", "Đăng ký khai tử", hidden=True)


@pytest.mark.parametrize("text, folded", [
    ("Đăng ký khai sinh", "Dang ky khai sinh"),
    ("Quầy 3", "Quay 3"),
    ("Ứng dụng", "Ung dung"),
    ("Qua\u0302\u0300y", "Quay"),  # decomposed marks too
])
def test_without_diacritics(text: str, folded: str) -> None:
    assert without_diacritics(text) == folded


def test_search_words_drop_case_marks_and_punctuation() -> None:
    assert search_words("Đăng ký (lại) khai-sinh") == ["dang", "ky", "lai", "khai", "sinh"]


@pytest.mark.parametrize("query", ["dang ky khai sinh", "Đăng ký khai sinh", "KHAI SINH", "khai s", "birth",
                                   "1.001193", "  ", ""])
def test_matches_finds_with_or_without_diacritics(query: str) -> None:
    assert matches(BIRTH, query)


@pytest.mark.parametrize("query", ["khai tu", "dat", "sinh khai x", "ang"])
def test_matches_refuses_other_words(query: str) -> None:
    assert not matches(BIRTH, query)


def test_search_keeps_order_and_leaves_hidden_out() -> None:
    assert search([LAND, BIRTH, HIDDEN], "dang ky") == [BIRTH]
    assert search([LAND, BIRTH, HIDDEN], "") == [LAND, BIRTH]


def test_procedures_topic_and_route() -> None:
    topics = Topics("queuebox", "xa")
    assert topics.procedures("AB") == "queuebox/xa/procedures/AB"
    route = topics.route("queuebox/xa/procedures/AB")
    assert route is not None and (route.kind, route.device) == ("procedures", "AB")
    assert topics.route("queuebox/xa/procedures/ab") is None
    with pytest.raises(ValueError):
        topics.procedures("a/b")


def test_parse_procedures() -> None:
    summary = {"seq": 4, "service": "B", "procedures": [
        {"id": 1, "code": "1.001193", "name_vi": "Đăng ký khai sinh", "name_en": "Birth registration",
         "processing_time": "Trong ngày", "fee": "Miễn phí", "on_the_spot": True}], "more": 0}
    assert parse_procedures(json.dumps(summary)) == summary
    assert parse_procedures(b"") is None
    older = {"seq": 4, "service": "B", "procedures": [{"id": 1, "name_vi": "X"}]}
    assert parse_procedures(json.dumps(older)) == older
    for bad in ({**summary, "service": "b"}, {**summary, "procedures": [{"id": 1}]},
                {**summary, "more": -1}, {**summary, "procedures": [{"id": 1, "name_vi": "X", "on_the_spot": 1}]}):
        with pytest.raises(ProtocolError):
            parse_procedures(json.dumps(bad))
