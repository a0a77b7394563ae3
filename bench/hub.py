"""Benchmark: the province hub (hub/main.py) ingesting simulated centres into a real PostgreSQL
through a real Mosquitto (the hub broker), with the uplink's batch format (encode_batch).

Prints one JSON object on stdout (and writes it to --json-out FILE if given):
- `ingest`: --centres centres (threads) each publish a busy day (--tickets tickets, five
  events each: issued, called, started, done, rated) in batches of --batch events as fast as
  they can; events/s from the first publish to the last centre's final ack;
- `floor`: the same events inserted straight into an `events` table of the same shape, one
  transaction per batch, with no rebuild and no MQTT: what this PostgreSQL allows;
- `live_lag`: every centre sends one event at a time at --live-rate events/s in all (a
  province's busy hour is ~5/s for 100 centres); the lag is publish → the hub's ack received
  (the ack follows the commit), p50/p99 against the DESIGN.md §7 target p99 ≤ 2 s. The
  real uplink looks at its database every `uplink.poll_s` (0.2 s), which adds to this;
- `week_backlog`: one centre's week (7 busy days) sent at once: seconds to drain;
- `hub_memory`: the hub process's RSS after all that (benchlib.process_memory).

A private PostgreSQL cluster and Mosquitto run in a temporary folder (tests/postgres.py,
tests/mqtt_broker.py); the hub runs as a child process.

    .venv/bin/python bench/hub.py [--centres 100] [--tickets 300] [--live-rate 50] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' private PostgreSQL and broker

import paho.mqtt.client as mqtt  # noqa: E402
import psycopg  # noqa: E402

from hub.main import run_hub  # noqa: E402
from hub.schema import migrate  # noqa: E402
from queuebox.config import load_config  # noqa: E402
from queuebox.hub_protocol import Batch, HubEvent, HubTopics, decode_ack, encode_batch  # noqa: E402
from tests.mqtt_broker import Broker  # noqa: E402
from tests.postgres import Cluster, find_pg_bin  # noqa: E402

from benchlib import emit, machine, percentile, process_memory  # noqa: E402 (bench/ is on the path)

TARGET_LAG_P99_S = 2.0
TARGET_WEEK_DRAIN_S = 300.0  # "a one-week backlog of a centre drained in minutes"
ROOT = "bench"
EXAMPLE_CONFIG = Path(__file__).resolve().parents[1] / "config" / "queuebox.example.toml"


def day_events(day: str, tickets: int, first_seq: int = 1) -> list[HubEvent]:
    """A busy day of one centre: each ticket issued, called, started, done and rated, a minute apart."""
    events, seq = [], first_seq
    for t in range(tickets):
        minute = 7 * 60 + t  # from 07:00
        def at(m: int) -> str:
            return f"{day}T{m // 60 % 24:02d}:{m % 60:02d}:00.000+07:00"
        label = f"A{t + 1:03d}"
        tid = first_seq + t
        for k, (kind, data) in enumerate([
                ("issued", {"service": "A", "label": label, "priority": False, "kiosk": "1"}),
                ("called", {"queue": "A", "rejoined": False, "label": label}), ("started", {"label": label}),
                ("done", {"service_s": 60.0, "label": label}), ("rated", {"score": 1 + t % 4, "label": label})]):
            events.append(HubEvent(seq, at(minute + k), kind, tid, None if k == 0 else str(1 + t % 6),
                                   "kiosk/1" if k == 0 else "web/clerk", data))
            seq += 1
    return events


class FakeCentre:
    """One simulated centre's uplink: publishes batches on its events topic, records acks."""

    def __init__(self, port: int, centre: str) -> None:
        self.topics = HubTopics(ROOT, centre)
        self.centre = centre
        self.acked = 0
        self.ack_times: dict[int, float] = {}
        self._changed = threading.Condition()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{centre}", protocol=mqtt.MQTTv5)
        self.client.max_inflight_messages_set(20)
        self.client.max_queued_messages_set(0)
        self.client.on_message = self._on_ack
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(self.topics.ack, qos=1)
        self.client.loop_start()

    def _on_ack(self, client: Any, userdata: Any, msg: Any) -> None:
        ack = decode_ack(msg.payload)
        with self._changed:
            self.acked = max(self.acked, ack.seq)
            self.ack_times.setdefault(ack.seq, time.perf_counter())
            self._changed.notify_all()

    def send(self, events: list[HubEvent], batch: int) -> None:
        for i in range(0, len(events), batch):
            part = tuple(events[i:i + batch])
            self.client.publish(self.topics.events, encode_batch(Batch(self.centre, 0, part[0].seq, part)), qos=1)

    def wait_acked(self, seq: int, timeout_s: float = 600.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self.acked >= seq, timeout_s)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def floor(dsn: str, events: list[HubEvent], batch: int) -> float:
    """Events/s inserted straight into a bare table of the events' shape, one transaction per batch."""
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TABLE floor_events (centre TEXT, epoch INT, seq BIGINT, at TEXT, type TEXT, "
                     "ticket BIGINT, counter TEXT, actor TEXT, data JSONB, PRIMARY KEY (centre, epoch, seq))")
        conn.commit()
        started = time.perf_counter()
        for i in range(0, len(events), batch):
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany("INSERT INTO floor_events VALUES ('f', 1, %s, %s, %s, %s, %s, %s, '{}')",
                                [(e.seq, e.at, e.type, e.ticket, e.counter, e.actor) for e in events[i:i + batch]])
        return len(events) / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--centres", type=int, default=100)
    parser.add_argument("--tickets", type=int, default=300, help="tickets of a busy day per centre")
    parser.add_argument("--batch", type=int, default=500, help="events per batch (uplink.batch_size)")
    parser.add_argument("--live-rate", type=float, default=50.0, help="events/s of all centres in the lag test")
    parser.add_argument("--live-seconds", type=float, default=20.0)
    parser.add_argument("--json-out")
    args = parser.parse_args()
    bin_dir = find_pg_bin()
    if bin_dir is None:
        print("PostgreSQL is not installed (apt install postgresql)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="queuebox-hub-bench-") as tmp:
        # Its own folder, as tests/postgres.py makes it: the cluster's user must be able to enter it.
        pg_dir = Path(tempfile.mkdtemp(prefix="queuebox-hub-bench-pg-"))
        cluster = Cluster(pg_dir, bin_dir).init().start()
        broker = Broker(Path(tmp) / "broker").start()
        hub_process = None
        centres: list[FakeCentre] = []
        try:
            name = cluster.create_database()
            dsn = cluster.dsn(name)
            with psycopg.connect(dsn) as conn:
                migrate(conn)
            config = load_config(EXAMPLE_CONFIG)
            config = dataclasses.replace(config, hub=dataclasses.replace(
                config.hub, database=dsn, host=broker.host, port=broker.port, root=ROOT, username="", client_id="hub"))
            hub_process = multiprocessing.get_context("fork").Process(target=run_hub, args=(config,), daemon=True)
            hub_process.start()
            day = day_events("2026-11-23", args.tickets)
            centres = [FakeCentre(broker.port, f"c{n:03d}") for n in range(args.centres)]
            time.sleep(1.0)  # the hub subscribes

            started = time.perf_counter()
            senders = [threading.Thread(target=c.send, args=(day, args.batch)) for c in centres]
            for s in senders:
                s.start()
            for s in senders:
                s.join()
            all_acked = all(c.wait_acked(day[-1].seq) for c in centres)
            ingest_s = time.perf_counter() - started
            total = len(day) * len(centres)

            # A province's live load: one event at a time, spread over the centres.
            lags: list[float] = []
            seq = day[-1].seq
            interval = 1.0 / args.live_rate
            deadline = time.perf_counter() + args.live_seconds
            n = 0
            sent: list[tuple[FakeCentre, int, float]] = []
            while time.perf_counter() < deadline:
                c = centres[n % len(centres)]
                if n % len(centres) == 0:
                    seq += 1
                event = HubEvent(seq, "2026-11-24T09:00:00.000+07:00", "paused", None, "1", "web/clerk", {})
                t0 = time.perf_counter()
                c.client.publish(c.topics.events, encode_batch(Batch(c.centre, 0, seq, (event,))), qos=1)
                sent.append((c, seq, t0))
                n += 1
                time.sleep(max(0.0, interval - (time.perf_counter() - t0)))
            for c, s, t0 in sent:
                if c.wait_acked(s, 30.0):
                    lags.append(c.ack_times.get(s, time.perf_counter()) - t0)
            lags.sort()

            # One centre's week at once.
            week = [e for d in range(7) for e in day_events(f"2026-11-{16 + d}", args.tickets,
                                                            first_seq=1 + d * len(day))]
            week = [dataclasses.replace(e, seq=i + 1) for i, e in enumerate(week)]
            late = FakeCentre(broker.port, "week")
            started = time.perf_counter()
            late.send(week, args.batch)
            week_ok = late.wait_acked(week[-1].seq)
            week_s = time.perf_counter() - started
            late.close()
            memory = process_memory(hub_process.pid)
            floor_rate = floor(dsn, week, args.batch)

            lag = {"events": len(lags), "lost": len(sent) - len(lags),
                   "p50_s": round(percentile(lags, 50), 3) if lags else None,
                   "p99_s": round(percentile(lags, 99), 3) if lags else None,
                   "max_s": round(lags[-1], 3) if lags else None, "rate_per_s": args.live_rate,
                   "target_p99_s": TARGET_LAG_P99_S,
                   "meets_target": bool(lags) and percentile(lags, 99) <= TARGET_LAG_P99_S}
            result = {
                "benchmark": "hub", "centres": args.centres, "events_per_centre_day": len(day),
                "ingest": {"events": total, "seconds": round(ingest_s, 2), "per_s": round(total / ingest_s, 1),
                           "all_acked": all_acked},
                "floor": {"per_s": round(floor_rate, 1), "what": "bare INSERTs, one transaction per batch"},
                "ingest_vs_floor": round(total / ingest_s / floor_rate, 3),
                "live_lag": lag,
                "week_backlog": {"events": len(week), "seconds": round(week_s, 2), "drained": week_ok,
                                 "target_s": TARGET_WEEK_DRAIN_S, "meets_target": week_ok and week_s <= TARGET_WEEK_DRAIN_S},
                "hub_memory": memory, "machine": machine(),
            }
        finally:
            for c in centres:
                c.close()
            if hub_process is not None and hub_process.is_alive():
                hub_process.terminate()
                hub_process.join(10)
            broker.stop()
            cluster.stop("immediate")
            shutil.rmtree(pg_dir, ignore_errors=True)
    return emit(result, args.json_out)


if __name__ == "__main__":
    sys.exit(main())
