"""Rules about the project itself: import boundaries, CLI help, systemd units."""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from queuebox.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("queuebox", "server", "device", "display", "hub")
PURE_MODULES = ("server/rules.py", "server/rating_rules.py", "server/messages.py", "queuebox/figures.py", "queuebox/ticket_fold.py", "device/ticket.py", "display/board.py", "display/boxes.py", "display/layout.py",
                "display/slides.py", "display/slide_layout.py")
# Pure means no I/O, not no libraries: the ticket layout draws into a Pillow image in memory.
PURE_EXTRA = {"device/ticket.py": {"PIL"}, "server/rating_rules.py": {"server"},  # over rules.py's state
              "server/messages.py": {"server"},  # the state of rules.py as the protocol's messages
              "display/layout.py": {"display"}, "display/slides.py": {"display"},
              "display/slide_layout.py": {"display", "segno"}}  # the board data and boxes, pure too; a QR matrix
SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
SOURCES = sorted(p.relative_to(ROOT).as_posix() for package in PACKAGES for p in (ROOT / package).rglob("*.py"))
UNITS = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "systemd").rglob("*.service"))


def imports(path: Path) -> list[tuple[str, bool]]:
    """Every module `path` imports, absolute, with whether the import is inside a function."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = path.relative_to(ROOT).parts[:-1]
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend((alias.name, in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = ".".join(package[: len(package) - child.level + 1])
                    module = f"{base}.{child.module}" if child.module else base
                else:
                    module = child.module or ""
                found.append((module, in_function))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

    visit(tree, False)
    return found


def top(module: str) -> str:
    return module.split(".", 1)[0]


def package_of(source: str) -> str:
    return source.split("/", 1)[0]


# --- import boundaries (DESIGN.md §2) -------------------------------------------------

def test_sources_are_found():
    assert {"queuebox/cli.py", "queuebox/config.py", "server/rules.py"} <= set(SOURCES)


@pytest.mark.parametrize("source,expected", [
    ("server/engine.py", {"server", "queuebox", "threading"}),
    ("queuebox/cli.py", {"server", "queuebox", "argparse"}),
])
def test_imports_are_resolved_to_top_level_packages(source, expected):
    assert expected <= {top(module) for module, _ in imports(ROOT / source)}


@pytest.mark.parametrize("source", [s for s in SOURCES if package_of(s) in ("device", "display")])
def test_device_and_display_never_import_server(source):
    assert [m for m, _ in imports(ROOT / source) if top(m) == "server"] == []


@pytest.mark.parametrize("source", [s for s in SOURCES if package_of(s) != "queuebox"])
def test_only_the_cli_imports_device_or_display(source):
    """Nothing but the CLI imports device or display; each may import its own modules."""
    own = package_of(source)
    assert [m for m, _ in imports(ROOT / source) if top(m) in {"device", "display"} - {own}] == []


@pytest.mark.parametrize("source", [s for s in SOURCES if package_of(s) == "queuebox"])
def test_queuebox_never_imports_outer_packages_at_top_level(source):
    assert [m for m, in_function in imports(ROOT / source)
            if top(m) in {"server", "device", "display", "hub"} and not in_function] == []


@pytest.mark.parametrize("source", [s for s in SOURCES if package_of(s) == "queuebox" and s != "queuebox/cli.py"])
def test_only_the_cli_imports_outer_packages_inside_functions(source):
    assert [m for m, _ in imports(ROOT / source) if top(m) in {"server", "device", "display", "hub"}] == []


@pytest.mark.parametrize("source", [s for s in SOURCES if package_of(s) not in ("hub",) and s != "queuebox/cli.py"])
def test_nothing_but_the_cli_imports_the_hub(source):
    assert [m for m, _ in imports(ROOT / source) if top(m) == "hub"] == []


# The province dashboard reuses the centre web's parts that hold no queue state: the hardened
# listener, the accounts' hashing and throttle, the secret key file, i18n, charts, and the
# report layouts and writers.
HUB_MAY_USE = {"server.report_cli", "server.report_monthly", "server.report_xlsx",
               "server.httpd", "server.login_guard", "server.users", "server.user_cli", "server.secret_key",
               "server.web", "server.web.i18n", "server.web.charts", "server.web.auth", "server.demo",
               "server.processes"}


@pytest.mark.parametrize("source", [s for s in SOURCES if package_of(s) == "hub"])
def test_the_hub_imports_only_the_kernel_and_the_web_parts_it_shares(source):
    """DESIGN §2: the hub uses queuebox (the report definitions are queuebox/figures.py) and the
    web's parts above, never the engine, the centre's store or devices."""
    assert [m for m, _ in imports(ROOT / source)
            if top(m) in {"server", "device", "display"} and m not in HUB_MAY_USE] == []


@pytest.mark.parametrize("source", PURE_MODULES)
def test_pure_modules_import_only_stdlib_and_queuebox(source):
    path = ROOT / source
    if not path.exists():
        pytest.skip(f"{source} is not written yet")
    allowed = set(sys.stdlib_module_names) | {"queuebox"} | PURE_EXTRA.get(source, set())
    assert sorted({m for m, _ in imports(path) if top(m) not in allowed}) == []


# --- the command line (DESIGN.md §6) --------------------------------------------------

def subcommands() -> list[str]:
    parser = build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(name for action in actions for name in action.choices)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "queuebox.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def test_core_subcommands_exist():
    assert {"server", "migrate", "check-config"} <= set(subcommands())


@pytest.mark.parametrize("command", subcommands())
def test_every_subcommand_answers_help(command):
    result = run_cli(command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: queuebox {command}")


@pytest.mark.parametrize("command", subcommands())
def test_every_subcommand_takes_a_config_file(command):
    assert "--config FILE" in run_cli(command, "--help").stdout


@pytest.mark.parametrize("command", subcommands())
def test_main_help_lists_every_subcommand(command):
    result = run_cli("--help")
    assert result.returncode == 0, result.stderr
    assert re.search(rf"^\s+{re.escape(command)}\s+\S", result.stdout, re.M), result.stdout


def test_no_subcommand_is_a_usage_error():
    result = run_cli()
    assert result.returncode == 2
    assert "usage: queuebox" in result.stderr


def test_building_the_cli_imports_no_third_party_module():
    """A kiosk Pi has no server extras installed: `queuebox kiosk --help` must not need them."""
    code = ("import sys; before = set(sys.modules); from queuebox.cli import build_parser; build_parser(); "
            "print('\\n'.join(sorted(set(sys.modules) - before)))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    heavy = [m for m in loaded if m.split(".")[0] in {"sqlite_utils", "flask", "werkzeug", "pygame", "gpiozero",
                                                      "escpos", "PIL", "paho", "babel", "waitress"}]
    assert heavy == []


def test_cli_is_the_queuebox_console_script():
    assert SCRIPTS.get("queuebox") == "queuebox.cli:main"


# --- systemd units --------------------------------------------------------------------

def exec_start_programs(unit_text: str) -> list[str]:
    """The program names of a unit's ExecStart= lines; an empty ExecStart= (a reset) is skipped."""
    programs = []
    for match in re.finditer(r"^\s*ExecStart\s*=\s*(.*)$", unit_text, re.M):
        command = match.group(1).strip().lstrip("-@:+!")
        if command:
            programs.append(command.split()[0].rsplit("/", 1)[-1])
    return programs


@pytest.mark.parametrize("text,expected", [
    ("[Service]\nExecStart=/usr/bin/queuebox server --config /etc/queuebox/queuebox.toml\n", ["queuebox"]),
    ("[Service]\nExecStartPre=/bin/true\nExecStart=-queuebox kiosk\n", ["queuebox"]),
    ("[Service]\nExecStart=\nExecStart=/opt/queuebox/venv/bin/queuebox display\n", ["queuebox"]),
    ("[Service]\nExecStart=/usr/sbin/mosquitto -c /etc/mosquitto/mosquitto.conf\n", ["mosquitto"]),
    ("[Unit]\nDescription=no service section\n", []),
])
def test_exec_start_programs_are_read_from_unit_text(text, expected):
    assert exec_start_programs(text) == expected


@pytest.mark.parametrize("unit", UNITS or [
    pytest.param(None, marks=pytest.mark.skip(reason="no systemd unit files under systemd/ yet")),
])
def test_every_systemd_unit_runs_a_console_script(unit):
    programs = exec_start_programs((ROOT / unit).read_text(encoding="utf-8"))
    assert programs, f"{unit} has no ExecStart="
    assert [p for p in programs if p not in SCRIPTS] == [], f"{unit}: console scripts are {sorted(SCRIPTS)}"
