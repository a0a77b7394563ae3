"""Priority groups (config `[[priority_groups]]`, `queue.elderly_group`, `kiosk.group_buttons`):
their validation, a ticket's group through the rules and the engine, and migration 0006."""

from __future__ import annotations

import sqlite3
import unicodedata

import pytest

from queuebox.config import DEFAULT_PRIORITY_GROUPS, config_from_dict, load_config
from queuebox.errors import CommandRejected, ConfigError
from server import rules, store
from server.engine import Engine
from server.migrations import KNOWN, migrations
from tests.factories import MONDAY_9AM, FakeClock, make_config

SITE = {"id": "test", "name": "Trung tâm thử"}


def problems(**raw) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        config_from_dict({"site": SITE, **raw})
    return caught.value.problems


# --- configuration ---------------------------------------------------------------------------

def test_without_priority_groups_the_five_of_the_law_are_used():
    config = make_config()
    assert [(g.code, g.name_vi) for g in config.priority_groups] == [
        ("CT", "Người cao tuổi"), ("KT", "Người khuyết tật"), ("MT", "Phụ nữ mang thai"),
        ("CC", "Người có công với cách mạng"), ("TE", "Người đi cùng trẻ em dưới 6 tuổi")]
    assert all(unicodedata.is_normalized("NFC", g.name_vi) for g in config.priority_groups)
    assert (config.queue.elderly_group, config.queue.elderly_age) == ("CT", 60)
    assert config.priority_group("KT").name("en") == "Person with a disability"


def test_the_example_file_lists_the_default_groups():
    assert load_config("config/queuebox.example.toml").priority_groups == DEFAULT_PRIORITY_GROUPS


def test_a_centre_names_its_own_groups_and_elderly_age():
    config = make_config(priority_groups=[{"code": "CT75", "name_vi": "Người từ 75 tuổi"}],
                         queue={"elderly_group": "CT75", "elderly_age": 75})
    assert [g.code for g in config.priority_groups] == ["CT75"]
    assert config.priority_group("CT75").name("en") == "Người từ 75 tuổi"  # no English name: the Vietnamese one
    assert config.priority_group("CT") is None and config.priority_group(None) is None
    assert make_config(queue={"elderly_group": ""}).queue.elderly_group == ""


@pytest.mark.parametrize("raw,problem", [
    ({"priority_groups": [{"code": "ct", "name_vi": "x"}], "queue": {"elderly_group": ""}},
     "priority_groups[0].code: 'ct' must be 1 to 4 capital letters or digits"),
    ({"priority_groups": [{"code": "CTKTM", "name_vi": "x"}], "queue": {"elderly_group": ""}},
     "priority_groups[0].code: 'CTKTM' must be 1 to 4"),
    ({"priority_groups": [{"code": "CT", "name_vi": "a"}, {"code": "CT", "name_vi": "b"}]},
     "priority_groups[1].code: 'CT' is used by another priority group"),
    ({"priority_groups": [{"code": "CT", "name_vi": " "}]}, "priority_groups[0].name_vi: must not be empty"),
    ({"priority_groups": [{"code": "CT", "name_vi": "x" * 61}]}, "priority_groups[0].name_vi: 61 characters, at most 60"),
    ({"priority_groups": [{"code": "CT"}]}, "priority_groups[0].name_vi: required key is missing"),
    ({"priority_groups": [{"code": "CT", "name_vi": "x", "name": "y"}]}, "priority_groups[0].name: unknown key"),
    ({"queue": {"elderly_group": "CTT"}}, "queue.elderly_group: 'CTT' is not a priority group (did you mean 'CT'?); "
                                         "the groups are CT, KT, MT, CC, TE"),
    ({"priority_groups": [], "queue": {}}, "queue.elderly_group: 'CT' is not a priority group; the groups are none"),
    ({"queue": {"elderly_age": 49}}, "queue.elderly_age: must be 50 to 100, not 49"),
    ({"queue": {"elderly_age": 101}}, "queue.elderly_age: must be 50 to 100, not 101"),
    ({"kiosk": {"group_buttons": {"KTT": 20}}}, "kiosk.group_buttons.KTT: unknown priority group (did you mean 'KT'?)"),
    ({"kiosk": {"group_buttons": {"KT": 40}}}, "kiosk.group_buttons.KT: 40 is not a GPIO pin"),
    ({"kiosk": {"buttons": {"A": 20}, "group_buttons": {"KT": 20}}}, "kiosk: GPIO pin 20 is used twice"),
])
def test_a_bad_group_setting_is_one_clear_problem(raw, problem):
    raw = {"services": [{"code": "A", "name_vi": "Đất đai"}],
           "counters": [{"id": "1", "name": "Quầy 1", "services": {"A": 1}}], **raw}
    found = problems(**raw)
    assert len(found) == 1 and found[0].startswith(problem), found


# --- rules and engine ------------------------------------------------------------------------

def test_a_ticket_of_a_group_is_priority_and_carries_it():
    state = rules.empty_state(make_config(), MONDAY_9AM.date())
    outcome = rules.issue_ticket(state, "A", MONDAY_9AM, token="t1", group="KT")
    assert (outcome.ticket.priority, outcome.ticket.priority_group) == (True, "KT")
    assert outcome.events[0].data == {"service": "A", "priority": True, "kiosk": None, "group": "KT"}


def test_an_unknown_group_is_refused_naming_the_known_ones():
    state = rules.empty_state(make_config(), MONDAY_9AM.date())
    with pytest.raises(CommandRejected) as caught:
        rules.issue_ticket(state, "A", MONDAY_9AM, token="t1", group="XX")
    assert caught.value.code == "bad_request"
    assert "'XX'" in str(caught.value) and "CT, KT, MT, CC, TE" in str(caught.value)


def test_the_engine_stores_the_group_and_replies_with_its_name(tmp_path):
    path = tmp_path / "q.db"
    engine = Engine(make_config(), path, clock=FakeClock())
    reply = engine.take("k-1", "kiosk1", "A", group="CT").reply
    plain = engine.take("k-2", "kiosk1", "A", priority=True).reply
    assert reply["ok"] and reply["ticket"]["priority"] is True
    assert (reply["ticket"]["group"], reply["ticket"]["group_name"], reply["ticket"]["group_name_en"]) == \
        ("CT", "Người cao tuổi", "Elderly")
    assert (plain["ticket"]["priority"], plain["ticket"]["group"], plain["ticket"]["group_name"]) == (True, None, None)
    called = engine.counter("c-1", "1", "next").reply
    assert (called["ticket"]["label"], called["ticket"]["group"], called["ticket"]["group_name"]) == \
        ("A001", "CT", "Người cao tuổi")
    engine.close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT label, priority, priority_group FROM tickets ORDER BY id").fetchall() == [
        ("A001", 1, "CT"), ("A002", 1, None)]
    conn.close()
    db = store.open_database(path)  # the group survives a restart
    assert {t.label: t.priority_group for t in store.load_state(db, make_config()).tickets.values()} == \
        {"A001": "CT", "A002": None}
    db.close()


def test_migration_0006_adds_the_group_and_leaves_old_tickets_without_one(tmp_path):
    db = store.open_database(tmp_path / "old.db")
    migrations.apply(db, stop_before="0006_priority_groups")
    db.execute("INSERT INTO tickets (id, day, service, number, label, priority, token, status, queue, issued_at) "
               "VALUES (1, '2026-11-23', 'A', 1, 'A001', 1, 'tok', 'waiting', 'A', '2026-11-23T09:00:00+07:00')")
    store.migrate(db)
    assert "0006_priority_groups" in KNOWN
    assert db.execute("SELECT priority, priority_group FROM tickets").fetchall() == [(1, None)]
    db.close()


# --- reports ---------------------------------------------------------------------------------

def test_the_report_by_group_counts_each_group_and_names_it(tmp_path):
    from server.reports import NO_GROUP, Period, open_readonly, report

    clock = FakeClock()
    engine = Engine(make_config(), tmp_path / "q.db", clock=clock)
    for n, (group, priority) in enumerate([("CT", True), (None, False), ("CT", True), ("KT", True), (None, True),
                                           (None, False), ("CT", True), (None, False)]):
        assert engine.take(f"t{n}", "kiosk1", "A", priority, group).reply["ok"]
        clock.advance(seconds=30)
    for n in range(5):  # counter 1 serves five, in the order of the interleave policy
        assert engine.counter(f"n{n}", "1", "next").reply["ok"]
        clock.advance(minutes=2)
    assert engine.counter("d", "1", "done").reply["ok"]
    engine.close()
    db = open_readonly(tmp_path / "q.db")
    found = report(db, Period.day(MONDAY_9AM.date()), by="group")
    db.close()
    rows = {row.key: row for row in found.rows}
    assert {key: row.issued for key, row in rows.items()} == {"CT": 3, "KT": 1, NO_GROUP: 1, None: 3}
    assert sum(row.served for row in found.rows) == found.totals.served == 5
    assert [found.name(row.key) for row in found.rows] == [
        "CT · Người cao tuổi", "KT · Người khuyết tật", "Ưu tiên (không nhóm)", "—"]
