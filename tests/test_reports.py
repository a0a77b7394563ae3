"""The manager's reports (`server.reports`), `queuebox report`, and the Datasette metadata.

The main check: a seeded synthetic day of 600 tickets, made by driving the real engine
(tests/report_fixtures.py), whose expected figures are computed here in plain Python from
the simulation's own record of what it did — not from the database, not with the module's SQL.
"""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
from collections import Counter
from datetime import date, timedelta, timezone
from fractions import Fraction
from pathlib import Path

import pytest

from queuebox.cli import main
from server import store
from server.reports import (COLUMNS, DIMENSIONS, Period, ReportError, clerk_of, open_readonly, percentile, report,
                            reports)
from tests.report_fixtures import MONDAY, SERVICES, ZONE, Centre, Made, simulate_days

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = {code: minutes * 60 for code, _, minutes, _, _ in SERVICES}


# --- the expected figures, computed independently ---------------------------------------------

def nearest_rank(values: list[float], p: int) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(Fraction(p, 100) * len(ordered)) - 1]


def clerk(origin: str | None) -> str | None:
    if origin is None:
        return None
    return origin[len("web/"):] if origin.startswith("web/") else "(keypad)"


def key_of(m: Made, by: str) -> object:
    return {"service": m.service, "counter": m.counter, "clerk": clerk(m.ended_by),
            "hour": m.issued_at.astimezone(ZONE).hour, "day": m.day.isoformat(), "group": m.group}[by]


def expected(made: list[Made]) -> dict[str, object]:
    statuses = Counter(m.status for m in made)
    waits = [m.wait_s for m in made if m.wait_s is not None]
    services = [m.service_s for m in made if m.status == "done"]
    scores = Counter(m.score for m in made if m.status == "done" and m.score is not None)
    rated = sum(scores.values())
    return {
        "issued": len(made), "served": statuses["done"], "no_show": statuses["no_show"],
        "cancelled": statuses["cancelled"],
        "left_without_service": sum(1 for m in made if m.status == "cancelled" and m.first_call is None),
        "open": statuses["waiting"] + statuses["called"] + statuses["serving"],
        "transferred": sum(m.transferred for m in made), "called": len(waits),
        "wait_median_s": nearest_rank(waits, 50), "wait_p90_s": nearest_rank(waits, 90),
        "wait_max_s": max(waits) if waits else None,
        "service_median_s": nearest_rank(services, 50), "service_p90_s": nearest_rank(services, 90),
        "service_max_s": max(services) if services else None,
        "within_target": sum(1 for m in made if m.wait_s is not None and m.wait_s <= TARGET_S[m.service]),
        "within_target_share": (sum(1 for m in made if m.wait_s is not None and m.wait_s <= TARGET_S[m.service])
                                / len(waits)) if waits else None,
        "ratings": tuple(scores[s] for s in (1, 2, 3, 4)),
        "satisfied_share": (scores[1] + scores[2]) / rated if rated else None,
        "response_rate": rated / statuses["done"] if statuses["done"] else None,
    }


def actual(figures: object) -> dict[str, object]:
    return {name: getattr(figures, name) for name in expected([])}


def approx(values: dict[str, object]) -> dict[str, object]:
    return {k: pytest.approx(v, abs=1e-3) if isinstance(v, float) else v for k, v in values.items()}


# --- the synthetic day -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Made]]:
    path = tmp_path_factory.mktemp("reports") / "queuebox.db"
    return path, simulate_days(path, [(MONDAY, 600)], seed=2026)


@pytest.fixture
def db(day):
    database = open_readonly(day[0])
    yield database
    database.close()


def test_the_synthetic_day_has_every_case(day):
    made = day[1]
    statuses = Counter(m.status for m in made)
    assert len(made) == 600 and {m.service for m in made} == set(TARGET_S)
    assert statuses["done"] > 400 and statuses["no_show"] > 20 and statuses["waiting"] > 0
    assert sum(m.transferred for m in made) > 10
    assert sum(m.score is not None for m in made) > 200 and all(sum(m.score == s for m in made) for s in (1, 2, 3, 4))
    assert {"lan", "minh", "hoa", "tuan", "mai", "(keypad)"} <= {clerk(m.ended_by) for m in made}
    assert any(m.status == "done" and m.started is None for m in made)  # service time from the call
    assert any(m.wait_s is not None and m.wait_s > TARGET_S[m.service] for m in made)
    assert any(m.wait_s is not None and m.wait_s <= TARGET_S[m.service] for m in made)


@pytest.mark.parametrize("by", DIMENSIONS)
def test_each_group_matches_the_figures_computed_by_hand(day, db, by):
    made = day[1]
    groups: dict[object, list[Made]] = {}
    for m in made:
        groups.setdefault(key_of(m, by), []).append(m)
    result = report(db, Period.day(MONDAY), by)
    assert {f.key: actual(f) for f in result.rows} == {k: approx(expected(v)) for k, v in groups.items()}


def test_totals_match_the_figures_computed_by_hand(day, db):
    assert actual(report(db, Period.day(MONDAY)).totals) == approx(expected(day[1]))


@pytest.mark.parametrize("by", DIMENSIONS)
def test_rows_add_up_to_the_totals(db, by):
    result = report(db, Period.day(MONDAY), by)
    for name in ("issued", "served", "no_show", "cancelled", "open", "transferred", "called", "within_target"):
        assert sum(getattr(f, name) for f in result.rows) == getattr(result.totals, name), name
    assert tuple(map(sum, zip(*(f.ratings for f in result.rows)))) == result.totals.ratings


def test_busiest_hours_are_the_hours_with_most_tickets_issued(day, db):
    hours = Counter(m.issued_at.astimezone(ZONE).hour for m in day[1])
    ranked = sorted(hours.items(), key=lambda item: (-item[1], item[0]))[:3]
    assert report(db, Period.day(MONDAY)).busiest_hours == ranked


def test_groups_are_sorted_and_named(db):
    assert [f.key for f in report(db, Period.day(MONDAY), "counter").rows] == ["1", "2", "3", "4", "5", "6", None]
    services = report(db, Period.day(MONDAY), "service")
    assert [services.name(f.key) for f in services.rows][0] == "A · Đất đai"
    clerks = [f.key for f in report(db, Period.day(MONDAY), "clerk").rows]
    assert clerks[-2:] == ["(keypad)", None] and clerks[:-2] == sorted(clerks[:-2])


def test_several_groupings_at_once_equal_one_at_a_time(db):
    period = Period.day(MONDAY)
    together = reports(db, period, "service", "hour", "day")
    assert list(together) == ["service", "hour", "day"]
    assert all(together[by] == report(db, period, by) for by in together)


def test_another_day_is_empty(db):
    result = report(db, Period.day(MONDAY + timedelta(days=1)))
    assert result.rows == [] and result.busiest_hours == [] and result.totals.issued == 0


# --- definitions --------------------------------------------------------------------------------

@pytest.mark.parametrize("values,p,expected_value", [
    ([], 50, None),
    ([7.0], 50, 7.0), ([7.0], 90, 7.0),
    ([1.0, 2.0], 50, 1.0),  # lower middle for an even count
    ([3.0, 1.0, 2.0], 50, 2.0),
    ([float(v) for v in range(1, 11)], 90, 9.0),
    ([float(v) for v in range(1, 12)], 90, 10.0),  # rank ⌈9.9⌉ = 10
    ([float(v) for v in range(1, 21)], 90, 18.0),
    ([5.0, 1.0], 100, 5.0),
])
def test_percentile_is_nearest_rank(values, p, expected_value):
    assert percentile(values, p) == expected_value


@pytest.mark.parametrize("actor,name", [
    ("web/lan", "lan"), ("web/nguyễn.an", "nguyễn.an"), ("counter/3", "(keypad)"), ("api/his", "(api)"),
    ("kiosk/k1", "(kiosk)"), (None, None), ("", None),
])
def test_clerk_of_an_actor(actor, name):
    assert clerk_of(actor) == name


@pytest.mark.parametrize("period,start,end", [
    (Period.day(date(2026, 11, 25)), date(2026, 11, 25), date(2026, 11, 25)),
    (Period.week(date(2026, 11, 25)), date(2026, 11, 23), date(2026, 11, 29)),  # Wednesday → Monday…Sunday
    (Period.week(date(2026, 11, 29)), date(2026, 11, 23), date(2026, 11, 29)),
    (Period.month(date(2026, 2, 14)), date(2026, 2, 1), date(2026, 2, 28)),
    (Period.month(date(2028, 2, 14)), date(2028, 2, 1), date(2028, 2, 29)),
    (Period.month(date(2026, 12, 31)), date(2026, 12, 1), date(2026, 12, 31)),
])
def test_periods(period, start, end):
    assert (period.start, period.end) == (start, end)


def test_a_period_that_ends_before_it_starts_is_refused():
    with pytest.raises(ReportError, match="ends .*2026-11-22.* before it starts .*2026-11-23"):
        Period(date(2026, 11, 23), date(2026, 11, 22))


def test_an_unknown_grouping_is_refused(db):
    with pytest.raises(ReportError, match="cannot group by 'kiosk'"):
        report(db, Period.day(MONDAY), "kiosk")  # type: ignore[arg-type]


# --- edge cases, one small centre each ---------------------------------------------------------------

@pytest.fixture
def centre(tmp_path):
    c = Centre(tmp_path / "queuebox.db")
    yield c
    c.engine.close()


def test_an_empty_day_has_zero_counts_and_no_times(centre):
    result = centre.report(Period.day(MONDAY))
    t = result.totals
    assert (t.issued, t.served, t.called, t.rated, result.rows, result.busiest_hours) == (0, 0, 0, 0, [], [])
    assert (t.wait_median_s, t.service_max_s, t.within_target_share, t.satisfied_share, t.response_rate) == (None,) * 5


def test_a_ticket_still_waiting_at_closing_is_open_then_cancelled_by_the_next_day(centre):
    centre.take(MONDAY, "08:00")
    centre.counter(MONDAY, "08:10", "next")
    centre.counter(MONDAY, "08:15", "done")
    centre.take(MONDAY, "16:55")  # nobody calls it before closing
    before = centre.report(Period.day(MONDAY)).totals
    assert (before.issued, before.served, before.open, before.cancelled, before.called) == (2, 1, 1, 0, 1)
    assert before.wait_max_s == 600.0  # only the called ticket has a waiting time
    centre.take(MONDAY + timedelta(days=1), "07:30")  # the next day opens: the leftover is cancelled
    after = centre.report(Period.day(MONDAY)).totals
    assert (after.issued, after.served, after.open, after.cancelled, after.called) == (2, 1, 0, 1, 1)
    assert (after.wait_max_s, after.within_target_share) == (600.0, 1.0)
    assert centre.report(Period.day(MONDAY + timedelta(days=1))).totals.issued == 1


def test_tickets_never_called_before_the_next_day_left_without_service(centre):
    """cancelled = left without service (never called) + cancelled after a call; no-shows apart."""
    centre.take(MONDAY, "08:00")  # B001: served
    centre.take(MONDAY, "08:01")  # B002: no-show
    centre.counter(MONDAY, "08:10", "next")
    centre.counter(MONDAY, "08:20", "done")
    centre.counter(MONDAY, "08:21", "next")
    centre.counter(MONDAY, "08:23", "recall")
    centre.counter(MONDAY, "08:25", "no_show")
    centre.take(MONDAY, "16:40")  # B003: at the counter when the day ends
    centre.take(MONDAY, "16:50")  # B004, B005: never called
    centre.take(MONDAY, "16:55")
    centre.counter(MONDAY, "16:58", "next")
    before = centre.report(Period.day(MONDAY)).totals
    assert (before.cancelled, before.left_without_service, before.open) == (0, 0, 3)  # the day is not over
    centre.take(MONDAY + timedelta(days=1), "07:30")  # the next day opens: the leftovers are cancelled
    after = centre.report(Period.day(MONDAY)).totals
    assert (after.issued, after.served, after.no_show, after.cancelled, after.left_without_service, after.open) \
        == (5, 1, 1, 3, 2, 0)
    # waits of the called tickets only: 10, 20 and 18 minutes; B004 and B005 have none
    assert (after.called, after.wait_median_s, after.wait_max_s) == (3, 18 * 60.0, 20 * 60.0)
    (row,) = centre.report(Period.day(MONDAY), "counter").rows[-1:]
    assert (row.key, row.left_without_service) == (None, 2)  # never called: no counter


def test_a_day_of_only_no_shows(centre):
    for _ in range(3):
        centre.take(MONDAY, "09:00")
    for minute in range(3):
        centre.counter(MONDAY, f"09:{10 + 10 * minute}", "next", origin="web/hoa")
        centre.counter(MONDAY, f"09:{12 + 10 * minute}", "recall", origin="web/hoa")
        centre.counter(MONDAY, f"09:{14 + 10 * minute}", "no_show", origin="web/hoa")
    result = centre.report(Period.day(MONDAY), "clerk")
    t = result.totals
    assert (t.issued, t.no_show, t.served, t.called) == (3, 3, 0, 3)
    assert (t.wait_median_s, t.wait_max_s) == (20 * 60.0, 30 * 60.0)  # 10, 20, 30 minutes: first calls, not recalls
    assert (t.service_median_s, t.response_rate, t.satisfied_share) == (None, None, None)
    assert [(f.key, f.no_show) for f in result.rows] == [("hoa", 3)]


def test_a_rating_counts_on_its_tickets_day_not_the_day_it_was_made(centre):
    tuesday = MONDAY + timedelta(days=1)
    centre.take(MONDAY, "23:40")
    centre.counter(MONDAY, "23:45", "next")
    centre.counter(MONDAY, "23:59:40", "done")
    centre.rate(tuesday, "00:00:20", 1)  # within the rating window, after local midnight
    centre.take(tuesday, "07:30")
    centre.counter(tuesday, "07:35", "next")
    centre.counter(tuesday, "07:40", "done")
    centre.rate(tuesday, "07:40:30", 4)
    monday, tue = (centre.report(Period.day(d)).totals for d in (MONDAY, tuesday))
    assert (monday.ratings, monday.response_rate, monday.satisfied_share) == ((1, 0, 0, 0), 1.0, 1.0)
    assert (tue.ratings, tue.response_rate, tue.satisfied_share) == ((0, 0, 0, 1), 1.0, 0.0)
    db = open_readonly(centre.path)
    assert [at[:10] for (at,) in db.execute("SELECT at FROM ratings ORDER BY ticket")] == ["2026-11-24"] * 2
    db.close()


def test_local_midnight_separates_the_days_although_the_utc_date_is_the_same(centre):
    tuesday = MONDAY + timedelta(days=1)
    centre.take(MONDAY, "23:59:30")  # 16:59:30 UTC on Monday
    centre.take(tuesday, "00:00:30")  # 17:00:30 UTC, still Monday in UTC
    assert {centre.local(d, t).astimezone(timezone.utc).date() for d, t in [(MONDAY, "23:59:30"), (tuesday, "00:00:30")]} \
        == {MONDAY}
    by_day = centre.report(Period(MONDAY, tuesday), "day")
    assert [(f.key, f.issued) for f in by_day.rows] == [("2026-11-23", 1), ("2026-11-24", 1)]
    assert [(f.key, f.issued, f.cancelled) for f in centre.report(Period(MONDAY, tuesday), "hour").rows] \
        == [(0, 1, 0), (23, 1, 1)]
    assert centre.report(Period.day(tuesday)).totals.issued == 1


def test_a_transferred_ticket_stays_with_the_service_it_was_issued_for(centre):
    label = centre.take(MONDAY, "09:00", "B")
    centre.counter(MONDAY, "09:05", "next", cid="3")
    centre.counter(MONDAY, "09:06", "start", cid="3")
    centre._at(MONDAY, "09:08")
    assert centre.engine.counter("x1", "3", "transfer", to="C").reply["ok"]
    reply = centre.counter(MONDAY, "09:20", "next", cid="4")
    assert reply["ticket"]["label"] == label
    centre.counter(MONDAY, "09:30", "done", cid="4", origin="web/an")
    (row,) = centre.report(Period.day(MONDAY)).rows
    assert (row.key, row.transferred, row.served, row.wait_max_s, row.service_max_s) == ("B", 1, 1, 300.0, 600.0)
    (by_counter,) = centre.report(Period.day(MONDAY), "counter").rows
    assert by_counter.key == "4"


# --- queuebox report ---------------------------------------------------------------------------

def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["report", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_csv_has_a_row_per_group_and_the_totals(day, capsys):
    code, out, _ = run(capsys, "--from", "2026-11-23", "--by", "counter", "--format", "csv", "--database", str(day[0]))
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    columns = list(rows[0])
    assert columns[:len(COLUMNS) + 1] == ["counter", *COLUMNS]
    assert columns[len(COLUMNS) + 1:] and all(c.startswith("reason: ") for c in columns[len(COLUMNS) + 1:])
    assert [r["counter"] for r in rows] == ["1", "2", "3", "4", "5", "6", "", "total"]
    assert rows[-1]["name"] == "total" and int(rows[-1]["issued"]) == 600
    assert sum(int(r["served"]) for r in rows[:-1]) == int(rows[-1]["served"])
    waits = [m.wait_s for m in day[1] if m.wait_s is not None]
    assert float(rows[-1]["wait_median_min"]) == round(nearest_rank(waits, 50) / 60, 1)


def test_cli_json(day, capsys):
    code, out, _ = run(capsys, "--from", "2026-11-23", "--to", "2026-11-23", "--by", "service",
                       "--format", "json", "--database", str(day[0]))
    data = json.loads(out)
    assert code == 0 and (data["from"], data["to"], data["by"]) == ("2026-11-23", "2026-11-23", "service")
    assert [r["service"] for r in data["rows"]] == ["A", "B", "C", "D", "E"]
    assert data["rows"][0]["name"] == "A · Đất đai"
    assert data["total"]["issued"] == 600 and len(data["busiest_hours"]) == 3
    done = [m for m in day[1] if m.status == "done"]
    rated = [m for m in done if m.score is not None]
    assert data["total"]["response_rate_pct"] == round(100 * len(rated) / len(done), 1)


def test_cli_table(day, capsys):
    code, out, _ = run(capsys, "--from", "2026-11-23", "--by", "hour", "--database", str(day[0]))
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("queuebox report 2026-11-23")
    assert lines[1].split()[:4] == ["by", "hour", "issued", "served"]
    assert any(line.startswith("09:00 ") for line in lines)
    busiest = next(i for i, line in enumerate(lines) if line.startswith("busiest hours"))
    assert lines[busiest - 1].split()[:2] == ["total", "600"]


def test_cli_reads_the_database_named_in_the_config(day, tmp_path, capsys):
    config = tmp_path / "queuebox.toml"
    config.write_text(f'[site]\nid = "t"\nname = "T"\n[[services]]\ncode = "A"\nname_vi = "Đất đai"\n'
                      f'[[counters]]\nid = "1"\nname = "Quầy 1"\nservices = {{ A = 1 }}\n'
                      f'[database]\npath = "{day[0]}"\n', encoding="utf-8")
    code, out, _ = run(capsys, "--config", str(config), "--from", "2026-11-23", "--format", "json")
    assert code == 0 and json.loads(out)["total"]["issued"] == 600


@pytest.mark.parametrize("args,message", [
    (["--from", "2026-11-24", "--to", "2026-11-23"], "ends (2026-11-23) before it starts (2026-11-24)"),
    (["--from", "23/11/2026"], "'23/11/2026' is not a date as YYYY-MM-DD"),
    (["--from", "2026-02-30"], "'2026-02-30' is not a date"),
    (["--from", "2026-11-23", "--by", "kiosk"], "invalid choice: 'kiosk'"),
    (["--from", "2026-11-23", "--format", "xml"], "invalid choice: 'xml'"),
    ([], "--from"),
])
def test_cli_refuses_bad_input_with_status_2(day, capsys, args, message):
    try:
        code, _, err = run(capsys, *args, "--database", str(day[0]))
    except SystemExit as exit:  # argparse's own refusals
        code, err = exit.code, capsys.readouterr().err
    assert code == 2 and message in err


def test_cli_refuses_a_missing_or_foreign_file(tmp_path, capsys):
    code, _, err = run(capsys, "--from", "2026-11-23", "--database", str(tmp_path / "nope.db"))
    assert code == 2 and "nope.db: no such database file" in err and not (tmp_path / "nope.db").exists()
    other = tmp_path / "other.db"
    store.open_database(other).execute("CREATE TABLE t (x)")
    code, _, err = run(capsys, "--from", "2026-11-23", "--database", str(other))
    assert code == 2 and "not a queuebox database" in err


def test_the_cli_parser_does_not_need_the_server_extras():
    """`queuebox --help` must work on a kiosk Pi, which has no sqlite-utils."""
    script = "import sys; from queuebox.cli import build_parser; build_parser(); print('sqlite_utils' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False", result.stderr


# --- data access: docs and Datasette metadata ------------------------------------------------------

def schema(tmp_path: Path) -> dict[str, list[str]]:
    db = store.open_database(tmp_path / "schema.db")
    store.migrate(db)
    tables = {t: [c.name for c in db[t].columns] for t in db.table_names()
              if not t.startswith(("sqlite_", "_sqlite"))}
    db.close()
    return tables


def test_datasette_metadata_describes_every_table_and_column(tmp_path):
    metadata = json.loads((ROOT / "config" / "datasette-metadata.json").read_text(encoding="utf-8"))
    described = metadata["databases"]["queuebox"]["tables"]
    tables = schema(tmp_path)
    assert sorted(described) == sorted(tables)
    for name, columns in tables.items():
        assert described[name]["description"].strip(), name
        assert sorted(described[name]["columns"]) == sorted(columns), name
        assert all(text.strip() for text in described[name]["columns"].values()), name


def test_the_reports_doc_defines_every_column_and_describes_every_table(tmp_path):
    doc = (ROOT / "docs" / "reports.md").read_text(encoding="utf-8")
    assert [c for c in COLUMNS if f"`{c}`" not in doc] == []
    assert [t for t in schema(tmp_path) if f"`{t}`" not in doc] == []
