"""The overview's plain rules (hub/overview.py): a row from a centre's live summary, online or
last heard, faults in words, and the order of the rows."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from hub.overview import ONLINE_S, CentreRow, Fault, centre_row, fault_of, sort_rows
from hub.store import Centre

NOW = datetime(2026, 11, 27, 3, 30, tzinfo=timezone.utc)


def centre(live: dict | None, heard_s_ago: float = 5) -> Centre:
    heard = NOW - timedelta(seconds=heard_s_ago)
    return Centre("xa-an-phu", 1, 100, heard, live, heard if live else None, None)


@pytest.mark.parametrize("status, message", [
    ("offline", "device offline"),
    ("fault paper_out: the printer is out of paper", "printer out of paper"),
    ("fault offline: the printer is offline (cover open, error, or not connected)", "printer offline"),
    ("fault write_failed: cannot write", "printer failed to print"),
    ("fault jammed: something new", "device fault"),  # a reason this hub does not know yet
])
def test_a_devices_status_says_what_is_wrong(status, message):
    assert fault_of("kiosk-k1", status) == Fault("kiosk-k1", message)


@pytest.mark.parametrize("heard_s_ago, online", [(0, True), (ONLINE_S, True), (ONLINE_S + 1, False)])
def test_a_centre_is_online_when_heard_from_lately(heard_s_ago, online):
    assert centre_row(centre(None, heard_s_ago), NOW).online is online


def test_a_row_takes_todays_figures_from_the_live_summary():
    live = {"counters_open": 3, "waiting": 9, "longest_wait_s": 1300, "served_today": 40, "rated_today": 12,
            "satisfied_pct": 83.3, "software": "1.2", "faults": {"kiosk-k1": "fault paper_out: x", "display-d1": "offline"},
            "services": [{"code": "A", "waiting": 5, "longest_wait_s": 1300, "target_wait_s": 1200, "over_target": True},
                         {"code": "B", "waiting": 4, "longest_wait_s": 100, "target_wait_s": 900, "over_target": False}]}
    row = centre_row(centre(live), NOW)
    assert (row.counters_open, row.waiting, row.longest_wait_s, row.served_today, row.satisfied_pct) == (3, 9, 1300, 40, 83.3)
    assert row.over_target and row.rated_today == 12 and row.software == "1.2"
    assert row.faults == (Fault("display-d1", "device offline"), Fault("kiosk-k1", "printer out of paper"))


def test_a_centre_without_a_live_summary_has_no_figures():
    row = centre_row(centre(None), NOW)
    assert row.waiting is None and row.faults == () and not row.over_target


def rows() -> list[CentreRow]:
    return [CentreRow("a", True, NOW, waiting=3, longest_wait_s=600, satisfied_pct=90.0),
            CentreRow("b", True, NOW, waiting=12, longest_wait_s=300, satisfied_pct=60.0),
            CentreRow("c", False, NOW),  # never sent figures: last whatever the order
            CentreRow("d", True, NOW, waiting=12, longest_wait_s=2000, satisfied_pct=None)]


@pytest.mark.parametrize("by, order", [("waiting", "bdac"), ("longest", "dabc"), ("satisfaction", "bacd"),
                                       ("centre", "abcd"), ("unknown", "abcd")])
def test_rows_are_ordered_for_attention(by, order):
    assert "".join(r.id for r in sort_rows(rows(), by)) == order
