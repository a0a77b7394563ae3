"""The queue policy, one behaviour per test, on pure state (no database)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from queuebox.errors import CommandRejected
from server import rules
from server.rules import QueueState
from tests.factories import MONDAY_9AM, make_config

DAY = date(2026, 11, 23)


def fresh(config=None) -> QueueState:
    return rules.empty_state(config or make_config(), DAY)


def issue(state: QueueState, service: str = "A", at: datetime = MONDAY_9AM, priority: bool = False) -> QueueState:
    return rules.issue_ticket(state, service, at, token=f"tok{state.next_id}", priority=priority).state


def act(state: QueueState, counter: str, action: str, at: datetime = MONDAY_9AM, **kw) -> rules.Outcome:
    return rules.counter_action(state, counter, action, at, **kw)


def labels_called(state: QueueState, counter: str, times: int) -> list[str | None]:
    out = []
    for _ in range(times):
        outcome = act(state, counter, "next")
        state = outcome.state
        out.append(outcome.ticket.label if outcome.ticket else None)
    return out


# --- issuing ------------------------------------------------------------------------------

def test_issue_numbers_each_service_from_one():
    state = fresh()
    outcomes = []
    for service in ["A", "A", "B", "A"]:
        outcome = rules.issue_ticket(state, service, MONDAY_9AM, token=f"t{state.next_id}")
        state = outcome.state
        outcomes.append(outcome)
    assert [o.ticket.label for o in outcomes] == ["A001", "A002", "B001", "A003"]
    assert [o.ticket.number for o in outcomes] == [1, 2, 1, 3]
    assert [e.type for o in outcomes for e in o.events] == ["issued"] * 4


def test_issue_unknown_service_is_rejected():
    with pytest.raises(CommandRejected) as err:
        rules.issue_ticket(fresh(), "Z", MONDAY_9AM, token="t")
    assert err.value.code == "unknown_service"


@pytest.mark.parametrize("local_hour, minute, is_open", [(7, 29, False), (7, 30, True), (11, 29, True),
                                                          (11, 30, False), (12, 0, False), (16, 59, True)])
def test_issue_only_during_opening_hours(local_hour, minute, is_open):
    config = make_config(services=[{"code": "A", "name_vi": "Đất đai", "hours": ["07:30-11:30", "13:30-17:00"]}],
                         counters=[{"id": "1", "name": "Quầy 1", "services": {"A": 1}}])
    at = datetime(2026, 11, 23, local_hour, minute, tzinfo=timezone(timedelta(hours=7)))
    if is_open:
        assert rules.issue_ticket(fresh(config), "A", at, token="t").ticket.label == "A001"
    else:
        with pytest.raises(CommandRejected) as err:
            rules.issue_ticket(fresh(config), "A", at, token="t")
        assert err.value.code == "service_closed"


def test_issue_closed_on_days_off():
    config = make_config(services=[{"code": "A", "name_vi": "Đất đai", "open_days": ["mon", "tue"]}],
                         counters=[{"id": "1", "name": "Quầy 1", "services": {"A": 1}}])
    sunday = datetime(2026, 11, 22, 9, 0, tzinfo=timezone(timedelta(hours=7)))
    with pytest.raises(CommandRejected) as err:
        rules.issue_ticket(fresh(config), "A", sunday, token="t")
    assert err.value.code == "service_closed"


def test_daily_limit_refuses_the_ticket_after_the_last():
    config = make_config(services=[{"code": "A", "name_vi": "Đất đai", "daily_limit": 2}],
                         counters=[{"id": "1", "name": "Quầy 1", "services": {"A": 1}}])
    state = issue(issue(fresh(config)))
    with pytest.raises(CommandRejected) as err:
        rules.issue_ticket(state, "A", MONDAY_9AM, token="t")
    assert err.value.code == "daily_limit"


def test_labels_wrap_but_numbers_keep_growing():
    config = make_config(services=[{"code": "A", "name_vi": "Đất đai", "number_start": 1, "number_end": 3}],
                         counters=[{"id": "1", "name": "Quầy 1", "services": {"A": 1}}])
    state = fresh(config)
    for _ in range(3):
        state = issue(state)
    for _ in range(3):  # serve them so their labels are free again
        state = act(state, "1", "next").state
    state = act(state, "1", "done").state
    outcome = rules.issue_ticket(state, "A", MONDAY_9AM, token="t4")
    assert (outcome.ticket.label, outcome.ticket.number) == ("A001", 4)


def test_wrapping_onto_a_label_still_waiting_is_refused():
    config = make_config(services=[{"code": "A", "name_vi": "Đất đai", "number_end": 2}],
                         counters=[{"id": "1", "name": "Quầy 1", "services": {"A": 1}}])
    state = issue(issue(fresh(config)))
    with pytest.raises(CommandRejected) as err:
        rules.issue_ticket(state, "A", MONDAY_9AM, token="t")
    assert err.value.code == "daily_limit"


def test_estimate_counts_people_ahead_and_open_counters():
    config = make_config(services=[{"code": "A", "name_vi": "Đất đai", "service_min": 10}],
                         counters=[{"id": "1", "name": "Quầy 1", "services": {"A": 1}},
                                   {"id": "2", "name": "Quầy 2", "services": {"A": 1}}])
    state = fresh(config)
    for _ in range(4):
        state = issue(state)
    outcome = rules.issue_ticket(state, "A", MONDAY_9AM, token="t")
    assert rules.estimate_wait(outcome.state, outcome.ticket) == (4, 20)  # 4 × 10 min / 2 counters


def test_estimate_uses_recent_service_times():
    state = issue(issue(fresh()))
    state = act(state, "1", "next").state
    state = act(state, "1", "next", MONDAY_9AM + timedelta(minutes=4)).state  # first took 4 min
    state = act(state, "1", "done", MONDAY_9AM + timedelta(minutes=6)).state  # second took 2 min
    outcome = rules.issue_ticket(issue(issue(state)), "A", MONDAY_9AM, token="t")
    # counters 1 and 2 serve A; mean service time 3 min; 2 ahead
    assert rules.estimate_wait(outcome.state, outcome.ticket) == (2, 3)


def test_estimate_without_open_counter_is_unknown():
    state = act(fresh(), "1", "pause", reason="họp").state
    state = act(state, "2", "pause", reason="nghỉ trưa").state
    outcome = rules.issue_ticket(state, "A", MONDAY_9AM, token="t")
    assert rules.estimate_wait(outcome.state, outcome.ticket) == (0, None)


# --- calling order ----------------------------------------------------------------------------

def test_next_is_first_in_first_out():
    state = fresh()
    for _ in range(3):
        state = issue(state)
    assert labels_called(state, "1", 4) == ["A001", "A002", "A003", None]


def test_next_on_an_empty_queue_is_not_an_error():
    outcome = act(fresh(), "1", "next")
    assert outcome.ticket is None
    assert outcome.state.counters["1"].state == "idle"


def test_next_finishes_the_current_ticket_first():
    state = issue(issue(fresh()))
    state = act(state, "1", "next").state
    outcome = act(state, "1", "next", MONDAY_9AM + timedelta(minutes=5))
    assert [(e.type, e.ticket.label) for e in outcome.events] == [("done", "A001"), ("called", "A002")]
    assert outcome.events[0].data["service_s"] == 300


def test_higher_weight_services_first_then_fifo():
    # counter 3 serves B with weight 2, C with weight 1
    state = issue(fresh(), "C")
    state = issue(state, "B")
    state = issue(state, "C")
    assert labels_called(state, "3", 4) == ["B001", "C001", "C002", None]


def test_equal_weights_are_fifo_across_services():
    state = issue(fresh(), "B")
    state = issue(state, "A")
    state = issue(state, "B")
    assert labels_called(state, "2", 3) == ["B001", "A001", "B002"]


def test_strict_priority_goes_first():
    config = make_config(queue={"priority": "strict"})
    state = issue(issue(fresh(config)))
    state = issue(state, priority=True)
    assert labels_called(state, "1", 3) == ["A003", "A001", "A002"]


def test_interleave_calls_one_priority_after_every_n_normal():
    config = make_config(queue={"priority": "interleave", "interleave_every": 2})
    state = fresh(config)
    for p in [False, False, False, False, True, True, True]:
        state = issue(state, priority=p)
    # A005-A007 are priority; the first priority goes at once, then 2 normal : 1 priority
    assert labels_called(state, "1", 7) == ["A005", "A001", "A002", "A006", "A003", "A004", "A007"]


def test_interleave_serves_priority_when_no_normal_waits():
    config = make_config(queue={"priority": "interleave", "interleave_every": 3})
    state = issue(issue(fresh(config), priority=True), priority=True)
    assert labels_called(state, "1", 2) == ["A001", "A002"]


def test_call_a_specific_ticket_out_of_turn():
    state = issue(issue(issue(fresh())))
    outcome = act(state, "1", "call", ticket="a003")
    assert outcome.ticket.label == "A003"
    assert labels_called(outcome.state, "1", 2) == ["A001", "A002"]


@pytest.mark.parametrize("label, code", [("A999", "unknown_ticket"), ("A001", "not_allowed")])
def test_call_a_ticket_that_cannot_be_called(label, code):
    state = act(issue(fresh()), "2", "next").state  # A001 is at counter 2
    with pytest.raises(CommandRejected) as err:
        act(state, "1", "call", ticket=label)
    assert err.value.code == code


# --- one counter's ticket ---------------------------------------------------------------------

def test_recall_counts_calls():
    state = act(issue(fresh()), "1", "next").state
    outcome = act(state, "1", "recall")
    assert outcome.ticket.call_count == 2
    assert [e.type for e in outcome.events] == ["recalled"]


def test_start_then_done_measures_service_from_start():
    state = act(issue(fresh()), "1", "next").state
    state = act(state, "1", "start", MONDAY_9AM + timedelta(minutes=2)).state
    assert state.counters["1"].state == "serving"
    outcome = act(state, "1", "done", MONDAY_9AM + timedelta(minutes=9))
    assert outcome.events[0].data["service_s"] == 7 * 60
    assert outcome.state.counters["1"].last_done == outcome.ticket.id
    assert outcome.ticket.id not in outcome.state.tickets


@pytest.mark.parametrize("action", ["recall", "start", "done", "no_show", "transfer"])
def test_actions_on_a_ticket_need_one(action):
    with pytest.raises(CommandRejected) as err:
        act(fresh(), "1", action, to="B")
    assert err.value.code == "not_allowed"


def test_no_show_needs_the_configured_number_of_calls():
    state = act(issue(fresh(make_config(queue={"no_show_min_calls": 2}))), "1", "next").state
    with pytest.raises(CommandRejected) as err:
        act(state, "1", "no_show")
    assert err.value.code == "not_allowed"
    state = act(state, "1", "recall").state
    outcome = act(state, "1", "no_show")
    assert outcome.ticket.status == "no_show"
    assert outcome.state.counters["1"].state == "idle"


def test_no_show_can_be_called_back_within_the_rejoin_window_only():
    config = make_config(queue={"no_show_min_calls": 1, "no_show_rejoin_min": 30})
    state = act(act(issue(fresh(config)), "1", "next").state, "1", "no_show").state
    back = act(state, "1", "call", MONDAY_9AM + timedelta(minutes=29), ticket="A001")
    assert back.ticket.status == "called" and back.events[-1].data["rejoined"] is True
    with pytest.raises(CommandRejected) as err:
        act(state, "1", "call", MONDAY_9AM + timedelta(minutes=31), ticket="A001")
    assert err.value.code == "unknown_ticket"


@pytest.mark.parametrize("position, expected", [("keep", ["A001", "B001"]), ("first", ["A001", "B001"])])
def test_transfer_keeps_the_label_and_its_place(position, expected):
    config = make_config(queue={"transfer_position": position})
    state = issue(issue(fresh(config), "A"), "B")  # A001 then B001
    state = act(state, "1", "next").state  # counter 1 calls A001
    outcome = act(state, "1", "transfer", to="B")
    moved = outcome.ticket
    assert (moved.label, moved.queue, moved.transferred_from, moved.status) == ("A001", "B", "A", "waiting")
    # counter 3 serves B: A001 was issued before B001, so it goes first either way
    assert labels_called(outcome.state, "3", 2) == expected


def test_transfer_first_jumps_ahead_of_earlier_tickets():
    config = make_config(queue={"transfer_position": "first"})
    state = issue(issue(fresh(config), "B"), "A")  # B001 then A001
    state = act(state, "1", "next").state
    state = act(state, "1", "transfer", to="B").state
    assert labels_called(state, "3", 2) == ["A001", "B001"]


def test_transfer_to_an_unknown_service_is_refused():
    state = act(issue(fresh()), "1", "next").state
    with pytest.raises(CommandRejected) as err:
        act(state, "1", "transfer", to="Q")
    assert err.value.code == "unknown_service"


def test_pause_and_resume():
    outcome = act(fresh(), "1", "pause", reason="  Nghỉ trưa ")
    assert outcome.state.counters["1"].state == "paused"
    assert outcome.events[0].data == {"reason": "Nghỉ trưa"}
    with pytest.raises(CommandRejected):
        act(issue(outcome.state), "1", "next")
    assert act(outcome.state, "1", "resume").state.counters["1"].state == "idle"


def test_pause_with_a_ticket_is_refused():
    state = act(issue(fresh()), "1", "next").state
    with pytest.raises(CommandRejected) as err:
        act(state, "1", "pause", reason="x")
    assert err.value.code == "not_allowed"


@pytest.mark.parametrize("counter, action, kw, code", [
    ("9", "next", {}, "unknown_counter"),
    ("1", "dance", {}, "bad_request"),
    ("1", "transfer", {}, "bad_request"),
    ("1", "call", {}, "bad_request"),
    ("1", "resume", {}, "not_allowed"),
])
def test_bad_counter_commands(counter, action, kw, code):
    with pytest.raises(CommandRejected) as err:
        act(fresh(), counter, action, **kw)
    assert err.value.code == code


# --- the day ------------------------------------------------------------------------------------

def test_open_day_cancels_unfinished_tickets_and_restarts_numbers():
    state = issue(issue(fresh()))
    state = act(state, "1", "next").state
    state = act(state, "2", "pause", reason="về sớm").state
    tomorrow = DAY + timedelta(days=1)
    outcome = rules.open_day(state, tomorrow, MONDAY_9AM + timedelta(days=1))
    assert [(e.type, e.ticket.label if e.ticket else None) for e in outcome.events] == [
        ("cancelled", "A001"), ("cancelled", "A002"), ("day_opened", None)]
    assert outcome.state.day == tomorrow
    assert outcome.state.counters["1"].state == "idle"
    assert outcome.state.counters["2"].state == "paused"
    assert issue(outcome.state) .tickets[outcome.state.next_id].label == "A001"


def test_open_day_never_goes_back():
    state = issue(fresh())
    outcome = rules.open_day(state, DAY - timedelta(days=1), MONDAY_9AM)
    assert outcome.state is state and outcome.events == ()
