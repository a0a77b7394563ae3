"""Reading the administration's forms and placing the engine's problems next to fields."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from server.web import admin_forms as forms


@pytest.fixture
def vietnamese(app):
    with app.test_request_context("/?lang=vi"):
        yield


@pytest.mark.parametrize("text, spans, ok", [
    ("", [], True),
    ("07:30-11:30, 13:30-17:00", ["07:30-11:30", "13:30-17:00"], True),
    ("7:30-11:30;13:30-17:00", ["07:30-11:30", "13:30-17:00"], True),
    ("7h30-11h30", None, False),
    ("11:30-07:30", None, False),
    ("24:00-25:00", None, False),
])
def test_opening_hours_are_read_and_normalised(vietnamese, text, spans, ok):
    read, problem = forms.parse_hours_field(text)
    assert (problem is None) == ok
    if ok:
        assert read == spans
    else:
        assert problem.startswith("Giờ mở cửa phải có dạng HH:MM-HH:MM")


def test_a_counter_form_keeps_only_the_services_it_serves(vietnamese):
    counter, errors = forms.read_counter(MultiDict({"name": " Quầy  4 ", "weight_A": "0", "weight_B": "2",
                                                    "weight_C": ""}), ["A", "B", "C"], "4")
    assert errors == {}
    assert counter == {"id": "4", "name": "Quầy 4", "services": {"B": 2}}


def test_problems_of_the_edited_item_go_next_to_their_fields(vietnamese):
    problems = ["services[1].number_end: must be greater than number_start (5)",
                "services[1].hours[0]: '7' is not HH:MM-HH:MM",
                "services[0].code: 'A' is used by another service",
                "services: A and B print the same labels (001 …): put {code} in label_format or …",
                "kiosk.buttons.D: unknown service"]
    errors, general = forms.problem_errors(problems, "services", 1, {"services": ["A (Đất đai)", "B (Hộ tịch)"]})
    assert errors == {"number_end": "Phải lớn hơn số đầu tiên (5)",
                      "hours": "Giờ mở cửa phải có dạng HH:MM-HH:MM, ví dụ 07:30-11:30, 13:30-17:00"}
    assert general == ["A (Đất đai): Mã này đã được dùng cho lĩnh vực khác",
                       "Lĩnh vực A và B sẽ in trùng số phiếu: hãy thêm {code} vào mẫu số phiếu hoặc dùng các dải số "
                       "không trùng nhau.",
                       "kiosk.buttons.D: Không có lĩnh vực này"]  # another section: its key path stays


def test_a_counter_problem_about_a_service_goes_next_to_its_weight(vietnamese):
    errors, general = forms.problem_errors(["counters[2].services.C: weight must be 1 or more",
                                            "counters[0].services.Z: unknown service (did you mean 'A'?)"],
                                           "counters", 2, {"counters": ["Quầy 1", "Quầy 2", "Quầy 3"]})
    assert errors == {"weight_C": "Phải là số nguyên dương"}
    assert general == ["Quầy 1 (Z): Không có lĩnh vực này"]


def test_problems_read_in_english_on_an_english_page(app):
    with app.test_request_context("/?lang=en"):
        errors, _general = forms.problem_errors(["queue.interleave_every: must be 1 or more"], "queue", None)
    assert errors == {"interleave_every": "Must be a positive whole number"}
