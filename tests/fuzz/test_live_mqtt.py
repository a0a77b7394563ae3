"""A short live fuzz run (bench/fuzz_mqtt.py is the long one): a few thousand random and
mutated payloads from every kiosk, counter and display account through a real Mosquitto
with the generated ACL, to a real `queuebox server` process; see tests/fuzz/live.py.

The seed is printed; set QUEUEBOX_FUZZ_SEED to replay a run, QUEUEBOX_FUZZ_MESSAGES to
change its length.
"""

from __future__ import annotations

import os
import random
import sys

import pytest

from tests.fuzz.live import Fuzzer, final_checks
from tests.fuzz.site import Site

MESSAGES = int(os.environ.get("QUEUEBOX_FUZZ_MESSAGES", "5000"))


@pytest.fixture
def site(tmp_path, mosquitto_path):
    running = Site(tmp_path / "site").start()
    yield running
    running.stop()


def test_the_server_survives_fuzzed_payloads_on_every_topic_and_keeps_the_invariants(site):
    seed = int(os.environ.get("QUEUEBOX_FUZZ_SEED") or random.randrange(2**32))
    replay = f"replay with QUEUEBOX_FUZZ_SEED={seed}"
    print(replay, file=sys.stderr)
    fuzzer = Fuzzer(site, seed)
    try:
        assert fuzzer.send(MESSAGES, batch=500) == MESSAGES
        result = final_checks(fuzzer, restart=True)
    finally:
        fuzzer.close()
    assert result["violations"] == [], replay
    assert result["alive"] and fuzzer.restarts == 0 and fuzzer.stalls == 0, (replay, fuzzer.crash_logs)
    assert result["take"].startswith("A") and result["next"] and not result["next"].startswith("!"), replay
    # retained commands never reach the restarted server (retain handling 2; they were refused and cleared)
    assert result["replayed_after_restart"] == 0, replay
    assert result["commands_answered"] == result["commands_sent"] > 0, replay
    # the run reached what it is meant to: every account, allowed and refused topics, the engine
    assert sum(fuzzer.sent.values()) == MESSAGES
    devices = {g.split("/")[1] for g in fuzzer.sent if g.startswith(("kiosk/", "counter/"))}
    assert devices == {"kiosk1", "kiosk2", "1", "2", "3", "4", "5", "6"}
    assert any(g.startswith("denied ") for g in fuzzer.sent) and "status/display-display1" in fuzzer.sent
    assert fuzzer.replies["ok"] > 0 and fuzzer.replies["bad_request"] > 0 and len(fuzzer.replies) >= 4, replay
    assert fuzzer.server_messages["board"] > 0 and fuzzer.server_messages["events"] > 0
