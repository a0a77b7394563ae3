"""The province hub's acceptance test, through real processes: three centres run a busy day each
while the hub broker is stopped for an hour of it and the hub is killed twice; afterwards every
event of every centre is in PostgreSQL exactly once, and each centre's month report from the hub
equals its own `queuebox report` figure for figure.

Each centre is a real `queuebox server` on its own Mosquitto and SQLite file with its own
`queuebox uplink`; the hub is a real `queuebox hub` on a second Mosquitto and the test's
PostgreSQL (tests/hub/province_day.py). The centres' clocks move through the day by the clock
offset file: "an hour" is simulated time. The day is closed by the next business day opening
(midnight passes on the centres' clocks), which cancels the leftovers.
"""

from __future__ import annotations

import json
import random
import time
from contextlib import ExitStack
from datetime import datetime, timedelta

import psycopg

from hub.store import centre, centre_reports, event_count
from queuebox.figures import DIMENSIONS, Period, as_json
from tests.helpers.server_process import set_clock
from tests.hub.province_day import DAY, OPENS, Clerks, ProvinceCentre, cli_reports, hub_process, moment, play_step
from tests.hub.site import wait_for
from tests.mqtt_broker import Broker
from tests.report_fixtures import ZONE

CENTRES = ("phuong-ben-thanh", "xa-an-phu", "xa-tan-thanh")
STEPS = 80  # 07:30 to 11:30, three minutes a step
FIRST_KILL, HUB_DOWN_STEPS = 15, 4  # 08:15: the hub killed mid-traffic, back 12 minutes later
OUTAGE = range(30, 50)  # 09:00 to 10:00: the hub broker is stopped
DRAIN_TIMEOUT_S = 60.0  # the uplinks back off up to 30 s between reconnections to the hub broker


def arrivals(rng: random.Random, step: int) -> int:
    """Citizens arriving at a centre in one step: about one, a rush in the last quarter hour."""
    return rng.choices((0, 1, 2), (25, 50, 25))[0] + (2 if step >= STEPS - 5 else 0)


def test_three_centres_a_broker_outage_and_two_hub_kills_lose_and_double_nothing(
        tmp_path, mosquitto_path, hub_dsn, mqtt_root, capsys):
    started = time.monotonic()
    clock_file = tmp_path / "clock-offset"
    set_clock(clock_file, moment(0) - timedelta(minutes=5))
    rng = random.Random(2026)
    stored_at_kill: list[dict[str, tuple[int, int]]] = []
    with ExitStack() as cleanup, psycopg.connect(hub_dsn, autocommit=True) as conn:
        hub_broker = Broker(tmp_path / "hub-broker", executable=mosquitto_path).start()
        cleanup.callback(hub_broker.stop)
        hub = hub_process(tmp_path, hub_broker, hub_dsn, mqtt_root).start()
        cleanup.callback(hub.stop)
        centres = []
        for centre_id in CENTRES:
            c = ProvinceCentre(tmp_path / centre_id, centre_id, hub_broker, hub_dsn, mqtt_root, clock_file)
            cleanup.callback(c.stop)
            centres.append(c.start())
        players = [Clerks(c, seed) for seed, c in enumerate(centres, 1)]

        def stored() -> dict[str, int]:
            return {c.id: event_count(conn, c.id) for c in centres}

        def why() -> str:
            return f"hub log:\n{hub.log_text()[-3000:]}\n" + "\n".join(c.logs() for c in centres)

        def kill_hub() -> None:
            stored_at_kill.append({c.id: (n, c.head()) for c, n in zip(centres, stored().values())})
            hub.kill()

        for step in range(STEPS):
            set_clock(clock_file, moment(step))
            if step == OUTAGE.start:
                hub_broker.stop()
                heads_at_outage = {c.id: c.head() for c in centres}
            if step == OUTAGE.stop:
                # nothing of the hour reached the hub while its broker was away, yet the centres worked on
                assert all(n <= heads_at_outage[i] for i, n in stored().items()), why()
                assert all(c.head() > heads_at_outage[c.id] for c in centres)
                hub_broker.start()
            play_step(players, step, [arrivals(rng, step) for _ in players])
            if step == FIRST_KILL:
                kill_hub()  # right after a round of commands: their events are on their way
            if step == FIRST_KILL + HUB_DOWN_STEPS:
                hub.start()
            if step == OUTAGE.stop:
                # killed again as the hour's backlog starts to arrive
                assert wait_for(lambda: any(n > heads_at_outage[i] for i, n in stored().items()), DRAIN_TIMEOUT_S), why()
                kill_hub()
            if step == OUTAGE.stop + HUB_DOWN_STEPS:
                hub.start()

        day_s = time.monotonic() - started
        # midnight on the centres' clocks: the 25th opens and cancels what was left of the 24th
        set_clock(clock_file, datetime.combine(DAY + timedelta(days=1), OPENS, ZONE))
        for c in centres:
            assert wait_for(lambda c=c: c.server.health()["day"] == (DAY + timedelta(days=1)).isoformat(), 10)
        heads = {c.id: c.head() for c in centres}
        assert wait_for(lambda: all((h := centre(conn, i)) is not None and h.acked == heads[i]
                                    for i in heads), DRAIN_TIMEOUT_S), f"{stored()} of {heads}\n{why()}"
        assert [p.name for p in [hub, *(c.uplink for c in centres)] if not p.running] == [], why()
        drained_s = time.monotonic() - started

        month = Period.month(DAY)
        rejoined = 0
        for c in centres:
            # every event exactly once, as the centre committed it, in the centre's one history
            rows = conn.execute("SELECT epoch, seq, at, type, ticket, counter, actor, data FROM events "
                                "WHERE centre = %s ORDER BY epoch, seq", [c.id]).fetchall()
            assert {r[0] for r in rows} == {1}, f"{c.id}: the hub forked its history"
            assert [r[1:] for r in rows] == c.events()
            assert [r[1] for r in rows] == list(range(1, heads[c.id] + 1))
            assert {r[3] for r in rows} >= {"issued", "called", "recalled", "started", "done", "no_show",
                                            "transferred", "rated", "cancelled", "day_opened"}
            rejoined += sum(1 for r in rows if r[3] == "called" and r[7].get("rejoined"))

            # the month report, every grouping, figure for figure
            own = cli_reports(c.db_path, f"{DAY:%Y-%m}")
            at_hub = centre_reports(conn, c.id, month, *DIMENSIONS)
            for by in DIMENSIONS:
                reasons = own[by].pop("reasons")
                assert reasons["reasons"] == []  # keypads give no reasons, and the hub keeps none
                assert json.loads(json.dumps(as_json(at_hub[by]), ensure_ascii=False)) == own[by], f"{c.id} by {by}"

            # the day met every kind of ending the figures count, so the comparison covers them
            total = own["service"]["total"]
            assert total["issued"] == players[centres.index(c)].taken
            assert min(total[k] for k in ("served", "no_show", "cancelled", "left_without_service", "transferred",
                                          "rated")) > 0, total
            assert {row["group"] for row in own["group"]["rows"]} >= {"(priority)", None}
        assert rejoined > 0, "no citizen marked no-show was called back"

    events = sum(heads.values())
    with capsys.disabled():
        print(f"\nprovince day: {len(CENTRES)} centres, {events} events; (stored at the hub, centre's head) at the "
              f"hub's two kills: {stored_at_kill}; day played in {day_s:.1f} s, drained after {drained_s:.1f} s, "
              f"checked after {time.monotonic() - started:.1f} s")
