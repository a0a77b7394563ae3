"""Fuzzer: random and mutated payloads on every topic, through a real Mosquitto with the
generated accounts and ACL, against the real `queuebox server` process.

One MQTT v5 client per device account (kiosk-kiosk1, kiosk-kiosk2, counter-1 … counter-6,
display-display1) publishes --messages payloads, 80 % on topics its ACL allows (take,
command, rating, its own status) and 20 % on topics it does not (another device's commands,
board, events, states, replies, the server's status, outside the site): valid commands,
commands with one field retyped or removed, bytes flipped, cut or spliced, invalid UTF-8,
UTF-16, a BOM, payloads past 4 KiB (up to 7.5 KiB: the broker disconnects a client whose
packet is over 8 KiB, tests/integration/test_mqtt_hardening.py), nesting up to 1,200 deep,
number literals out of range, NaN, duplicate keys, lone surrogate escapes, null optional
fields, repeated command ids; QoS 0, 1 and 2, 5 % retained. Every --batch messages each commanding account sends a probe and the run waits
for the server's answers: a dead server is restarted and counted (the target is 0).

At the end (tests/fuzz/live.py `final_checks`): the server is restarted once on purpose
(no retained command may reach it: they were refused and cleared), then it must answer a valid
take and a `next` exactly as the rules predict from the database, its log must hold no
traceback, the database must keep every invariant (tests/fuzz/invariants.py), every command
on an allowed topic must have had one reply (a refused one `bad_request`), every reply
on the wire must be the recorded first reply of its id, no command sent on a refused topic
may have been applied, no refused publish may reach a subscriber, and every message the
server sent (replies, board, events, states) must follow the protocol.

Prints one JSON object on stdout: messages sent per topic (`denied …` for refused topics),
server restarts, invariant violations, the replies' error codes, the broker's PUBACK reason
codes per topic (QoS 1; 135 = not authorized), the server's RSS before and after, the seed.
Progress goes to stderr. Replay a run with the same --seed (or env QUEUEBOX_FUZZ_SEED).

    .venv/bin/python bench/fuzz_mqtt.py [--messages 100000] [--seed N] [--batch 500] [--budget 1800]
                                        [--dir DIR] [--json-out FILE]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests/fuzz holds the fuzzer shared with the test suite

from benchlib import emit, machine  # noqa: E402 (bench/ is on the path)
from tests.fuzz.live import Fuzzer, final_checks  # noqa: E402
from tests.fuzz.site import Site  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000, help="fuzz messages to publish (default 100000)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: env QUEUEBOX_FUZZ_SEED, "
                                                                "else a new one, printed)")
    parser.add_argument("--batch", type=int, default=500, help="messages between two waits for the server")
    parser.add_argument("--budget", type=float, default=1800, help="seconds of publishing at most (default 1800)")
    parser.add_argument("--dir", default=None, help="folder for the broker, database and logs (default: a temp one)")
    parser.add_argument("--json-out", default=None, help="also write the JSON result to this file")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else int(os.environ.get("QUEUEBOX_FUZZ_SEED") or
                                                        random.randrange(2**32))
    print(f"seed {seed} (replay: --seed {seed})", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="queuebox-fuzz-", dir=args.dir) as tmp:
        site = Site(Path(tmp) / "site").start()
        fuzzer = None
        try:
            fuzzer = Fuzzer(site, seed, log=lambda line: print(line, file=sys.stderr, flush=True))
            fuzzer.sync()
            rss_before = site.server_rss_kb()
            started = time.monotonic()
            sent = fuzzer.send(args.messages, batch=args.batch, deadline=started + args.budget)
            elapsed = time.monotonic() - started
            rss_after = site.server_rss_kb()
            final = final_checks(fuzzer, restart=True)
        except BaseException:
            print(f"logs kept in {site.folder}:\n{site.server_log_text()[-3000:]}", file=sys.stderr)
            raise
        finally:
            if fuzzer is not None:
                fuzzer.close()
            site.stop()
    violations = final["violations"]
    result = {
        "benchmark": "MQTT fuzzing of the live server",
        "seed": seed,
        "messages_sent": sent,
        "complete": sent == args.messages,
        "seconds": round(elapsed, 1),
        "messages_per_s": round(sent / elapsed, 1) if elapsed else None,
        "sent_per_topic": dict(sorted(fuzzer.sent.items())),
        "server_restarts": fuzzer.restarts,
        "server_stalls": fuzzer.stalls,
        "server_alive_at_end": final["alive"],
        "invariant_violations": len(violations),
        "violations": violations[:50],
        "replies": dict(fuzzer.replies.most_common()),
        "server_messages_checked": dict(fuzzer.server_messages),
        "nonconforming_server_messages": len(fuzzer.nonconforming),
        "refused_publishes_delivered": len(fuzzer.leaked),
        "broker_puback_codes_qos1": {group: dict(codes) for group, codes in sorted(fuzzer.acks().items())},
        "replayed_retained_commands_after_restart": final["replayed_after_restart"],
        "commands_sent_on_allowed_topics": final["commands_sent"],
        "commands_answered": final["commands_answered"],
        "final_take": final["take"],
        "final_next": final["next"],
        "server_rss_kb": {"before": rss_before, "after": rss_after},
        "targets": {"server_restarts": 0, "invariant_violations": 0},
        "meets_targets": fuzzer.restarts == 0 and not violations and final["alive"] and fuzzer.stalls == 0,
        "crash_logs": fuzzer.crash_logs[:3],
        "machine": machine(),
    }
    return emit(result, args.json_out)


if __name__ == "__main__":
    sys.exit(main())
