"""The touch kiosk through a real Mosquitto and the real server (engine, SQLite file, MQTT
bridge): touches posted as pygame events on the dummy video driver, the button kiosk's press
rules and take protocol behind them, escpos's Dummy printer."""

from __future__ import annotations

import sqlite3

import pytest

from queuebox.protocol import Topics
from tests.device.fakes import AnsweringDummy
from tests.device.touch_rig import TouchRig
from tests.factories import FakeClock, make_config
from tests.integration.test_server_mqtt import Client, Server

RT_STATUS_ONLINE, RT_STATUS_PAPER = b"\x10\x04\x01", b"\x10\x04\x04"
OK_STATUS, NO_PAPER = b"\x12", b"\x72"


@pytest.fixture
def groups():
    """The centre's priority groups: None for the five of the law (the default)."""
    return None


@pytest.fixture
def config(broker, mqtt_root, groups):
    own = {} if groups is None else {"priority_groups": groups, "queue": {"elderly_group": ""}}
    return make_config(mqtt={"host": broker.host, "port": broker.port, "root": mqtt_root},
                       server={"public_url": "http://queuebox.test:8080"},
                       kiosk={"id": "kiosk1", "screen": "touch", "retry_every_s": 0.3, "cooldown_s": 2.0,
                              "idle_timeout_s": 30.0},
                       printer={"kind": "dummy", "paper_width_mm": 80}, **own)


@pytest.fixture
def server(config, tmp_path):
    s = Server(config, tmp_path / "q.db", FakeClock())
    yield s
    s.stop()


@pytest.fixture
def rig(config, server, mock_factory, dejavu):
    r = TouchRig(config, mock_factory, dejavu)
    r.ready()
    yield r
    r.stop()


def group_of_tickets(server) -> list[tuple]:
    conn = sqlite3.connect(server.db_path)
    try:
        return conn.execute("SELECT label, priority, priority_group FROM tickets ORDER BY id").fetchall()
    finally:
        conn.close()


def tickets(server) -> list[tuple]:
    conn = sqlite3.connect(server.db_path)
    try:
        return conn.execute("SELECT label, service, priority, kiosk FROM tickets ORDER BY id").fetchall()
    finally:
        conn.close()


def test_one_touch_on_a_tile_prints_the_ticket_the_database_recorded_and_shows_its_number(rig, server):
    rig.tap("tile:A")
    printed = rig.next_printed()
    assert tickets(server) == [(printed.ticket.label, "A", 0, "kiosk1")] == [("A001", "A", 0, "kiosk1")]
    rig.run_until(lambda: rig.screen.model.state.result.state == "printed", what="the printed screen")
    assert rig.screen.model.state.result.label == "A001" and len(rig.jobs()) == 1


@pytest.mark.parametrize("groups", [[]])  # a centre without priority groups
def test_priority_then_a_tile_gives_a_priority_ticket_in_two_touches(rig, server):
    rig.tap("priority")
    assert rig.screen.model.state.screen == "priority"
    rig.tap("tile:B")
    printed = rig.next_printed()
    assert printed.ticket.priority and tickets(server) == [("B001", "B", 1, "kiosk1")]


def test_priority_a_group_and_a_tile_take_a_ticket_of_that_group_in_three_touches(rig, server, broker, config):
    takes = Client(broker, [Topics(config.mqtt.root, config.site.id).kiosk_take("kiosk1")])
    try:
        rig.tap("priority")
        assert rig.screen.model.state.screen == "groups"
        assert [w.name for w in rig.screen.widgets if w.name.startswith("group:")] == [
            "group:CT", "group:KT", "group:MT", "group:CC", "group:TE"]
        assert "Người cao tuổi" in [line.text for line in rig.widget("group:CT").lines]
        rig.tap("group:CT")
        assert rig.screen.model.state.screen == "priority"
        rig.tap("tile:B")
        printed = rig.next_printed()
        take = takes.wait_for(lambda topic, body: body is not None and body.get("service") == "B")
        assert (take["priority"], take["group"]) == (True, "CT")
    finally:
        takes.close()
    assert printed.ticket.priority and printed.ticket.group == "CT"
    assert group_of_tickets(server) == [("B001", 1, "CT")]
    rig.run_until(lambda: rig.screen.model.state.result.state == "printed", what="the printed screen")
    assert "Ưu tiên · Người cao tuổi" in [line.text for line in rig.widget("printed").lines]


def test_the_groups_screen_has_a_way_back_and_its_own_language(rig, server):
    rig.tap("priority")
    rig.tap("group:KT")
    rig.tap("back")  # from the tiles to the groups, the group forgotten
    assert (rig.screen.model.state.screen, rig.screen.model.state.group) == ("groups", None)
    rig.tap("lang")
    assert "Person with a disability" in [line.text for line in rig.widget("group:KT").lines]
    rig.tap("back")
    assert rig.screen.model.state.screen == "home"
    rig.tap("tile:A")  # from home after all that: a plain ticket
    assert rig.next_printed().ticket.priority is False and group_of_tickets(server) == [("A001", 0, None)]


def test_no_touch_on_the_groups_screen_goes_back_to_the_tiles(rig, server):
    rig.tap("priority")
    rig.tap("group:MT")
    rig.clock.skipped += 31.0
    rig.run_until(lambda: rig.screen.model.state.screen == "home", what="the idle time-out")
    assert rig.screen.model.state.group is None
    rig.tap("priority")
    rig.clock.skipped += 31.0
    rig.run_until(lambda: rig.screen.model.state.screen == "home", what="the idle time-out")
    assert tickets(server) == []


def test_a_touch_outside_every_button_does_nothing(rig, server):
    gap = rig.widget("tile:A").rect
    x, y = gap.x + gap.w + 2, gap.y + gap.h // 2  # between two tiles
    assert rig.screen.model.state.screen == "home"
    for down in (True, False):
        rig.finger(down, x, y)
    rig.mouse(True, 1, 1)
    rig.mouse(False, 1, 1)
    rig.settle(0.5)
    assert rig.screen.model.state.screen == "home" and tickets(server) == [] and rig.jobs() == []


def test_a_touch_held_for_a_minute_gives_one_ticket_when_lifted(rig, server):
    x, y = rig.widget("tile:A").rect.centre
    rig.finger(True, x, y)
    rig.settle(0.3)
    rig.clock.skipped += 60.0
    rig.settle(0.3)
    assert tickets(server) == []  # nothing yet: a press counts when the finger comes up
    rig.finger(False, x, y)
    rig.next_printed()
    rig.settle(1.0)
    assert [t[0] for t in tickets(server)] == ["A001"] and len(rig.jobs()) == 1


def test_a_finger_sliding_off_the_tile_cancels(rig, server):
    a, b = rig.widget("tile:A").rect.centre, rig.widget("tile:B").rect.centre
    rig.finger(True, *a)
    rig.finger(False, *b)
    rig.settle(0.5)
    assert tickets(server) == []


def test_two_fingers_at_once_give_no_ticket(rig, server):
    a, b = rig.widget("tile:A").rect.centre, rig.widget("tile:B").rect.centre
    rig.finger(True, *a, finger=0)
    rig.finger(True, *b, finger=1)
    rig.finger(False, *b, finger=1)
    rig.finger(False, *a, finger=0)
    rig.settle(0.5)
    assert tickets(server) == [] and rig.screen.model.state.screen == "home"
    rig.tap("tile:A")  # the next one-finger touch works again
    rig.next_printed()


def test_a_finger_and_its_mouse_copy_give_one_ticket(rig, server):
    x, y = rig.widget("tile:A").rect.centre
    rig.finger(True, x, y)
    rig.mouse(True, x, y, touch=True)
    rig.finger(False, x, y)
    rig.mouse(False, x, y, touch=True)
    rig.next_printed()
    rig.settle(1.0)
    assert len(tickets(server)) == 1


def test_double_touches_give_one_ticket_under_the_cooldown(rig, server):
    x, y = rig.widget("tile:A").rect.centre
    for _ in range(2):  # a double tap: the second lands on the "printing" screen
        rig.finger(True, x, y)
        rig.finger(False, x, y)
    rig.next_printed()
    rig.run_until(lambda: rig.screen.model.state.result.state == "printed")
    rig.tap("done")
    rig.tap("tile:A")  # again within the 2 s cooldown: ignored, back to the tiles
    rig.run_until(lambda: rig.screen.model.state.screen == "home" and not rig.screen.model.state.busy)
    rig.settle(1.0)
    assert [t[0] for t in tickets(server)] == ["A001"] and len(rig.jobs()) == 1


def test_no_touch_for_the_idle_time_goes_back_to_the_tiles_in_vietnamese(rig):
    rig.tap("lang")
    rig.tap("lookup")
    assert rig.screen.model.state.screen == "fields" and rig.screen.model.state.lang == "en"
    rig.clock.skipped += 31.0
    rig.run_until(lambda: rig.screen.model.state.screen == "home")
    assert rig.screen.model.state.lang == "vi"


def test_tiles_follow_the_servers_names_and_closing_live(rig, server):
    from server.settings import raw_config
    services = raw_config(server.engine.config)["services"]
    services[0] = {**services[0], "name_vi": "Đất đai - Nhà ở"}
    services[2] = {**services[2], "override": "closed"}
    server.engine.reconfigure({"services": services}, "manager")
    rig.run_until(lambda: not rig.widget("tile:C").enabled, what="service C closed")
    assert rig.widget("tile:A").lines[0].text == "Đất đai - Nhà ở"
    assert [line.text for line in rig.widget("tile:C").lines][-1] == "Đã hết giờ"
    rig.tap("tile:C")
    rig.settle(0.3)
    assert tickets(server) == [] and rig.screen.model.state.screen == "home"


def test_paper_out_is_said_before_a_choice_and_the_tiles_take_no_touch(config, server, mock_factory, dejavu):
    paper = AnsweringDummy({RT_STATUS_ONLINE: OK_STATUS, RT_STATUS_PAPER: NO_PAPER})
    rig = TouchRig(config, mock_factory, dejavu, connection=paper)
    try:
        rig.run_until(lambda: bool(rig.screen.model.state.services) and rig.screen.model.state.fault == "paper_out")
        rig.settle(0.2)
        banner = rig.widget("fault")
        assert "hết giấy" in banner.lines[0].text
        assert not rig.widget("tile:A").enabled and not rig.widget("priority").enabled
        rig.tap("tile:A")
        rig.settle(0.5)
        assert tickets(server) == []
        paper.answers[RT_STATUS_PAPER] = OK_STATUS  # the roll is changed
        rig.run_until(lambda: rig.widget("tile:A").enabled, timeout=5)
        rig.tap("tile:A")
        assert rig.next_printed().ticket.label == "A001"
    finally:
        rig.stop()
