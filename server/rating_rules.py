"""The rating rules: pure, like server/rules.py, whose state they take (the ticket each counter
finished last, `QueueState.finished`). A rating counts for that ticket within
`queue.rating_window_s` of its finish, once; see server/rules.py for when a window opens.

Reasons: a citizen who scored 3 or 4 (`REASON_SCORES`) may say why, choosing one of
`queue.rating_reasons`. The score is recorded first, at its own tap, so that nothing a
citizen skips, or a tablet losing power, loses it; the reason attaches to that rating
afterwards (`give_reason`): to the counter's last rated ticket, within `REASON_WINDOW_S`
seconds of its rating (the end included), once. It is recorded as the Vietnamese text of the
list at that moment, so editing the list later does not rewrite what was said.
"""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from datetime import datetime, timedelta

from queuebox.errors import CommandRejected
from queuebox.protocol import RATING_SCORES, REASON_SCORES, REASON_WINDOW_S
from server.rules import Event, Outcome, QueueState, chain, counter_config


def rating_until(state: QueueState, counter: str) -> datetime | None:
    """Until when a rating of the ticket `counter` finished last is accepted; None if it has
    none or it was rated. The time may be past: the caller compares it with now."""
    f = state.finished.get(counter)
    if f is None or f.score is not None or f.ticket.finished_at is None:
        return None
    return f.ticket.finished_at + timedelta(seconds=state.config.queue.rating_window_s)


def rate(state: QueueState, counter: str, score: int, now: datetime) -> Outcome:
    """A citizen's score (1 very satisfied … 4 dissatisfied) for the ticket `counter` finished
    last, within `queue.rating_window_s` of its finish (the end included), once per ticket.

    Refused: `unknown_counter`, `bad_request` (not a score), `no_ticket` (nothing finished,
    or the window has closed), `already_rated` (that ticket has its score: the first counts).
    The outcome's ticket is the rated one; its `rated` event carries {"score": n}.
    """
    counter_config(state, counter)
    if type(score) is not int or score not in RATING_SCORES:
        raise CommandRejected("bad_request", f"score must be a whole number from 1 to 4, not {score!r}")
    until = rating_until(state, counter)
    f = state.finished.get(counter)
    if f is not None and f.score is not None:
        raise CommandRejected("already_rated", f"{f.ticket.label} was rated already ({f.score}); "
                                               "only the first rating counts")
    if f is None or until is None or now > until:
        raise CommandRejected("no_ticket", f"counter {counter} has no ticket to rate: the rating window closed "
                                           f"({state.config.queue.rating_window_s} s after a ticket is finished)")
    new = replace(state, finished={**state.finished, counter: replace(f, score=score, rated_at=now)})
    return Outcome(new, (Event("rated", f.ticket, counter, {"score": score}),), f.ticket)


def give_reason(state: QueueState, counter: str, reason: str, now: datetime) -> Outcome:
    """Why the citizen who just rated at `counter` was not satisfied: `reason`, the Vietnamese
    text of one of `queue.rating_reasons` (compared in NFC), for the counter's last rated
    ticket, within `REASON_WINDOW_S` seconds of its rating (the end included), once.

    Refused, the score staying as it is: `unknown_counter`; `no_ticket` (no rating, or its
    window has closed); `not_allowed` (a score of 1 or 2 asks no reason); `already_rated` (the
    reason was given: the first counts); `unknown_reason` (not in the list). The outcome's
    ticket is the rated one; its `rating_reason` event carries {"score": n, "reason": text}.
    """
    counter_config(state, counter)
    f = state.finished.get(counter)
    if f is None or f.score is None or f.rated_at is None or now > f.rated_at + timedelta(seconds=REASON_WINDOW_S):
        raise CommandRejected("no_ticket", f"counter {counter} has no rating to give a reason for: the time to give "
                                           f"one closed ({REASON_WINDOW_S} s after the rating)")
    if f.score not in REASON_SCORES:
        raise CommandRejected("not_allowed", f"{f.ticket.label} was rated {f.score}: only a rating of "
                                             f"{' or '.join(map(str, sorted(REASON_SCORES)))} is asked a reason")
    if f.reason is not None:
        raise CommandRejected("already_rated", f"{f.ticket.label} has its reason already; only the first counts")
    text = unicodedata.normalize("NFC", " ".join(reason.split())) if isinstance(reason, str) else reason
    allowed = state.config.queue.reason_texts()
    if text not in allowed:
        listed = "; ".join(allowed) or "none are configured"
        raise CommandRejected("unknown_reason", f"{reason!r} is not one of the reasons of queue.rating_reasons "
                                                f"({listed}); the score {f.score} stays recorded")
    new = replace(state, finished={**state.finished, counter: replace(f, reason=text)})
    return Outcome(new, (Event("rating_reason", f.ticket, counter, {"score": f.score, "reason": text}),), f.ticket)


def rate_with_reason(state: QueueState, counter: str, score: int, reason: str | None,
                     now: datetime) -> tuple[Outcome, CommandRejected | None]:
    """A rating command that may carry a reason (see `rate` and `give_reason`).

    Without a reason it is `rate`. With one, for the ticket already rated with this same score,
    it is `give_reason`. Otherwise the score is rated first and the reason attached after it;
    when the reason is refused the score stays recorded: the outcome is the rating's, and the
    refusal comes second. A refused score (raised) records nothing.
    """
    if reason is None:
        return rate(state, counter, score, now), None
    f = state.finished.get(counter)
    if f is not None and f.score is not None and f.score == score:
        return give_reason(state, counter, reason, now), None
    rated = rate(state, counter, score, now)
    try:
        return chain(rated, give_reason(rated.state, counter, reason, now)), None
    except CommandRejected as refused:
        return rated, refused
