"""queuebox.config and `queuebox check-config`: loading, validation, helpers, documentation."""

from __future__ import annotations

import json
import re
import tomllib
import unicodedata
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from queuebox.cli import main
from queuebox.config import ServiceConfig, config_from_dict, config_keys, load_config, redacted
from queuebox.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config" / "queuebox.example.toml"
HCM = ZoneInfo("Asia/Ho_Chi_Minh")
SECRET = "s3cret-Pa55word"

# Problems the type pass finds; every one is in BROKEN_TYPES, reported together.
BROKEN_TYPES = """\
[site]
id = "xa-an-phu"

[[services]]
code = "A"
name_vi = "Đất đai"
number_end = "abc"

[[counters]]
id = "1"
nmae = "Quầy 1"
services = { A = 1 }

[queue]
priority = "strikt"
"""
BROKEN_TYPES_PROBLEMS = [
    ("site.name", "required key is missing"),
    ("services[0].number_end", "must be a whole number"),
    ("counters[0].nmae", "did you mean 'name'"),
    ("counters[0].name", "required key is missing"),
    ("queue.priority", "did you mean 'strict'"),
]

# Problems across keys, found once every key has the right type; all in BROKEN_RULES.
BROKEN_RULES = """\
[site]
id = "xa-an-phu"
name = "Bộ phận Một cửa"
timezone = "Mars/Olympus_Mons"

[[services]]
code = "HTC"
name_vi = "Hộ tịch - Chứng thực"
hours = ["7:30-6:00"]

[[services]]
code = "HTC"
name_vi = "Chứng thực"
open_days = ["mon", "tues"]

[[counters]]
id = "1"
name = "Quầy 1"
services = { HTX = 1 }
"""
BROKEN_RULES_PROBLEMS = [
    ("site.timezone", "unknown time zone 'Mars/Olympus_Mons'"),
    ("services[0].hours[0]", "ends before it starts"),
    ("services[1].code", "'HTC' is used by another service"),
    ("services[1].open_days[1]", "did you mean 'tue'"),
    ("counters[0].services.HTX", "unknown service (did you mean 'HTC'?)"),
]


def write(tmp_path: Path, text: str | bytes, name: str = "queuebox.toml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value.problems


def has_problem(problems: list[str], key_path: str, fragment: str) -> bool:
    return any(p.startswith(f"{key_path}:") and fragment in p for p in problems)


def example_with_password(tmp_path: Path) -> Path:
    text, count = re.subn(r'^password = ""$', f'password = "{SECRET}"', EXAMPLE.read_text(encoding="utf-8"),
                          flags=re.M)
    assert count == 1, "the example should set mqtt.password exactly once"
    return write(tmp_path, text)


def minimal(**overrides: Any) -> dict[str, Any]:
    """A small valid parsed-TOML dict; `service` updates service 0, a section name sets that section."""
    raw: dict[str, Any] = {
        "site": {"id": "test", "name": "Trung tâm thử"},
        "services": [{"code": "A", "name_vi": "Đất đai"}],
        "counters": [{"id": "1", "name": "Quầy 1", "services": {"A": 1}}],
    }
    for section, value in overrides.items():
        if section == "service":
            raw["services"][0].update(value)
        elif section == "site":
            raw["site"].update(value)
        else:
            raw[section] = value
    return raw


# --- the example file ------------------------------------------------------------------

def test_example_loads():
    config = load_config(EXAMPLE)
    assert (len(config.services), len(config.counters)) == (5, 6)


def test_example_time_zone_is_ho_chi_minh():
    config = load_config(EXAMPLE)
    assert config.site.timezone == "Asia/Ho_Chi_Minh"
    assert config.zone == HCM


@pytest.mark.parametrize("code,name_vi", [
    ("A", "Đất đai"),
    ("B", "Hộ tịch - Chứng thực"),
    ("C", "Đăng ký kinh doanh"),
    ("D", "Lao động - Thương binh - Xã hội"),
    ("E", "Trả kết quả"),
])
def test_example_service_names_have_vietnamese_diacritics(code, name_vi):
    service = load_config(EXAMPLE).service(code)
    assert service is not None
    assert service.name_vi == name_vi
    # Precomposed (NFC) letters, as printers and fonts expect.
    assert unicodedata.is_normalized("NFC", service.name_vi)


def test_example_counters_serve_only_its_services():
    config = load_config(EXAMPLE)
    codes = {s.code for s in config.services}
    assert [c.id for c in config.counters] == ["1", "2", "3", "4", "5", "6"]
    assert all(set(c.services) <= codes for c in config.counters)


# --- every problem at once -------------------------------------------------------------

@pytest.mark.parametrize("key_path,fragment", BROKEN_TYPES_PROBLEMS)
def test_type_problems_are_reported_with_key_path(tmp_path, key_path, fragment):
    problems = problems_of(write(tmp_path, BROKEN_TYPES))
    assert has_problem(problems, key_path, fragment), problems


def test_type_problems_are_all_reported_at_once(tmp_path):
    problems = problems_of(write(tmp_path, BROKEN_TYPES))
    assert len(problems) == len(BROKEN_TYPES_PROBLEMS), problems


@pytest.mark.parametrize("key_path,fragment", BROKEN_RULES_PROBLEMS)
def test_rule_problems_are_reported_with_key_path(tmp_path, key_path, fragment):
    problems = problems_of(write(tmp_path, BROKEN_RULES))
    assert has_problem(problems, key_path, fragment), problems


def test_rule_problems_are_all_reported_at_once(tmp_path):
    problems = problems_of(write(tmp_path, BROKEN_RULES))
    assert len(problems) == len(BROKEN_RULES_PROBLEMS), problems


# Type problems that leave the rest of the file checkable, next to the rule problems above.
MIXED = BROKEN_RULES.replace('name = "Bộ phận Một cửa"', 'nmae = "Bộ phận Một cửa"\nname = "Bộ phận Một cửa"') + """
[queue]
priority = "strikt"

[mqtt]
tls = "yes"
"""


@pytest.mark.parametrize("key_path,fragment", BROKEN_RULES_PROBLEMS + [
    ("site.nmae", "did you mean 'name'"),
    ("queue.priority", "did you mean 'strict'"),
    ("mqtt.tls", "must be true or false"),
])
def test_type_and_rule_problems_are_reported_together(tmp_path, key_path, fragment):
    problems = problems_of(write(tmp_path, MIXED))
    assert has_problem(problems, key_path, fragment), problems


def test_wrong_type_does_not_hide_later_rule_problems(tmp_path):
    text = BROKEN_RULES.replace('hours = ["7:30-6:00"]', 'hours = ["7:30-6:00"]\nnumber_end = "abc"')
    problems = problems_of(write(tmp_path, text))
    assert has_problem(problems, "services[0].number_end", "must be a whole number"), problems
    assert has_problem(problems, "counters[0].services.HTX", "unknown service"), problems


def test_error_message_lists_every_problem(tmp_path):
    path = write(tmp_path, BROKEN_RULES)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {len(BROKEN_RULES_PROBLEMS)} problem(s)")
    assert all(f"  - {p}" in message for p in info.value.problems)


BAD_VALUES = [
    ({"site": {"id": "Xã An Phú"}}, "site.id", "lowercase letters"),
    ({"site": {"timezone": "Asia"}}, "site.timezone", "unknown time zone 'Asia'"),
    ({"site": {"timezone": ""}}, "site.timezone", "unknown time zone"),
    ({"site": {"languages": ["vi", "fr"]}}, "site.languages[1]", "'fr' is not supported"),
    ({"site": {"colour": "red"}}, "site.colour", "unknown key"),
    ({"service": {"code": "a"}, "counters": [{"id": "1", "name": "Quầy 1", "services": {"a": 1}}]},
     "services[0].code", "capital letters"),
    ({"service": {"name_vi": "  "}}, "services[0].name_vi", "must not be empty"),
    ({"service": {"number_start": 5, "number_end": 5}}, "services[0].number_end", "greater than number_start"),
    ({"service": {"number_start": -1}}, "services[0].number_start", "0 or more"),
    ({"service": {"label_format": "{code}{num}"}}, "services[0].label_format", "does not format"),
    ({"service": {"label_format": "{number.x}"}}, "services[0].label_format", "does not format"),
    ({"service": {"label_format": "{number[0]}"}}, "services[0].label_format", "does not format"),
    ({"service": {"label_format": "{number:1000000000}"}}, "services[0].label_format", "width or precision over 99"),
    ({"service": {"label_format": "{code}-{number:020d}"}}, "services[0].label_format", "longer than 16"),
    ({"service": {"daily_limit": -1}}, "services[0].daily_limit", "0 (no limit) or more"),
    ({"service": {"hours": ["07:30"]}}, "services[0].hours[0]", "is not HH:MM-HH:MM"),
    ({"service": {"hours": ["25:00-26:00"]}}, "services[0].hours[0]", "hour must be"),
    ({"service": {"target_wait_min": 0}}, "services[0].target_wait_min", "more than 0"),
    ({"service": {"open_days": "mon"}}, "services[0].open_days", "must be a list"),
    ({"service": {"number_end": True}}, "services[0].number_end", "must be a whole number"),
    ({"counters": {}}, "counters", "must be a list"),
    ({"queue": {"transfer_position": "last"}}, "queue.transfer_position", "must be one of 'keep', 'first'"),
    ({"queue": {"interleave_every": 0}}, "queue.interleave_every", "1 or more"),
    ({"mqtt": {"port": 70000}}, "mqtt.port", "not a port number"),
    ({"mqtt": {"tls": "yes"}}, "mqtt.tls", "must be true or false"),
    ({"mqtt": {"keepalive_s": 1}}, "mqtt.keepalive_s", "5 or more"),
    ({"mqtt": {"broker_certfile": "/etc/queuebox/mqtt/broker.pem"}}, "mqtt.broker_keyfile", "must be set with"),
    ({"mqtt": {"broker_keyfile": "/etc/queuebox/mqtt/broker.key"}}, "mqtt.broker_certfile", "must be set with"),
    ({"mqtt": {"broker_certfile": "a.pem\nlistener 1", "broker_keyfile": "a.key"}}, "mqtt.broker_certfile",
     "a path on one line"),
    ({"server": {"port": 0}}, "server.port", "not a port number"),
    ({"database": "queuebox.db"}, "database", "must be a table"),
]


@pytest.mark.parametrize("overrides,key_path,fragment", BAD_VALUES,
                         ids=[getattr(row, "values", row)[1] for row in BAD_VALUES])
def test_one_bad_value_gives_one_problem(overrides, key_path, fragment):
    with pytest.raises(ConfigError) as info:
        config_from_dict(minimal(**overrides))
    assert len(info.value.problems) == 1, info.value.problems
    assert has_problem(info.value.problems, key_path, fragment), info.value.problems


@pytest.mark.parametrize("counter,key_path,fragment", [
    ({"id": "1", "name": "Quầy 1", "services": {}}, "counters[0].services", "at least one service"),
    ({"id": "1", "name": "Quầy 1", "services": {"A": 0}}, "counters[0].services.A", "weight must be 1 or more"),
    ({"id": "quầy 1", "name": "Quầy 1", "services": {"A": 1}}, "counters[0].id", "letters, digits"),
])
def test_bad_counter_gives_one_problem(counter, key_path, fragment):
    raw = minimal()
    raw["counters"] = [counter]
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw)
    assert len(info.value.problems) == 1, info.value.problems
    assert has_problem(info.value.problems, key_path, fragment), info.value.problems


def test_duplicate_counter_ids_are_reported():
    raw = minimal()
    raw["counters"].append({"id": "1", "name": "Quầy 1 bis", "services": {"A": 1}})
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw)
    assert has_problem(info.value.problems, "counters[1].id", "'1' is used by another counter")


def test_missing_site_is_reported():
    raw = minimal()
    del raw["site"]
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw)
    assert has_problem(info.value.problems, "site", "required key is missing")


def test_a_device_config_needs_no_services_nor_counters():
    """A display or kiosk Pi takes them from the server (the retained `services` snapshot)."""
    config = config_from_dict({"site": minimal()["site"], "mqtt": {"username": "display-display1", "password": "x"}})
    assert config.services == () and config.counters == ()


def test_valid_minimal_config_takes_defaults():
    config = config_from_dict(minimal())
    assert (config.site.timezone, config.queue.priority, config.mqtt.port) == ("Asia/Ho_Chi_Minh", "interleave", 1883)


# --- files that cannot be read ---------------------------------------------------------

@pytest.mark.parametrize("content,fragment", [
    ("[site\nid = 'x'\n", "not valid TOML"),
    ("id = 'a'\nid = 'b'\n", "not valid TOML"),
    (b"[site]\nname = '\xff\xfe'\n", "cannot read"),
])
def test_unreadable_file_is_one_clear_problem(tmp_path, content, fragment):
    problems = problems_of(write(tmp_path, content))
    assert len(problems) == 1 and problems[0].startswith(fragment), problems


def test_missing_file_is_reported_with_its_path(tmp_path):
    path = tmp_path / "nowhere.toml"
    problems = problems_of(path)
    assert problems == [f"file not found: {path}"]


def test_directory_instead_of_file_is_reported(tmp_path):
    problems = problems_of(tmp_path)
    assert len(problems) == 1 and problems[0].startswith(f"cannot read {tmp_path}"), problems


def test_config_error_is_a_value_error(tmp_path):
    with pytest.raises(ValueError):
        load_config(tmp_path / "nowhere.toml")


# --- ServiceConfig ---------------------------------------------------------------------

WEEKDAY_SERVICE = ServiceConfig(code="A", name_vi="Đất đai", open_days=("mon", "tue", "wed", "thu", "fri"),
                                hours=("07:30-11:30", "13:30-17:00"))


@pytest.mark.parametrize("local,expected", [
    (datetime(2026, 11, 23, 9, 0), True),  # Monday
    (datetime(2026, 11, 23, 7, 29, 59), False),
    (datetime(2026, 11, 23, 7, 30), True),  # opening minute is open
    (datetime(2026, 11, 23, 11, 29, 59), True),
    (datetime(2026, 11, 23, 11, 30), False),  # closing minute is closed
    (datetime(2026, 11, 23, 12, 15), False),  # lunch break
    (datetime(2026, 11, 23, 13, 30), True),
    (datetime(2026, 11, 23, 17, 0), False),
    (datetime(2026, 11, 27, 16, 59), True),  # Friday
    (datetime(2026, 11, 28, 9, 0), False),  # Saturday
    (datetime(2026, 11, 29, 9, 0), False),  # Sunday
    (datetime(2026, 11, 23, 9, 0, tzinfo=HCM), True),
    (datetime(2026, 11, 23, 12, 15, tzinfo=HCM), False),
    (datetime(2026, 11, 28, 9, 0, tzinfo=HCM), False),
])
def test_is_open_by_day_and_hours(local, expected):
    assert WEEKDAY_SERVICE.is_open(local) is expected


@pytest.mark.parametrize("utc,expected", [
    (datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc), True),  # 09:00 Monday in Ho Chi Minh City
    (datetime(2026, 11, 23, 5, 0, tzinfo=timezone.utc), False),  # 12:00, lunch
    (datetime(2026, 11, 22, 23, 0, tzinfo=timezone.utc), False),  # Sunday in UTC, 06:00 Monday local
    (datetime(2026, 11, 23, 0, 30, tzinfo=timezone.utc), True),  # Sunday in UTC, 07:30 Monday local
])
def test_is_open_uses_the_wall_clock_of_the_local_time(utc, expected):
    assert WEEKDAY_SERVICE.is_open(utc.astimezone(HCM)) is expected


@pytest.mark.parametrize("local,expected", [
    (datetime(2026, 11, 28, 0, 0), True),  # Saturday midnight
    (datetime(2026, 11, 28, 23, 59), True),
    (datetime(2026, 11, 29, 12, 0), False),  # Sunday is not an open day
])
def test_is_open_without_hours_is_open_all_day_on_open_days(local, expected):
    service = ServiceConfig(code="E", name_vi="Trả kết quả", open_days=("sat",), hours=())
    assert service.is_open(local) is expected


@pytest.mark.parametrize("start,end,label_format,sequence,expected", [
    (1, 3, "{code}{number:03d}", 1, "A001"),
    (1, 3, "{code}{number:03d}", 3, "A003"),
    (1, 3, "{code}{number:03d}", 4, "A001"),  # wraps after number_end
    (1, 3, "{code}{number:03d}", 5, "A002"),
    (1, 3, "{code}{number:03d}", 7, "A001"),  # wraps again
    (1, 999, "{code}{number:03d}", 999, "A999"),
    (1, 999, "{code}{number:03d}", 1000, "A001"),
    (0, 9, "{code}-{number}", 1, "A-0"),
    (0, 9, "{code}-{number}", 11, "A-0"),
    (100, 199, "{code}{number}", 1, "A100"),
    (100, 199, "{code}{number}", 101, "A100"),
])
def test_label_wraps_at_number_end(start, end, label_format, sequence, expected):
    service = ServiceConfig(code="A", name_vi="Đất đai", number_start=start, number_end=end,
                            label_format=label_format)
    assert service.label(sequence) == expected


# --- redaction -------------------------------------------------------------------------

def test_redacted_hides_the_mqtt_password(tmp_path):
    config = load_config(example_with_password(tmp_path))
    assert config.mqtt.password == SECRET
    assert redacted(config)["mqtt"]["password"] == "********"
    assert SECRET not in json.dumps(redacted(config), ensure_ascii=False)


def test_redacted_keeps_other_values(tmp_path):
    config = load_config(example_with_password(tmp_path))
    shown = redacted(config)
    assert shown["site"]["name"] == "Bộ phận Một cửa UBND xã An Phú"
    assert shown["mqtt"]["host"] == "localhost"
    assert [s["name_vi"] for s in shown["services"]][0] == "Đất đai"
    assert shown["counters"][0]["services"] == {"A": 2, "E": 1}


def test_redacted_shows_an_empty_password_as_empty():
    assert redacted(load_config(EXAMPLE))["mqtt"]["password"] == ""


# --- documentation ---------------------------------------------------------------------

KEY_PATHS = [path for path, _default, _help in config_keys()]


def test_config_keys_use_list_paths_for_table_arrays():
    assert {"site.id", "services[].code", "counters[].services", "queue.priority", "mqtt.password"} <= set(KEY_PATHS)


@pytest.mark.parametrize("key_path", KEY_PATHS)
def test_every_key_is_documented_in_the_example(key_path):
    leaf = key_path.rsplit(".", 1)[-1]
    text = EXAMPLE.read_text(encoding="utf-8")
    as_key = re.search(rf"^\s*{re.escape(leaf)}\s*=", text, re.M)
    in_comment = re.search(rf"^\s*#.*\b{re.escape(leaf)}\b", text, re.M)
    assert as_key or in_comment, f"{key_path}: {leaf!r} is not in {EXAMPLE.name}"


@pytest.mark.parametrize("key_path,_default,help_text", list(config_keys()))
def test_every_key_has_help(key_path, _default, help_text):
    assert help_text.strip().endswith((".", "…")), key_path


def _example_key_paths(table: dict[str, Any], prefix: str, known: set[str]) -> list[str]:
    """Every key of the parsed example as a config_keys() path; leaves as soon as one is known."""
    found = []
    for key, value in table.items():
        path = f"{prefix}.{key}" if prefix else key
        if path in known:
            found.append(path)
        elif isinstance(value, dict):
            found.extend(_example_key_paths(value, path, known))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                found.extend(_example_key_paths(item, path + "[]", known))
        else:
            found.append(path)
    return found


def test_example_has_no_key_config_does_not_know():
    known = set(KEY_PATHS)
    raw = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert [p for p in _example_key_paths(raw, "", known) if p not in known] == []


# --- queuebox check-config -------------------------------------------------------------

def test_check_config_accepts_the_example(capsys):
    assert main(["check-config", str(EXAMPLE)]) == 0
    out, err = capsys.readouterr()
    assert "OK" in out and "5 services, 6 counters" in out
    assert err == ""


def test_check_config_reads_the_config_option(capsys):
    assert main(["check-config", "--config", str(EXAMPLE)]) == 0
    assert "OK" in capsys.readouterr().out


def test_check_config_reads_the_environment(capsys, monkeypatch):
    monkeypatch.setenv("QUEUEBOX_CONFIG", str(EXAMPLE))
    assert main(["check-config"]) == 0
    assert str(EXAMPLE) in capsys.readouterr().out


def test_check_config_rejects_a_broken_file(tmp_path, capsys):
    assert main(["check-config", str(write(tmp_path, BROKEN_TYPES))]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert f"{len(BROKEN_TYPES_PROBLEMS)} problem(s)" in err


@pytest.mark.parametrize("key_path,fragment", BROKEN_TYPES_PROBLEMS)
def test_check_config_prints_each_problem_to_stderr(tmp_path, capsys, key_path, fragment):
    main(["check-config", str(write(tmp_path, BROKEN_TYPES))])
    err = capsys.readouterr().err
    assert re.search(rf"^  - {re.escape(key_path)}: .*{re.escape(fragment)}", err, re.M), err


@pytest.mark.parametrize("text", [
    '[site]\nid = "x"\nname = "y"\ntimezone = "Asia"\n'
    '[[services]]\ncode = "A"\nname_vi = "Đất đai"\n[[counters]]\nid = "1"\nname = "Q"\nservices = { A = 1 }\n',
    '[site]\nid = "x"\nname = "y"\n[[services]]\ncode = "A"\nname_vi = "Đất đai"\nlabel_format = "{number[0]}"\n'
    '[[counters]]\nid = "1"\nname = "Q"\nservices = { A = 1 }\n',
])
def test_check_config_reports_rather_than_crashes(tmp_path, capsys, text):
    assert main(["check-config", str(write(tmp_path, text))]) == 1
    assert "1 problem(s)" in capsys.readouterr().err


def test_check_config_reports_a_missing_file(tmp_path, capsys):
    path = tmp_path / "nowhere.toml"
    assert main(["check-config", str(path)]) == 1
    assert f"file not found: {path}" in capsys.readouterr().err


def test_check_config_print_hides_the_password(tmp_path, capsys):
    assert main(["check-config", "--print", str(example_with_password(tmp_path))]) == 0
    out, err = capsys.readouterr()
    assert '"password": "********"' in out
    assert SECRET not in out + err


def test_check_config_print_shows_the_configuration(tmp_path, capsys):
    main(["check-config", "--print", str(example_with_password(tmp_path))])
    out = capsys.readouterr().out
    shown = json.loads(out[: out.rindex("}") + 1])
    assert shown["site"]["name"] == "Bộ phận Một cửa UBND xã An Phú"
    assert len(shown["services"]) == 5


def test_services_printing_the_same_labels_are_refused():
    from tests.factories import make_config

    with pytest.raises(ConfigError) as info:
        make_config(services=[{"code": "A", "name_vi": "Đất đai", "label_format": "{number:04d}"},
                              {"code": "B", "name_vi": "Hộ tịch", "label_format": "{number:04d}",
                               "number_start": 500, "number_end": 1500}])
    assert any("A and B print the same labels" in p for p in info.value.problems)
    # disjoint ranges are fine
    make_config(services=[{"code": "A", "name_vi": "Đất đai", "label_format": "{number:04d}", "number_end": 999},
                          {"code": "B", "name_vi": "Hộ tịch", "label_format": "{number:04d}",
                           "number_start": 1000, "number_end": 1999}],
                counters=[{"id": "1", "name": "Quầy 1", "services": {"A": 1, "B": 1}}])


def test_to_toml_reads_back_to_the_same_config(tmp_path):
    from queuebox.config import to_toml

    config = load_config(EXAMPLE)
    path = tmp_path / "copy.toml"
    path.write_text(to_toml(config), encoding="utf-8")
    assert load_config(path) == config
    assert 'name_vi = "Hộ tịch - Chứng thực"' in path.read_text(encoding="utf-8")


# --- the board's slides --------------------------------------------------------------------------

@pytest.mark.parametrize("display,key,fragment", [
    ({"slides": ["history", "lokup"]}, "display.slides[1]", "not 'lokup' (did you mean 'lookup'?)"),
    ({"slides": ["procedure"]}, "display.slides[0]", "did you mean 'procedures'?"),
    ({"slides": []}, "display.slides", "at least one slide"),
    ({"slides": ["history", "message", "history"]}, "display.slides", "'history' is listed twice"),
    ({"slides": "history"}, "display.slides", "must be a list"),
    ({"slide_s": 2}, "display.slide_s", "must be 4 or more"),
    ({"slide_s": 12.5}, "display.slide_s", "must be a whole number"),
])
def test_bad_slides_are_refused_with_their_key(display, key, fragment):
    with pytest.raises(ConfigError) as info:
        config_from_dict(minimal(display=display))
    assert any(p.startswith(f"{key}:") and fragment in p for p in info.value.problems), info.value.problems


def test_slides_default_to_turning_and_history_alone_is_allowed():
    assert config_from_dict(minimal()).display.slides == ("history", "procedures", "lookup", "message")
    config = config_from_dict(minimal(display={"slides": ["history"], "slide_s": 4}))
    assert (config.display.slides, config.display.slide_s) == (("history",), 4)
