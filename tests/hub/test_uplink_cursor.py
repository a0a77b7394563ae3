"""The uplink's rule of what to send next (server/uplink.py `Cursor`), and refused batches."""

from __future__ import annotations

import zlib

import pytest

from queuebox.hub_protocol import Ack, ProtocolError, decode_batch, encode_batch
from server.uplink import FIRST_ACK_WAIT_S, Cursor
from tests.hub.batches import batch, event

LOCAL = {s: event(s).at for s in range(1, 101)}


def test_nothing_is_sent_before_an_ack_then_from_seq_1_when_the_hub_has_none():
    c = Cursor(window=2, ack_timeout_s=30, connected_at=0.0)
    assert not c.may_send(1.0)
    assert c.may_send(FIRST_ACK_WAIT_S + 0.1) and c.next_seq == 1


def test_the_same_history_resumes_after_the_ack():
    c = Cursor(window=2, ack_timeout_s=30)
    c.on_ack(Ack(1, 40, LOCAL[40]), LOCAL.get, 0.0)
    assert (c.epoch, c.acked, c.next_seq) == (1, 40, 41) and c.may_send(0.0)


def test_another_history_is_sent_again_from_seq_1_once():
    c = Cursor(window=2, ack_timeout_s=30)
    c.on_ack(Ack(1, 500, "2026-01-01T00:00:00.000+07:00"), LOCAL.get, 0.0)  # the hub has more than this database
    assert c.next_seq == 1
    c.sent(50, 0.0)
    c.on_ack(Ack(1, 500, "2026-01-01T00:00:00.000+07:00"), LOCAL.get, 0.1)  # the same ack again: keep going
    assert c.next_seq == 51


def test_the_window_bounds_batches_in_flight_and_a_silent_hub_means_sending_again():
    c = Cursor(window=2, ack_timeout_s=30)
    c.on_ack(Ack(1, 0, None), LOCAL.get, 0.0)
    c.sent(10, 0.0), c.sent(20, 0.0)
    assert not c.may_send(1.0)
    assert c.may_send(31.0) and c.next_seq == 1


def test_a_gap_rewinds_to_resend_from():
    c = Cursor(window=4, ack_timeout_s=30)
    c.on_ack(Ack(1, 0, None), LOCAL.get, 0.0)
    c.sent(10, 0.0), c.sent(20, 0.0), c.sent(30, 0.0)
    c.on_ack(Ack(1, 10, LOCAL[10], resend_from=11), LOCAL.get, 1.0)
    assert c.next_seq == 11


@pytest.mark.parametrize("payload,fragment", [
    (b"not zlib", "not zlib"),
    (zlib.compress(b"[1]"), "JSON object"),
    (zlib.compress(b'{"v": 1, "centre": "other", "epoch": 0, "from": 1, "events": []}'), "on the topic of"),
    (zlib.compress(b'{"v": 1, "centre": "c1", "epoch": 0, "from": 1, '
                   b'"events": [{"seq": 1, "at": "yesterday", "type": "issued", "data": {}}]}'), "events[0].at"),
    (zlib.compress(b'{"v": 1, "centre": "c1", "epoch": 0, "from": 5, '
                   b'"events": [{"seq": 2, "at": "2026-11-23T09:00:00+07:00", "type": "issued", "data": {}}]}'),
     "not after"),
    (zlib.compress(b" " * (2 * 1024 * 1024)), "inflates past"),
])
def test_a_malformed_batch_is_refused_with_its_reason(payload, fragment):
    with pytest.raises(ProtocolError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        decode_batch(payload, "c1")


def test_a_batch_reads_back_as_it_was_sent():
    sent = batch("c1", 3, 9, epoch=2)
    assert decode_batch(encode_batch(sent), "c1") == sent
