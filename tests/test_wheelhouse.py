"""scripts/wheelhouse: a complete set of wheels for a 64-bit ARM Pi with Python 3.11, made on
this (x86_64) machine from PyPI, proven complete by resolving the whole installation from the
folder alone (pip --no-index) for that platform."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "wheelhouse"
ARM = ["--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
       "--platform", "manylinux_2_34_aarch64", "--platform", "manylinux_2_28_aarch64",
       "--platform", "manylinux2014_aarch64"]


def run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)


def pinned() -> dict[str, str]:
    """requirements.lock as {normalised name: version}."""
    pins = {}
    for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version.strip()
    return pins


@pytest.mark.parametrize("arch, lgpio", [("aarch64", True), ("x86_64", False)])
def test_the_dry_run_shows_every_step_the_real_run_takes(tmp_path, arch, lgpio):
    done = run("--dry-run", "--arch", arch, "--out", str(tmp_path / "wh"))
    assert done.returncode == 0, done.stderr
    steps = [line for line in done.stdout.splitlines() if line.startswith("[")]
    assert len(steps) == (3 if lgpio else 2)
    assert ("lgpio==0.2.2.0" in steps[-1]) is lgpio
    assert "manylinux_2_34_" + arch in steps[1] and "requirements.lock" in steps[1]
    assert not (tmp_path / "wh").exists()  # a dry run makes nothing


def test_a_bad_role_is_refused_with_the_list_of_roles(tmp_path):
    done = run("--dry-run", "--roles", "server,printer")
    assert done.returncode == 2 and "unknown role(s) printer" in done.stderr and "keypad" in done.stderr


def test_requirements_lock_pins_pip_which_sqlite_utils_pulls_in():
    assert "pip" in pinned()


def test_the_arm_wheelhouse_installs_everything_offline(tmp_path):
    out = tmp_path / "wheelhouse"
    done = run("--out", str(out))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = tmp_path / "report.json"
    resolve = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "install", "--dry-run", "--ignore-installed",
         "--no-index", "--find-links", str(out), *ARM, "--target", str(tmp_path / "target"),
         "--report", str(report), "queuebox[server,kiosk,display,keypad]", "lgpio"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert resolve.returncode == 0, resolve.stderr[-3000:]
    chosen = {item["metadata"]["name"].lower().replace("_", "-"): item["metadata"]["version"]
              for item in json.loads(report.read_text())["install"]}
    assert chosen["lgpio"] == "0.2.2.0", "the empty placeholder lgpio 0.0.0.2 was taken"
    pins = pinned()
    for name in ("pillow", "pygame-ce", "paho-mqtt", "waitress", "gpiozero", "python-escpos", "sqlite-utils", "pip"):
        assert chosen[name] == pins[name], name
    wheels = [p.name for p in out.glob("*.whl")]
    assert not [w for w in wheels if "x86_64" in w], "a wheel for the wrong machine"
    assert any(w.startswith("setuptools-") for w in wheels)  # the installer builds queuebox with it
