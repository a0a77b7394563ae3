"""The reasons behind poor ratings in the reports: counts by service, counter, clerk, hour and
day over a simulated week of the real engine (tests/report_fixtures.py), checked against the
simulation's own records; the CSV's reason columns; `queuebox report` in text, CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from queuebox.cli import main
from server.report_cli import write_csv
from server.reports import DIMENSIONS, Period, ReportError, open_readonly, reason_counts, report
from tests.report_fixtures import MONDAY, Made, simulate_days
from tests.test_reports import key_of

WEEK = Period(MONDAY, MONDAY + timedelta(days=4))


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Made]]:
    path = tmp_path_factory.mktemp("reasons") / "queuebox.db"
    return path, simulate_days(path, [(MONDAY + timedelta(days=i), 150) for i in range(5)], seed=5)


@pytest.fixture
def db(week):
    database = open_readonly(week[0])
    yield database
    database.close()


def expected(made: list[Made], by: str) -> dict[object, Counter]:
    groups: dict[object, Counter] = {}
    for m in made:
        if m.status == "done" and m.reason is not None:
            groups.setdefault(key_of(m, by), Counter())[m.reason] += 1
    return groups


def test_the_simulation_gives_reasons_only_with_poor_scores(week):
    made = week[1]
    given = [m for m in made if m.reason is not None]
    assert len(given) > 20 and {m.score for m in given} <= {3, 4}
    assert any(m.score in (3, 4) and m.reason is None for m in made)  # some skip the question


@pytest.mark.parametrize("by", DIMENSIONS)
def test_reason_counts_per_group_match_the_simulation(db, week, by):
    counts = reason_counts(db, WEEK, by)
    assert counts.groups == expected(week[1], by)
    assert counts.totals == sum(expected(week[1], by).values(), Counter())
    assert list(counts.reasons) == sorted(counts.totals, key=lambda r: (-counts.totals[r], r))
    assert sum(counts.totals.values()) == sum(sum(c.values()) for c in counts.groups.values())


def test_reasons_are_counted_on_the_ticket_day_and_not_outside_the_period(db, week):
    monday = reason_counts(db, Period.day(MONDAY), "day")
    assert list(monday.groups) == [MONDAY.isoformat()]
    assert monday.totals == expected([m for m in week[1] if m.day == MONDAY], "day")[MONDAY.isoformat()]


def test_a_period_without_reasons_has_none(db):
    empty = reason_counts(db, Period.day(MONDAY - timedelta(days=7)), "counter")
    assert empty.reasons == () and empty.groups == {} and sum(empty.totals.values()) == 0


def test_an_unknown_grouping_is_refused(db):
    with pytest.raises(ReportError):
        reason_counts(db, WEEK, "weekday")  # type: ignore[arg-type]


def test_the_csv_has_a_column_per_reason_with_group_and_total_counts(db, week):
    counts = reason_counts(db, WEEK, "counter")
    out = io.StringIO()
    write_csv(report(db, WEEK, "counter"), out, reasons=counts)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    for r in counts.reasons:
        column = f"reason: {r}"
        assert [int(row[column]) for row in rows[:-1]] == [counts.count(row["counter"], r) for row in rows[:-1]]
        assert int(rows[-1][column]) == counts.totals[r] and rows[-1]["counter"] == "total"


def test_queuebox_report_prints_the_reasons(week, capsys):
    path = week[0]
    args = ["report", "--database", str(path), "--from", WEEK.start.isoformat(), "--to", WEEK.end.isoformat()]
    assert main([*args, "--by", "clerk"]) == 0
    text = capsys.readouterr().out
    counts = reason_counts(open_readonly(path), WEEK, "clerk")
    top = counts.reasons[0]
    assert "reasons given with ratings 3-4:" in text and f"{counts.totals[top]:>4}  {top} (" in text
    assert main([*args, "--by", "service", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)["reasons"]
    assert data["total"] == dict(reason_counts(open_readonly(path), WEEK, "service").totals)
    assert data["reasons"][0] == reason_counts(open_readonly(path), WEEK, "service").reasons[0]
    assert main([*args, "--by", "day", "--format", "csv"]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert f"reason: {top}" in header
