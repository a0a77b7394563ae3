"""Changing the procedure catalogue through the single writer (server/catalogue_writes.py) and
from the command line: each change one transaction with one `catalogue_changed` event."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from queuebox.catalogue import Procedure
from queuebox.cli import main
from server.catalogue_files import read_catalogue, to_csv
from server.catalogue_store import get_procedure, load_procedures
from server.catalogue_writes import CatalogueError, UnknownProcedure, move, replace_all, save, set_hidden
from server.engine import Engine
from tests.factories import FakeClock, make_config

EXAMPLE = Path(__file__).parents[1] / "config" / "procedures.example.csv"
BIRTH = {"service": "B", "name_vi": "Đăng ký khai sinh", "code": "1.001193", "fee": "Miễn phí",
         "documents": "- Tờ khai\n\n- Giấy chứng sinh"}


@pytest.fixture
def engine(tmp_path):
    eng = Engine(make_config(), tmp_path / "q.db", clock=FakeClock())
    yield eng
    eng.close()


def catalogue(engine: Engine) -> list[Procedure]:
    return engine.read(lambda conn: load_procedures(conn, include_hidden=True))


def events(engine: Engine) -> list[tuple[str, str, dict]]:
    rows = engine.read(lambda conn: conn.execute("SELECT type, actor, data FROM events ORDER BY seq").fetchall())
    return [(t, a, json.loads(d)) for t, a, d in rows]


def test_add_and_edit_each_write_one_event_naming_ids_and_services(engine):
    heard = []
    engine.add_listener(heard.extend)
    first = save(engine, "web/manager", BIRTH, on_the_spot=True)
    second = save(engine, "web/manager", {"service": "B", "name_vi": "Đăng ký kết hôn"}, on_the_spot=False)
    save(engine, "web/manager", {**BIRTH, "fee": "Miễn phí (đúng hạn)"}, on_the_spot=True, procedure_id=first)
    assert [(p.id, p.position, p.fee) for p in catalogue(engine)] == [(first, 1, "Miễn phí (đúng hạn)"),
                                                                        (second, 2, "")]
    assert catalogue(engine)[0].documents == ("Tờ khai", "Giấy chứng sinh")
    assert events(engine) == [
        ("catalogue_changed", "web/manager", {"action": "add", "ids": [first], "services": ["B"]}),
        ("catalogue_changed", "web/manager", {"action": "add", "ids": [second], "services": ["B"]}),
        ("catalogue_changed", "web/manager", {"action": "edit", "ids": [first], "services": ["B"]}),
    ]
    assert [r.type for r in heard] == ["catalogue_changed"] * 3


def test_a_refused_change_writes_nothing(engine):
    save(engine, "web/manager", BIRTH, on_the_spot=False)
    with pytest.raises(CatalogueError) as caught:
        save(engine, "web/manager", {**BIRTH, "service": "Q", "portal_url": "ftp://x"}, on_the_spot=False)
    assert {(p.field, p.code) for p in caught.value.problems} == {
        ("service", "unknown_service"), ("code", "duplicate_code"), ("portal_url", "bad_url")}
    assert len(catalogue(engine)) == 1 and len(events(engine)) == 1


def test_moving_to_another_field_puts_it_last_there(engine):
    a = save(engine, "t", {"service": "A", "name_vi": "Tách thửa"}, on_the_spot=False)
    b = save(engine, "t", BIRTH, on_the_spot=False)
    save(engine, "t", {**BIRTH, "service": "A"}, on_the_spot=False, procedure_id=b)
    assert [(p.id, p.service, p.position) for p in catalogue(engine)] == [(a, "A", 1), (b, "A", 2)]
    assert events(engine)[-1][2]["services"] == ["A", "B"]


def test_hide_show_and_move(engine):
    ids = [save(engine, "t", {"service": "B", "name_vi": f"Thủ tục {i}"}, on_the_spot=False) for i in range(3)]
    set_hidden(engine, "t", ids[1], True)
    assert [p.id for p in engine.read(load_procedures)] == [ids[0], ids[2]]
    set_hidden(engine, "t", ids[1], False)
    move(engine, "t", ids[2], -1)
    assert [p.id for p in catalogue(engine)] == [ids[0], ids[2], ids[1]]
    assert move(engine, "t", ids[0], -1) is None  # already first: no event
    assert [e[2]["action"] for e in events(engine)][-3:] == ["hide", "show", "move"]
    with pytest.raises(UnknownProcedure):
        set_hidden(engine, "t", 999, True)


def test_an_import_replaces_the_catalogue_keeping_ids_of_the_same_codes(engine):
    kept = save(engine, "t", BIRTH, on_the_spot=False)
    gone = save(engine, "t", {"service": "A", "name_vi": "Bỏ đi"}, on_the_spot=False)
    data = ("Mã thủ tục,Lĩnh vực,Tên thủ tục,Phí, lệ phí\n".replace("Phí, lệ phí", "\"Phí, lệ phí\"")
            + ",C,Đăng ký hộ kinh doanh,100.000 đồng/lần\n1.001193,B,Đăng ký khai sinh,Miễn phí (đúng hạn)\n")
    replace_all(engine, "cli", read_catalogue(data.encode(), ["A", "B", "C"]))
    after = catalogue(engine)
    assert engine.read(lambda conn: get_procedure(conn, kept)).fee == "Miễn phí (đúng hạn)"
    assert gone not in [p.id for p in after] and [p.service for p in after] == ["B", "C"]
    assert events(engine)[-1] == ("catalogue_changed", "cli", {"action": "import", "count": 2,
                                                                "services": ["A", "B", "C"]})


def test_an_import_is_checked_again_against_the_services_of_the_moment(engine):
    save(engine, "t", BIRTH, on_the_spot=False)
    with pytest.raises(CatalogueError):
        replace_all(engine, "cli", [Procedure(id=0, service="D", name_vi="Trợ cấp")])  # D is not a service here
    assert [p.name_vi for p in catalogue(engine)] == ["Đăng ký khai sinh"]


def test_services_snapshot_gives_the_lookup_address(engine):
    assert engine.services_snapshot()["lookup_url"] == "http://queuebox.local:8080/procedures"


# --- the command line ---------------------------------------------------------------------------

@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "queuebox.toml"
    path.write_text(Path(__file__).parents[1].joinpath("config", "queuebox.example.toml").read_text(encoding="utf-8")
                    .replace('path = "/var/lib/queuebox/queuebox.db"', f'path = "{tmp_path / "cli.db"}"'),
                    encoding="utf-8")
    return path


def test_cli_imports_the_example_and_exports_it_back(config_file, tmp_path, capsys):
    assert main(["catalogue", "--config", str(config_file), "import", str(EXAMPLE)]) == 0
    assert "imported 35 procedures" in capsys.readouterr().out
    out = tmp_path / "out.xlsx"
    assert main(["catalogue", "--config", str(config_file), "export", str(out)]) == 0
    services = list("ABCDE")
    assert read_catalogue(out.read_bytes(), services) == read_catalogue(EXAMPLE.read_bytes(), services)
    conn = sqlite3.connect(tmp_path / "cli.db")
    assert conn.execute("SELECT count(*) FROM events WHERE type = 'catalogue_changed' AND actor = 'cli'").fetchone() == (1,)


def test_cli_lists_every_problem_and_imports_nothing(config_file, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(to_csv([Procedure(id=0, service="Q", name_vi="X"), Procedure(id=0, service="A", name_vi="")]))
    assert main(["catalogue", "--config", str(config_file), "import", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "not imported, 2 problem(s)" in err and "line 2, Lĩnh vực: Q is not the code" in err
    assert "line 3, Tên thủ tục: required" in err
