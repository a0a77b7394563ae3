"""The documentation stays true: README.md and docs/*.md against the code they describe.

- docs/configuration.md is exactly what `queuebox.config_reference.render()` makes, and it
  documents every key of the schema and of the example configuration;
- every relative link, anchor and picture points at something that exists;
- every `queuebox …` command shown exists, and every command line in a code block parses;
- the wiring tables and docs/wiring.png show the example configuration's pins;
- the pictures of the ticket and the board are what the code draws today;
- docs/protocol.md names every action, error code, event type and state of the protocol,
  and its ACL table is the one `queuebox mqtt-credentials` writes;
- the restore procedure of docs/install.md, run line by line on a real database that a
  killed writer left with a WAL file, brings the backup back (and without its `rm` step,
  does not).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import io
import json
import os
import re
import shlex
import sqlite3
import subprocess
import sys
import threading
import tomllib
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from queuebox import config_reference, protocol
from queuebox.cli import build_parser
from queuebox.config import config_keys, load_config, to_toml
from server.credentials import Account, acl_rules
from tests.factories import MONDAY_9AM

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config" / "queuebox.example.toml"
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
INSTALL = ROOT / "docs" / "install.md"
HELPER = ROOT / "tests" / "helpers" / "issue_loop.py"
FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```", re.S | re.M)
TIMEOUT_S = 60


def text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def prose(markdown: str) -> str:
    """The Markdown without fenced code blocks and inline code (where links are not links)."""
    return re.sub(r"`[^`\n]*`", "", FENCE.sub("", markdown))


def code_blocks(markdown: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced code block."""
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(markdown)]


def inline_code(markdown: str) -> list[str]:
    return re.findall(r"`([^`\n]+)`", FENCE.sub("", markdown))


def command_lines(body: str) -> list[str]:
    """The lines of a shell block, continuations joined."""
    return [line.strip() for line in body.replace("\\\n", " ").splitlines() if line.strip()]


def name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# --- the configuration reference ------------------------------------------------------------

def test_the_configuration_reference_is_generated_from_the_schema():
    assert text(ROOT / "docs" / "configuration.md") == config_reference.render(), \
        "docs/configuration.md is stale: python -m queuebox.config_reference > docs/configuration.md"


def test_the_reference_lists_every_key_of_the_schema_with_its_help():
    doc = config_reference.render()
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `([^`]+)` \|.*$", doc, re.M)}
    keys = list(config_keys())
    assert [path for path, _default, _help in keys if path not in rows] == []
    assert len(rows) == len(keys)
    for path, _default, help_text in keys:
        first_words = config_reference._cell(help_text.strip()).split(";")[0][:40]
        assert first_words in rows[path], path


def example_key_paths(table: dict[str, Any], prefix: str, known: set[str]) -> list[str]:
    """Every key set in the parsed example, as a config_keys() path (`services[].code`)."""
    found = []
    for key, value in table.items():
        path = f"{prefix}.{key}" if prefix else key
        tables = isinstance(value, list) and value and all(isinstance(v, dict) for v in value)
        if path in known or not (isinstance(value, dict) or tables):
            found.append(path)
        elif isinstance(value, dict):
            found.extend(example_key_paths(value, path, known))
        else:
            for item in value:
                found.extend(example_key_paths(item, path + "[]", known))
    return found


def test_every_key_of_the_example_configuration_is_in_the_reference():
    known = {path for path, _default, _help in config_keys()}
    paths = example_key_paths(tomllib.loads(text(EXAMPLE)), "", known)
    assert len(paths) > 100
    doc = text(ROOT / "docs" / "configuration.md")
    assert sorted({p for p in paths if f"| `{p}` |" not in doc}) == []


def test_a_key_without_help_gets_a_placeholder_not_a_gap():
    @dataclass(frozen=True)
    class Section:
        plain: int = 3
        described: str = dataclasses.field(default="x", metadata={"help": "A | B <id>."})

    rows = config_reference.section_rows(Section, "demo")
    assert rows == ["| `demo.plain` | whole number | `3` | (not described yet) |",
                    '| `demo.described` | text | `"x"` | A \\| B &lt;id&gt;. |']


def test_no_key_lacks_a_help_text():
    assert config_reference.undocumented() == []


# --- links, anchors, pictures -----------------------------------------------------------------

def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    words = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", words).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", FENCE.sub("", text(path)), re.M):
        base, n = slug(heading), 0
        while (candidate := base if n == 0 else f"{base}-{n}") in found:
            n += 1
        found.add(candidate)
    return found


def links(path: Path) -> list[str]:
    body = prose(text(path))
    found = re.findall(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", body)
    found += re.findall(r"<(?:img|a)\b[^>]*?\b(?:src|href)=\"([^\"]+)\"", body)
    return found


@pytest.mark.parametrize("doc", DOCS, ids=name)
def test_every_relative_link_and_picture_exists(doc):
    broken = []
    for target in links(doc):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        path = (doc.parent / file).resolve() if file else doc
        if not path.exists():
            broken.append(f"{target}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(f"{target}: no heading #{anchor} in {name(path)}")
    assert broken == []


def test_the_front_page_shows_the_pictures_the_code_makes():
    shown = {Path(t).name for t in links(ROOT / "README.md") if t.endswith(".png")}
    assert {"ticket.png", "board.png", "board-slide.png", "counter-display.png", "console.png", "status.png",
            "overview.png", "reports.png", "wiring.png", "lookup.png"} <= shown


def test_links_are_checked_by_a_checker_that_finds_broken_ones(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[ok](#title) [gone](missing.md) [bad](#nowhere) `[code](not-a-link.md)`\n",
                    encoding="utf-8")
    assert links(page) == ["#title", "missing.md", "#nowhere"]
    assert anchors(page) == {"title"}
    assert slug("The counter keypad (`[keypad]`)") == "the-counter-keypad-keypad"
    assert slug("A counter keypad, as `queuebox keypad` does it") == "a-counter-keypad-as-queuebox-keypad-does-it"


@pytest.mark.parametrize("doc", DOCS, ids=name)
def test_the_text_is_in_composed_unicode(doc):
    """Vietnamese diacritics as single code points (NFC), as typed and as searched."""
    body = text(doc)
    assert body == unicodedata.normalize("NFC", body)


def test_the_vietnamese_texts_are_spelled_as_the_code_says_them():
    docs = "\n".join(text(d) for d in DOCS)
    phrases = [vi for vi, _en in protocol.RATING_SCORES.values()]
    phrases += [s.name_vi for s in load_config(EXAMPLE).services]
    phrases += ["Mất kết nối máy chủ", "Mời công dân có số thứ tự", "Bộ phận một cửa"]
    assert [p for p in phrases if p not in docs] == []
    assert "Mất kết nối máy chủ" in text(ROOT / "display" / "layout.py")
    assert "Mời công dân có số thứ tự" in text(ROOT / "display" / "announce.py")


# --- commands ------------------------------------------------------------------------------------

def cli_commands() -> dict[str, set[str]]:
    """Every `queuebox` command, with the actions of those that have them (`user add`)."""
    def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        return {n: p for a in parser._actions if isinstance(a, argparse._SubParsersAction) for n, p in a.choices.items()}
    return {n: set(subparsers(p)) for n, p in subparsers(build_parser()).items()}


def mentioned_commands(markdown: str) -> list[tuple[str, str]]:
    """(command, next word) of each `queuebox WORD` in code (inline or blocks)."""
    code = inline_code(markdown) + [body for _lang, body in code_blocks(markdown)]
    return [(m.group(1), m.group(2) or "") for snippet in code
            for m in re.finditer(r"(?<![\w/.-])queuebox ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?", snippet)]


@pytest.mark.parametrize("doc", DOCS, ids=name)
def test_every_queuebox_command_mentioned_exists(doc):
    commands = cli_commands()
    wrong = [f"queuebox {cmd} {word}".strip() for cmd, word in mentioned_commands(text(doc))
             if cmd not in commands or (commands[cmd] and word not in commands[cmd])]
    assert wrong == []


def queuebox_lines(markdown: str) -> list[list[str]]:
    """The arguments of every queuebox command line in a code block (sudo, prompts, paths and comments left out)."""
    found = []
    for _lang, body in code_blocks(markdown):
        for line in command_lines(body):
            m = re.match(r"^(?:\$ )?(?:sudo )?(?:ExecStart=)?(?:\S*/)?queuebox (.*)$", line)
            if m:
                words = shlex.split(m.group(1), comments=True)
                ends = [i for i, w in enumerate(words) if w in ("|", "&&", ";", "&") or re.match(r"\d?>", w)]
                found.append(words[:ends[0]] if ends else words)  # the shell's redirections and pipes are not ours
    return found


@pytest.mark.parametrize("doc", DOCS, ids=name)
def test_every_command_line_shown_parses(doc):
    failures = []
    for args in queuebox_lines(text(doc)):
        err = io.StringIO()
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
                build_parser().parse_args(args)
        except SystemExit as exc:
            if exc.code:
                failures.append(f"queuebox {shlex.join(args)}: {err.getvalue().strip().splitlines()[-1]}")
    assert failures == []


def test_the_command_checks_find_wrong_commands():
    sample = "```sh\nsudo queuebox backup --too /mnt/\nqueuebox frobnicate\n```\nand `queuebox user remove x`\n"
    assert ("user", "remove") in mentioned_commands(sample) and ("frobnicate", "") in mentioned_commands(sample)
    assert queuebox_lines(sample)[0] == ["backup", "--too", "/mnt/"]
    assert queuebox_lines("```\nqueuebox report --from 2026-11-23 > out.csv  # a file\n```\n") == [
        ["report", "--from", "2026-11-23"]]
    with contextlib.redirect_stderr(io.StringIO()), pytest.raises(SystemExit):
        build_parser().parse_args(queuebox_lines(sample)[0])


def test_the_two_commands_exist_in_the_makefile():
    targets = set(re.findall(r"^([a-z][\w-]*):", text(ROOT / "Makefile"), re.M))
    mentioned = {t for d in DOCS for snippet in inline_code(text(d)) + [b for _l, b in code_blocks(text(d))]
                 for t in re.findall(r"(?<![\w-])make ([a-z][\w-]*)", snippet)}
    assert {"demo", "test"} <= mentioned
    assert mentioned - targets == set()


def test_the_printer_rule_shown_is_the_one_the_installer_writes():
    rule = subprocess.run([sys.executable, str(ROOT / "scripts" / "install_helper.py"), "udev-printer", str(EXAMPLE)],
                          check=True, capture_output=True, text=True, timeout=TIMEOUT_S).stdout
    lines = [line for line in rule.splitlines() if line and not line.startswith("#")]
    assert len(lines) == 1 and 'ATTRS{idVendor}=="0416"' in lines[0]
    assert lines[0] in text(INSTALL)


# --- wiring ------------------------------------------------------------------------------------------

def wiring_module() -> Any:
    spec = importlib.util.spec_from_file_location("wiring_diagram", ROOT / "scripts" / "wiring_diagram.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_wiring_tables_show_the_example_pins():
    wiring = wiring_module()
    doc = text(INSTALL)
    assert wiring.with_tables(doc, load_config(EXAMPLE)) == doc, "run scripts/wiring_diagram.py"


def test_the_wiring_picture_is_the_one_drawn_from_the_example(tmp_path):
    wiring = wiring_module()
    config = load_config(EXAMPLE)
    committed = ROOT / "docs" / "wiring.png"
    assert wiring.png_wiring(committed) == json.loads(wiring.wiring_json(config)), "run scripts/wiring_diagram.py"
    fresh = wiring.draw(config, tmp_path / "wiring.png")
    with Image.open(committed) as a, Image.open(fresh) as b:
        assert a.size == b.size and a.tobytes() == b.tobytes(), "run scripts/wiring_diagram.py"


def test_the_wiring_knows_the_header():
    wiring = wiring_module()
    assert [wiring.PHYSICAL[g] for g in (2, 3, 4, 14, 17, 18, 21, 26)] == [3, 5, 7, 8, 11, 12, 40, 37]
    assert wiring.GROUNDS == (6, 9, 14, 20, 25, 30, 34, 39)
    rows = {w.key: (w.bcm, w.pin) for w in wiring.wires(load_config(EXAMPLE))}
    assert rows["kiosk.buttons.A"] == (5, 29) and rows["keypad.rating_leds[3]"] == (25, 22)
    assert "kiosk.priority_button" in rows and len(rows) == 9 + 16


def test_the_wiring_check_fails_when_a_pin_changes(tmp_path):
    moved = tmp_path / "moved.toml"
    moved.write_text(text(EXAMPLE).replace("led_fault = 22", "led_fault = 23"), encoding="utf-8")
    script = [sys.executable, str(ROOT / "scripts" / "wiring_diagram.py"), "--check"]
    assert subprocess.run(script, capture_output=True, timeout=TIMEOUT_S).returncode == 0
    stale = subprocess.run(script + ["--config", str(moved)], capture_output=True, text=True, timeout=TIMEOUT_S)
    assert stale.returncode == 1 and "docs/wiring.png" in stale.stderr and "docs/install.md" in stale.stderr


# --- the pictures on the front page ------------------------------------------------------------------

def same_pixels(a: Path, b: Path) -> bool:
    with Image.open(a) as x, Image.open(b) as y:
        return x.size == y.size and x.tobytes() == y.tobytes()


def test_the_board_picture_is_what_the_display_draws(tmp_path):
    out = tmp_path / "board.png"
    command = [sys.executable, "-m", "queuebox.cli", "display", "--config", str(EXAMPLE), "--screenshot", str(out),
               "--sample", "--size", "1920x1080"]
    subprocess.run(command, check=True, capture_output=True, timeout=TIMEOUT_S, cwd=ROOT,
                   env={**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"})
    assert same_pixels(ROOT / "docs" / "board.png", out), f"docs/board.png is stale: {shlex.join(command[1:])}"


def test_the_slide_picture_is_what_the_display_draws(tmp_path):
    out = tmp_path / "board-slide.png"
    command = [sys.executable, "-m", "queuebox.cli", "display", "--config", str(EXAMPLE), "--screenshot", str(out),
               "--sample", "--size", "1920x1080", "--slide", "procedures"]
    subprocess.run(command, check=True, capture_output=True, timeout=TIMEOUT_S, cwd=ROOT,
                   env={**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"})
    assert same_pixels(ROOT / "docs" / "board-slide.png", out), \
        f"docs/board-slide.png is stale: {shlex.join(command[1:])}"
def test_the_counter_display_picture_is_what_the_display_draws(tmp_path):
    out = tmp_path / "counter-display.png"
    command = [sys.executable, "-m", "queuebox.cli", "display", "--config", str(EXAMPLE), "--counter", "1",
               "--screenshot", str(out), "--sample", "--size", "1280x720"]
    subprocess.run(command, check=True, capture_output=True, timeout=TIMEOUT_S, cwd=ROOT,
                   env={**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"})
    assert same_pixels(ROOT / "docs" / "counter-display.png", out), \
        f"docs/counter-display.png is stale: {shlex.join(command[1:])}"


def test_the_ticket_picture_is_what_the_kiosk_prints(tmp_path):
    from device.main import preview_ticket

    at = datetime(2026, 11, 23, 9, 12, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
    out = preview_ticket(load_config(EXAMPLE), "B", tmp_path / "ticket.png", group="CT", at=at)
    assert same_pixels(ROOT / "docs" / "ticket.png", out), \
        "docs/ticket.png is stale: device.main.preview_ticket(example, 'B', …, group='CT', at=2026-11-23 09:12)"


# --- the protocol ------------------------------------------------------------------------------------

def test_the_protocol_page_names_every_action_code_event_and_state():
    doc = " ".join(text(ROOT / "docs" / "protocol.md").split())
    names = protocol.COUNTER_ACTIONS + protocol.ERROR_CODES + protocol.EVENT_TYPES + protocol.COUNTER_STATES
    assert [n for n in names if f"`{n}`" not in doc and f'"{n}"' not in doc] == []
    assert f"{protocol.MAX_PAYLOAD} bytes" in doc and f"1 to {protocol.MAX_ID} characters" in doc


def test_the_acl_table_is_the_one_the_broker_gets():
    doc = text(ROOT / "docs" / "protocol.md")
    table = doc.split("<!-- acl table")[1].split("\n\n")[0]
    documented = {}
    for row in re.findall(r"^\| `([^`]+)` \| (.*) \| (.*) \|$", table, re.M):
        account, writes, reads = row
        documented[account] = (set(re.findall(r"`([^`]+)`", writes)), set(re.findall(r"`([^`]+)`", reads)))
    expected = {}
    for kind, device in (("server", ""), ("kiosk", "<kiosk>"), ("counter", "<counter>"), ("display", "<display>"),
                         ("uplink", ""), ("tool", "<name>")):
        rules = acl_rules(Account(kind, device), "")  # type: ignore[arg-type]
        expected[Account(kind, device).username] = ({t for a, t in rules if a in ("write", "readwrite")},
                                                    {t for a, t in rules if a in ("read", "readwrite")})
    assert documented == expected


# --- backup and restore, as documented ---------------------------------------------------------------

class IssueLoop:
    """tests/helpers/issue_loop.py standing in for the server: a process writing tickets to the
    database, each label collected once its commit returned."""

    def __init__(self, db: Path, config: Path, prefix: str, log: Path, max_tickets: int | None = None) -> None:
        args = [sys.executable, str(HELPER), str(db), str(config), prefix, MONDAY_9AM.isoformat()]
        if max_tickets is not None:
            args += ["--max", str(max_tickets)]
        self.labels: list[str] = []
        self.changed = threading.Condition()
        with open(log, "a") as err:
            self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with self.proc.stdout:
            for line in self.proc.stdout:
                if line.endswith("\n") and line != "ready\n":  # a line cut short by a kill was not printed
                    with self.changed:
                        self.labels.append(line.split()[0])
                        self.changed.notify_all()

    def wait_for(self, count: int) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.labels) >= count, timeout=TIMEOUT_S), self.labels[-3:]

    def finish(self) -> list[str]:
        assert self.proc.wait(timeout=TIMEOUT_S) == 0
        self.reader.join(timeout=TIMEOUT_S)
        return self.labels

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=TIMEOUT_S)
        self.reader.join(timeout=TIMEOUT_S)


def restore_lines() -> list[str]:
    """The command lines of the restore procedure in docs/install.md."""
    after = text(INSTALL).split("<!-- restore procedure:")[1]
    return command_lines(code_blocks(after)[0][1])


def tickets(db: Path) -> tuple[str, int]:
    """The integrity check's verdict and the number of tickets of a database file."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0], conn.execute("SELECT count(*) FROM tickets").fetchone()[0]
    finally:
        conn.close()


@dataclass
class Centre:
    """A server's files under `root` standing for /: the database, its backups, the configuration."""

    root: Path

    def __post_init__(self) -> None:
        self.state = self.root / "var/lib/queuebox"
        (self.state / "backups").mkdir(parents=True)
        self.db = self.state / "queuebox.db"
        example = load_config(EXAMPLE)
        # issue_loop.py's numbering (five-digit labels, no limit), so `queuebox migrate` keeps it.
        services = tuple(dataclasses.replace(s, number_end=99_999, label_format="{code}{number:05d}", daily_limit=0)
                         for s in example.services)
        config = dataclasses.replace(example, services=services,
                                     database=dataclasses.replace(example.database, path=str(self.db)))
        self.config = self.root / "queuebox.toml"
        self.config.write_text(to_toml(config), encoding="utf-8")
        self.log = self.root / "writers.log"
        self.server: IssueLoop | None = None
        self.restarted: list[str] = []

    def path(self, word: str) -> str:
        return str(self.state) + word[len("/var/lib/queuebox"):] if word.startswith("/var/lib/queuebox") else word

    def queuebox(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "queuebox.cli", *args], capture_output=True, text=True, cwd=ROOT,
                              env={**os.environ, "QUEUEBOX_CONFIG": str(self.config)}, timeout=TIMEOUT_S)
        assert done.returncode == 0, f"queuebox {shlex.join(args)}: {done.stderr}"
        return done.stdout

    def run(self, line: str) -> None:
        """One line of the documented procedure, on these files: paths under /var/lib/queuebox moved
        here, no `sudo`, no owner change (there is no user queuebox here), systemctl acting on the
        stand-in server. A line of another kind fails the test: the procedure changed, so must this."""
        words = [self.path(w) for w in shlex.split(line, comments=True)]
        if words[0] == "sudo":
            words = words[1:]
        if words == ["systemctl", "stop", "queuebox-server"]:
            assert self.server is not None
            self.server.kill()  # the worst case: stopped hard (watchdog, power), its WAL left behind
        elif words == ["systemctl", "start", "queuebox-server"]:
            self.restarted = IssueLoop(self.db, self.config, "after", self.log, max_tickets=5).finish()
        elif words[0] == "queuebox":
            self.queuebox(*words[1:])
        elif words[0] in ("rm", "install"):
            args = [w for i, w in enumerate(words) if w not in ("-o", "-g") and words[i - 1] not in ("-o", "-g")]
            subprocess.run(args, check=True, timeout=TIMEOUT_S)
        else:
            pytest.fail(f"the restore procedure has a step this test does not know: {line}")


RESTARTED = ["A00007", "B00007", "C00007", "D00007", "E00007"]  # the first tickets after restoring 30


def prepare(centre: Centre) -> Path:
    """A morning of 30 tickets, the nightly backup (named as in the procedure), then a server
    writing on. Returns the backup."""
    backup = next(w for line in restore_lines() for w in line.split() if "/backups/" in w)
    IssueLoop(centre.db, centre.config, "morning", centre.log, max_tickets=30).finish()
    centre.queuebox("backup", "--to", centre.path(backup))
    centre.server = IssueLoop(centre.db, centre.config, "day", centre.log)
    centre.server.wait_for(100)
    return Path(centre.path(backup))


def test_the_documented_restore_brings_the_backup_back(tmp_path):
    centre = Centre(tmp_path)
    backup = prepare(centre)
    for line in restore_lines():
        centre.run(line)
    assert tickets(backup) == ("ok", 30)
    integrity, saved = tickets(centre.state / "before-restore.db")
    assert integrity == "ok" and saved >= 130  # the state before the restore, kept "in case"
    assert tickets(centre.db) == ("ok", 35)
    # The numbers continue after the backup's (6 per service): those issued since are given out again.
    assert centre.restarted == RESTARTED


def test_without_removing_the_wal_the_restored_database_is_not_the_backup(tmp_path):
    """The reason for the `rm` line: the killed server's WAL would be applied to the restored file."""
    lines = restore_lines()
    removal = [line for line in lines if line.startswith("sudo rm -f ") and "queuebox.db-wal" in line]
    assert len(removal) == 1
    centre = Centre(tmp_path)
    prepare(centre)
    assert (centre.state / "queuebox.db-wal").stat().st_size > 0  # the killed writer's last writes
    try:
        for line in lines:
            if line not in removal:
                centre.run(line)
        outcome: Any = (tickets(centre.db), centre.restarted)
    except (AssertionError, sqlite3.DatabaseError) as exc:  # migrate, the restarted server or the check failed
        outcome = str(exc)
    assert outcome != (("ok", 35), RESTARTED)  # what the whole procedure gives
