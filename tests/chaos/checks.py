"""What must hold after a chaos day, read from the database (the only truth), the printed
ticket files, the displays' drawn logs and what the drivers were answered.

Each check returns a list of violations (one sentence each; an empty list is a pass) and
adds its figures to `figures`. A ticket the server committed but no kiosk printed is not a
violation when a kill explains it (`UNPRINTED_REASONS`); it is counted.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from queuebox.clock import parse_iso

BOARD_CALLS = 10  # calls on the board (server/store.recent_calls)
TOKEN = re.compile(rb"/t/([A-Za-z0-9_-]{6,64})")
VALID = {"waiting", "called", "serving", "done", "no_show", "cancelled"}
HELD_STATE = {"called": "calling", "serving": "serving"}
UNPRINTED_REASONS = ("kiosk_killed_before_print", "kiosk_killed_waiting", "kiosk_gave_up")


@dataclass(frozen=True)
class Printed:
    """A ticket file a simulated kiosk saved: the bytes its printer got."""
    kiosk: str
    label: str
    token: str | None
    path: Path


@dataclass(frozen=True)
class KioskKill:
    """A kiosk kill, for explaining unprinted tickets: when (wall clock) and the label it aimed at."""
    kiosk: str
    wall: float
    label: str | None


def read_db(path: Path) -> dict[str, Any]:
    """The rows the checks need, read once."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return {
            "tickets": [dict(r) for r in conn.execute("SELECT * FROM tickets ORDER BY id")],
            "events": [dict(r) for r in conn.execute("SELECT * FROM events ORDER BY seq")],
            "counters": {r["id"]: dict(r) for r in conn.execute("SELECT * FROM counters")},
            "commands": [dict(r) for r in conn.execute("SELECT * FROM commands")],
            "ratings": [dict(r) for r in conn.execute("SELECT * FROM ratings")],
        }
    finally:
        conn.close()


def read_printed(folders: dict[str, Path]) -> list[Printed]:
    """Every .bin a kiosk saved (``YYYYmmdd-HHMMSS-LABEL.bin``), with the status token of its QR code."""
    printed = []
    for kiosk, folder in folders.items():
        for path in sorted(folder.glob("*.bin")):
            found = TOKEN.search(path.read_bytes())
            printed.append(Printed(kiosk, path.stem.rsplit("-", 1)[1], found.group(1).decode() if found else None,
                                   path))
    return printed


def check_numbers(db: dict[str, Any], figures: dict[str, Any]) -> list[str]:
    """(day, service, number) unique, and gap-free from number_start within each day."""
    violations = []
    seen = Counter((t["day"], t["service"], t["number"]) for t in db["tickets"])
    violations += [f"number {key} issued {n} times" for key, n in seen.items() if n > 1]
    by_service: dict[tuple[str, str], list[int]] = defaultdict(list)
    for day, service, number in seen:
        by_service[(day, service)].append(number)
    for (day, service), numbers in sorted(by_service.items()):
        numbers.sort()
        if numbers != list(range(numbers[0], numbers[0] + len(numbers))) or numbers[0] != 1:
            violations.append(f"numbers of {service} on {day} are not 1..{len(numbers)}: {numbers[:5]}…")
    figures["tickets"] = len(db["tickets"])
    return violations


def check_printed(db: dict[str, Any], printed: list[Printed], kills: list[KioskKill], kiosk_logs: dict[str, str],
                  reply_timeout_s: float, figures: dict[str, Any]) -> list[str]:
    """Every printed ticket is in the database with its token and kiosk, and printed once; every
    committed ticket not printed is explained by a kill (see the module docstring)."""
    violations = []
    by_label: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for t in db["tickets"]:
        by_label[t["label"]].append(t)
    printed_ids: Counter[int] = Counter()
    for p in printed:
        match = [t for t in by_label.get(p.label, []) if t["token"] == p.token and t["kiosk"] == p.kiosk]
        if not match:
            violations.append(f"printed ticket {p.label} (token {p.token}) of kiosk {p.kiosk} is not in the database "
                              f"({p.path.name})")
            continue
        printed_ids[match[0]["id"]] += 1
    violations += [f"ticket id {tid} printed {n} times" for tid, n in printed_ids.items() if n > 1]
    take_of = {}  # (kiosk, label) -> take id, from the replies the server recorded
    for row in db["commands"]:
        origin, _, take_id = row["id"].partition(":")
        reply = json.loads(row["reply"])
        if origin.startswith("kiosk/") and reply.get("ok"):
            take_of[(origin.split("/", 1)[1], reply["ticket"]["label"])] = take_id
    reasons: Counter[str] = Counter()
    for t in db["tickets"]:
        if t["id"] in printed_ids:
            continue
        reason = _why_unprinted(t, kills, kiosk_logs.get(t["kiosk"], ""), take_of.get((t["kiosk"], t["label"])),
                                reply_timeout_s)
        if reason is None:
            violations.append(f"ticket {t['label']} of kiosk {t['kiosk']} (issued {t['issued_at']}) was committed "
                              "but never printed, and no kill explains it")
        else:
            reasons[reason] += 1
    figures["printed"] = sum(printed_ids.values())
    figures["unprinted"] = {r: reasons[r] for r in UNPRINTED_REASONS}
    return violations


def _why_unprinted(ticket: dict[str, Any], kills: list[KioskKill], log: str, take_id: str | None,
                   reply_timeout_s: float) -> str | None:
    mine = [k for k in kills if k.kiosk == ticket["kiosk"]]
    if any(k.label == ticket["label"] for k in mine):
        return "kiosk_killed_before_print"
    issued = parse_iso(ticket["issued_at"]).timestamp()
    if any(issued - reply_timeout_s - 1 <= k.wall <= issued + 2 for k in mine):
        return "kiosk_killed_waiting"  # the kiosk died with the take in flight: the new process never knew it
    if take_id and (f"take {take_id} " in log or f"for take {take_id} after" in log):
        return "kiosk_gave_up"  # logged: no answer in time, or the answer came after the kiosk stopped waiting
    return None


def check_states(db: dict[str, Any], figures: dict[str, Any]) -> list[str]:
    """Every ticket of the last day in a valid state, held by at most one counter, and each
    counter holding at most one ticket that says it is held there."""
    violations = []
    day = max((t["day"] for t in db["tickets"]), default=None)
    holders: dict[int, list[str]] = defaultdict(list)
    for cid, c in db["counters"].items():
        if c["ticket"] is not None:
            holders[c["ticket"]].append(cid)
    statuses: Counter[str] = Counter()
    for t in db["tickets"]:
        statuses[t["status"]] += 1
        held_by = holders.get(t["id"], [])
        where = f"ticket {t['label']} ({t['status']}, day {t['day']})"
        if t["status"] not in VALID:
            violations.append(f"{where}: unknown status")
        elif t["status"] in HELD_STATE:
            if t["day"] != day:
                violations.append(f"{where}: still held on a past day")
            if held_by != [t["counter"]]:
                violations.append(f"{where}: at counter {t['counter']} but held by {held_by}")
            elif db["counters"][t["counter"]]["state"] != HELD_STATE[t["status"]]:
                violations.append(f"{where}: its counter is {db['counters'][t['counter']]['state']}")
        else:
            if held_by:
                violations.append(f"{where}: held by counter(s) {held_by}")
            if t["status"] in ("done", "no_show", "cancelled") and not t["finished_at"]:
                violations.append(f"{where}: no finish time")
            if t["status"] == "waiting" and t["day"] != day:
                violations.append(f"{where}: still waiting on a past day")
    for cid, c in db["counters"].items():
        if c["ticket"] is None and c["state"] in ("calling", "serving"):
            violations.append(f"counter {cid} is {c['state']} with no ticket")
    figures["statuses"] = dict(sorted(statuses.items()))
    return violations


def check_calls(db: dict[str, Any], answered: Iterable[tuple[str, str, dict[str, Any]]], driven: set[str],
                figures: dict[str, Any]) -> list[str]:
    """Every call a counter was answered (action, counter, reply) has its `called` event at that
    counter; at a counter only the drivers command, the events of each kind are exactly as many
    as the changes they were answered (a command applied twice would add one)."""
    violations = []
    day_label = {t["id"]: t["label"] for t in db["tickets"]}
    called: dict[str, list[str]] = defaultdict(list)
    kinds: Counter[tuple[str, str]] = Counter()
    for e in db["events"]:
        if e["counter"] is not None:
            kinds[(e["counter"], e["type"])] += 1
        if e["type"] == "called":
            called[e["counter"]].append(day_label.get(e["ticket"], "?"))
    replies: Counter[tuple[str, str]] = Counter()
    for action, counter, reply in answered:
        ticket = reply.get("ticket") if reply.get("ok") else None
        if action in ("next", "call") and ticket:
            replies[(counter, "called")] += 1
            if ticket["label"] not in called.get(counter, []):
                violations.append(f"counter {counter} was answered a call of {ticket['label']} with no called event")
        elif action in ("recall", "start", "no_show", "transfer") and reply.get("ok"):
            replies[(counter, {"recall": "recalled", "start": "started", "no_show": "no_show",
                               "transfer": "transferred"}[action])] += 1
        if reply.get("ok") is False:
            violations.append(f"counter {counter}: {action} refused: {reply.get('error')}")
    for counter in sorted(driven):
        for kind in ("called", "recalled", "started", "no_show", "transferred"):
            if kinds[(counter, kind)] != replies[(counter, kind)]:
                violations.append(f"counter {counter}: {kinds[(counter, kind)]} {kind} events for "
                                  f"{replies[(counter, kind)]} answered commands")
    figures["calls"] = sum(n for (c, k), n in kinds.items() if k == "called")
    figures["recalls"] = sum(n for (c, k), n in kinds.items() if k == "recalled")
    figures["no_shows"] = sum(n for (c, k), n in kinds.items() if k == "no_show")
    figures["transfers"] = sum(n for (c, k), n in kinds.items() if k == "transferred")
    return violations


def boards_by_seq(db: dict[str, Any]) -> dict[int, list[list[Any]]]:
    """The board's calls after each event seq, replayed from the events as the server's
    `store.recent_calls` makes them: newest first, one per ticket, at most BOARD_CALLS, the day's only."""
    label = {t["id"]: t["label"] for t in db["tickets"]}
    latest: dict[int, tuple[int, str, int]] = {}  # ticket -> (seq of its last call, counter, recall)
    boards: dict[int, list[list[Any]]] = {0: []}
    for e in db["events"]:
        if e["type"] == "day_opened":
            latest = {}
        elif e["type"] in ("called", "recalled"):
            data = json.loads(e["data"] or "{}")
            recall = data.get("call_count", 1) - 1 if e["type"] == "recalled" else 0
            latest[e["ticket"]] = (e["seq"], e["counter"], recall)
        newest = sorted(latest.items(), key=lambda item: -item[1][0])[:BOARD_CALLS]
        boards[e["seq"]] = [[label.get(tid, "?"), counter, recall] for tid, (_, counter, recall) in newest]
    return boards


def check_drawn(db: dict[str, Any], drawn: dict[str, list[dict[str, Any]]], final_board: dict[str, Any] | None,
                figures: dict[str, Any]) -> list[str]:
    """Every frame a display drew shows the calls of the seq it names; the last frame of each
    display (confirmed: the server sent that board live) and the final retained board are the
    database's last state."""
    violations = []
    boards = boards_by_seq(db)
    head = db["events"][-1]["seq"] if db["events"] else 0
    for display, frames in sorted(drawn.items()):
        wrong = [f for f in frames if f["seq"] >= 0 and boards.get(f["seq"]) != f["calls"]]
        if wrong:
            f = wrong[0]
            violations.append(f"display {display}: {len(wrong)} frame(s) show calls that are not the board of their "
                              f"seq, first seq {f['seq']}: {f['calls'][:3]} != {boards.get(f['seq'], [])[:3]}")
        last = frames[-1] if frames else None
        if last is None or last["seq"] != head:
            violations.append(f"display {display}: last frame seq {last and last['seq']} != database head {head}")
        elif not last.get("confirmed", True):
            violations.append(f"display {display}: its last frame is not confirmed by the server (a retained board)")
    if final_board is None or final_board.get("seq") != head:
        violations.append(f"the final retained board is not at seq {head}: {final_board and final_board.get('seq')}")
    else:
        shown = [[c["ticket"], c["counter"], c["recall"]] for c in final_board["calls"]]
        if shown != boards[head]:
            violations.append(f"the final retained board's calls {shown[:3]} != the database's {boards[head][:3]}")
    figures["frames"] = {d: len(f) for d, f in sorted(drawn.items())}
    return violations


def check_ratings(db: dict[str, Any], counter: str, figures: dict[str, Any]) -> list[str]:
    """Ratings only for tickets the rated counter finished, at most one per ticket."""
    tickets = {t["id"]: t for t in db["tickets"]}
    violations = []
    for ticket, n in Counter(r["ticket"] for r in db["ratings"]).items():
        if n > 1:
            violations.append(f"ticket id {ticket} rated {n} times")
    for r in db["ratings"]:
        t = tickets.get(r["ticket"])
        if t is None or t["status"] != "done" or t["counter"] != r["counter"] or r["counter"] != counter:
            violations.append(f"rating {r} is not of a ticket counter {counter} finished")
    figures["ratings"] = len(db["ratings"])
    return violations


def count_unpublished(db: dict[str, Any], seen: set[int], outages: list[tuple[float, float]],
                      figures: dict[str, Any]) -> None:
    """Events committed while the broker was up that never came on the `events` topic (a server
    killed between a commit and its publish). Not a violation: the retained board heals the
    displays; counted, with the first few seqs."""
    missing = [e["seq"] for e in db["events"] if e["seq"] not in seen
               and not any(start <= parse_iso(e["at"]).timestamp() <= end for start, end in outages)]
    figures["events_not_published"] = {"count": len(missing), "first_seqs": missing[:10]}


def read_drawn(path: Path) -> list[dict[str, Any]]:
    """A display's drawn log; a line cut by a kill is skipped."""
    frames = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    for line in lines:
        try:
            frames.append(json.loads(line))
        except ValueError:
            continue
    return frames
