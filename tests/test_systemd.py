"""The systemd files under systemd/, checked by systemd's own tools in a fake root.

`systemd-analyze verify --root=ROOT` reads the units from ROOT/etc/systemd/system, the
system's own units (sysinit.target, mosquitto.service …) from a copy of this machine's
/usr/lib/systemd/system, and checks that every ExecStart= program exists and is
executable inside ROOT: ROOT/opt/queuebox/venv/bin/queuebox is this checkout's real
`queuebox` console script, copied where scripts/install puts it. Any output fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SYSTEMD = ROOT / "systemd"
UNITS = sorted(p.name for p in SYSTEMD.iterdir() if p.suffix in (".service", ".timer"))
PROCESSES = {"server": set(), "kiosk": {"gpio", "lp", "dialout", "input"}, "display": {"video", "render", "input", "audio"},
             "keypad": {"gpio"}}
# `systemd-analyze security` exposure (0 safest … 10): catches hardening lost by accident.
MAX_EXPOSURE = {"queuebox-server.service": 2.5, "queuebox-backup.service": 2.0}
MAX_DEVICE_EXPOSURE = 4.5  # kiosk, display, keypad keep their devices


def user_of(process: str) -> str:
    """The system user a process runs as: the server `queuebox`, each device its own."""
    return "queuebox" if process == "server" else f"queuebox-{process}"


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is missing (apt install systemd)")
        pytest.skip(f"{name} is missing (apt install systemd)")
    return path


def settings(unit: str) -> dict[str, list[str]]:
    """Every `Key=value` of a unit file, values in order, sections ignored."""
    found: dict[str, list[str]] = {}
    for line in (SYSTEMD / unit).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("root")
    units = root / "etc" / "systemd" / "system"
    units.mkdir(parents=True)
    for unit in UNITS:
        shutil.copy(SYSTEMD / unit, units / unit)
    shutil.copytree("/usr/lib/systemd/system", root / "usr" / "lib" / "systemd" / "system", symlinks=True)
    script = Path(sys.executable).parent / "queuebox"
    assert script.exists(), "the queuebox console script is not installed in this venv (pip install -e .)"
    bin_dir = root / "opt" / "queuebox" / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    shutil.copy2(script, bin_dir / "queuebox")
    return root


def verify(root: Path, unit: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("systemd-analyze"), "verify", f"--root={root}", unit], capture_output=True,
                          text=True, timeout=60)


def test_the_units_are_there():
    assert set(UNITS) == {f"queuebox-{p}.service" for p in PROCESSES} | {"queuebox-backup.service",
                                                                         "queuebox-backup.timer",
                                                                         "queuebox-uplink.service",
                                                                         "queuebox-hub.service"}


def test_the_hub_runs_as_its_own_user_after_postgresql_and_its_broker():
    hub = settings("queuebox-hub.service")
    assert hub["User"] == ["queuebox-hub"] and hub["Restart"] == ["always"]
    assert {"postgresql.service", "mosquitto.service"} <= set(hub["After"][0].split())
    assert hub["ExecStart"] == ["/opt/queuebox/venv/bin/queuebox hub --config /etc/queuebox/hub.toml"]
    assert "ReadWritePaths" not in hub  # it writes nothing on disk: PostgreSQL does


@pytest.mark.parametrize("unit", UNITS)
def test_systemd_analyze_verify_says_nothing(fake_root, unit):
    result = verify(fake_root, unit)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_verify_would_notice_a_mistake(fake_root, tmp_path):
    """The check above is not blind: a misspelt key and a missing program are reported."""
    root = tmp_path / "root"
    shutil.copytree(fake_root, root, symlinks=True)
    unit = root / "etc" / "systemd" / "system" / "queuebox-server.service"
    unit.write_text(unit.read_text(encoding="utf-8").replace("WatchdogSec=", "WatchdogSecs="), encoding="utf-8")
    (root / "opt" / "queuebox" / "venv" / "bin" / "queuebox").unlink()
    result = verify(root, "queuebox-server.service")
    output = result.stdout + result.stderr
    assert "Unknown key 'WatchdogSecs'" in output and "is not executable" in output


@pytest.mark.parametrize("process", sorted(PROCESSES))
def test_each_process_notifies_is_watched_and_always_restarts(process):
    s = settings(f"queuebox-{process}.service")
    assert s["Type"] == ["notify"]
    assert s["WatchdogSec"] == ["30"]
    assert s["Restart"] == ["always"]
    assert s["StartLimitIntervalSec"] == ["0"]
    assert s["User"] == [user_of(process)]
    config = "queuebox" if process == "server" else process
    assert s["ExecStart"] == [f"/opt/queuebox/venv/bin/queuebox {process} --config /etc/queuebox/{config}.toml"]


@pytest.mark.parametrize("process, groups", sorted(PROCESSES.items()))
def test_each_process_gets_only_the_groups_it_needs(process, groups):
    s = settings(f"queuebox-{process}.service")
    assert {g for line in s.get("SupplementaryGroups", []) for g in line.split()} == groups


@pytest.mark.parametrize("process", sorted(PROCESSES))
def test_hardening_keeps_the_devices_of_the_device_processes(process):
    s = settings(f"queuebox-{process}.service")
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp"):
        assert s[key] == ["yes"], key
    assert s["ProtectSystem"] == ["strict"] and s["ReadWritePaths"] == [f"/var/lib/{user_of(process)}"]
    limits_devices = {"PrivateDevices", "DeviceAllow", "DevicePolicy", "ProtectClock"} & set(s)
    assert limits_devices == (set() if PROCESSES[process] else {"PrivateDevices", "ProtectClock"})


def test_the_server_starts_after_the_broker_and_the_network():
    s = settings("queuebox-server.service")
    for key in ("After", "Wants"):
        assert {"mosquitto.service", "network-online.target"} <= set(" ".join(s[key]).split())


def test_the_backup_timer_runs_the_backup_nightly():
    s = settings("queuebox-backup.timer")
    assert s["OnCalendar"] == ["*-*-* 02:30:00"] and s["Persistent"] == ["true"]
    assert settings("queuebox-backup.service")["Type"] == ["oneshot"]
    assert re.fullmatch(r"/opt/queuebox/venv/bin/queuebox backup --config \S+ --keep \d+",
                        settings("queuebox-backup.service")["ExecStart"][0])


@pytest.mark.parametrize("unit", [u for u in UNITS if u.endswith(".service")])
def test_exposure_stays_low(fake_root, unit):
    limit = MAX_EXPOSURE.get(unit, MAX_DEVICE_EXPOSURE)
    result = subprocess.run([tool("systemd-analyze"), "security", "--offline=true", f"--root={fake_root}",
                             "--no-pager", unit], capture_output=True, text=True,
                            timeout=60)
    level = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert level, result.stdout + result.stderr
    assert float(level.group(1)) <= limit


@pytest.fixture
def account_root(tmp_path) -> Path:
    """A root with a copy of this machine's accounts, for sysusers and tmpfiles to work on."""
    etc = tmp_path / "root" / "etc"
    etc.mkdir(parents=True)
    for name in ("passwd", "group", "shadow", "gshadow"):
        if Path("/etc", name).exists():
            shutil.copy(Path("/etc", name), etc / name)
    return tmp_path / "root"


def test_sysusers_makes_the_queuebox_account_and_its_groups(account_root):
    result = subprocess.run([tool("systemd-sysusers"), f"--root={account_root}",
                             str(SYSTEMD / "sysusers.d" / "queuebox.conf")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    users = {line.split(":")[0]: line.split(":") for line in (account_root / "etc" / "passwd").read_text().splitlines()}
    groups = {line.split(":")[0] for line in (account_root / "etc" / "group").read_text().splitlines()}
    for user in [*map(user_of, PROCESSES), "queuebox-hub"]:
        assert users[user][5:] == [f"/var/lib/{user}", "/usr/sbin/nologin"]
        assert int(users[user][2]) < 1000  # a system account
    assert set().union(*PROCESSES.values()) | {"queuebox"} <= groups


@pytest.mark.parametrize("process", sorted(set(PROCESSES) - {"server"}))
def test_a_device_process_cannot_read_the_servers_config(account_root, process):
    """Finding 12 of issue 14: queuebox.toml (root:queuebox 0640, scripts/install) holds the
    server's all-topics MQTT password; a device process runs as a user that is not in group
    queuebox, with its own group for its own config."""
    subprocess.run([tool("systemd-sysusers"), f"--root={account_root}", str(SYSTEMD / "sysusers.d" / "queuebox.conf")],
                   capture_output=True, check=True, timeout=60)
    s = settings(f"queuebox-{process}.service")
    groups = {line.split(":")[0]: line.split(":")[3].split(",")
              for line in (account_root / "etc" / "group").read_text().splitlines()}
    user = s["User"][0]
    memberships = {s["Group"][0], *" ".join(s.get("SupplementaryGroups", [])).split()}
    memberships |= {name for name, members in groups.items() if user in members}
    assert user != "queuebox" and "queuebox" not in memberships
    assert s["Group"] == [user]


def test_tmpfiles_makes_the_state_folders_for_the_queuebox_account(account_root):
    if os.geteuid() != 0:
        pytest.skip("only root can give the folders to another user")
    subprocess.run([tool("systemd-sysusers"), f"--root={account_root}", str(SYSTEMD / "sysusers.d" / "queuebox.conf")],
                   capture_output=True, check=True, timeout=60)
    result = subprocess.run([tool("systemd-tmpfiles"), f"--root={account_root}", "--create",
                             str(SYSTEMD / "tmpfiles.d" / "queuebox.conf")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    uid, gid = next(map(int, line.split(":")[2:4]) for line in (account_root / "etc" / "passwd").read_text()
                    .splitlines() if line.startswith("queuebox:"))
    for folder in ("var/lib/queuebox", "var/lib/queuebox/backups"):
        info = (account_root / folder).stat()
        assert (oct(info.st_mode & 0o777), info.st_uid, info.st_gid) == ("0o750", uid, gid)
