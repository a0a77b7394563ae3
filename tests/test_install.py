"""scripts/install into a temporary root (--prefix): the plan, the layout, idempotence, uninstall,
and a real Mosquitto reading the drop-in and the accounts it wrote."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from queuebox.bus import close_socket
from queuebox.config import load_config
from tests.mqtt_broker import find_mosquitto, free_port

ROOT = Path(__file__).resolve().parent.parent
INSTALL = ROOT / "scripts" / "install"
EXAMPLE = ROOT / "config" / "queuebox.example.toml"
ALL = "server,kiosk,display,keypad"
UNITS = ["queuebox-server.service", "queuebox-kiosk.service", "queuebox-display.service", "queuebox-keypad.service",
         "queuebox-backup.service", "queuebox-backup.timer"]

spec = importlib.util.spec_from_file_location("install_helper", ROOT / "scripts" / "install_helper.py")
assert spec and spec.loader
helper = importlib.util.module_from_spec(spec)
spec.loader.exec_module(helper)


def install(prefix: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the installer into `prefix`; --no-venv unless asked otherwise: the checks use this
    checkout's `queuebox` (this venv's bin is put first on PATH)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DESTDIR", "QUEUEBOX_INSTALL_SKIP_APT")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    if "--venv" in args:
        args = tuple(a for a in args if a != "--venv")
    else:
        args = ("--no-venv", *args)
    return subprocess.run([str(INSTALL), "--prefix", str(prefix), *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def snapshot(prefix: Path) -> dict[str, tuple[str, int, int]]:
    """Every file under `prefix`: digest, mode, modification time."""
    found = {}
    for path in sorted(prefix.rglob("*")):
        if path.is_file() and not path.is_symlink():
            info = path.stat()
            found[str(path.relative_to(prefix))] = (hashlib.sha256(path.read_bytes()).hexdigest(), info.st_mode,
                                                    info.st_mtime_ns)
    return found


def edited(text: str, old: str, new: str) -> str:
    """`text` with its first `old` replaced; fails if the example config no longer has `old`."""
    assert old in text, f"the example config has no {old!r} any more"
    return text.replace(old, new, 1)


def secrets(prefix: Path) -> dict[str, str]:
    return tomllib.loads((prefix / "etc/queuebox/mqtt/secrets.toml").read_text())["passwords"]


def mqtt_of(path: Path) -> tuple[str, str]:
    mqtt = tomllib.loads(path.read_text())["mqtt"]
    return mqtt["username"], mqtt["password"]


# --- the plan ---------------------------------------------------------------------------

def test_dry_run_prints_the_plan_and_changes_nothing(tmp_path):
    prefix = tmp_path / "root"
    out = ok(install(prefix, "--dry-run", "--roles", "server,kiosk"))
    assert not prefix.exists()
    for line in [
        "dry run: nothing is changed",
        f"would write {prefix}/etc/queuebox/queuebox.toml",
        f"mqtt-credentials --config {prefix}/etc/queuebox/queuebox.toml --out {prefix}/etc/queuebox/mqtt",
        f"would write {prefix}/etc/udev/rules.d/99-queuebox-printer.rules",
        f"would write {prefix}/etc/systemd/system/queuebox-server.service",
        "would enable: queuebox-server.service queuebox-kiosk.service queuebox-backup.timer",
        "http://localhost:8080/",
        "queuebox user add admin --role admin",
    ]:
        assert line in out, line


def test_a_display_gets_what_full_screen_without_a_desktop_loads(tmp_path):
    from display.main import SCREEN_LIBRARIES
    out = ok(install(tmp_path / "root", "--dry-run", "--roles", "display"))
    packages = next(line for line in out.splitlines() if "Debian packages:" in line).split(":", 1)[1].split()
    assert set(SCREEN_LIBRARIES.values()) | {"alsa-utils", "espeak-ng", "libegl-mesa0"} <= set(packages)


def test_dry_run_over_an_installation_changes_nothing(tmp_path):
    ok(install(tmp_path, "--roles", ALL))
    before = snapshot(tmp_path)
    out = ok(install(tmp_path, "--dry-run"))
    assert snapshot(tmp_path) == before
    assert "would write" not in out and "would run" not in out and "would make" not in out


@pytest.mark.parametrize("args, message", [
    (("--roles", "server,printer"), "unknown role 'printer'"),
    (("--wheels", "/nonexistent"), "--wheels: no folder"),
    (("--mqtt-secrets", "/nonexistent"), "--mqtt-secrets: no file"),
    (("--frobnicate",), "unknown option --frobnicate"),
])
def test_bad_options_are_refused(tmp_path, args, message):
    result = install(tmp_path, *args)
    assert result.returncode != 0 and message in result.stderr
    assert not any(tmp_path.iterdir())


# --- a run into a prefix ------------------------------------------------------------------

def test_everything_is_laid_out_for_all_roles(tmp_path):
    out = ok(install(tmp_path, "--roles", ALL))
    etc = tmp_path / "etc"
    for unit in UNITS:
        assert (etc / "systemd/system" / unit).read_bytes() == (ROOT / "systemd" / unit).read_bytes()
    assert (etc / "sysusers.d/queuebox.conf").read_bytes() == (ROOT / "systemd/sysusers.d/queuebox.conf").read_bytes()
    assert (etc / "tmpfiles.d/queuebox.conf").read_bytes() == (ROOT / "systemd/tmpfiles.d/queuebox.conf").read_bytes()
    assert (tmp_path / "var/lib/queuebox/backups").is_dir()
    web_key = tmp_path / "var/lib/queuebox/web-secret.key"  # server.secret_key_file's default place
    assert web_key.stat().st_mode & 0o777 == 0o600 and len(web_key.read_text().strip()) == 64
    assert (tmp_path / "opt/queuebox/docs/install.md").is_file()
    assert os.access(tmp_path / "usr/local/bin/queuebox", os.X_OK)
    assert "SystemMaxUse=" in (etc / "systemd/journald.conf.d/queuebox.conf").read_text()
    assert ('SUBSYSTEM=="usb", ATTRS{idVendor}=="0416", ATTRS{idProduct}=="5011", GROUP="lp", MODE="0660"'
            in (etc / "udev/rules.d/99-queuebox-printer.rules").read_text())
    assert 'GROUP="gpio"' in (etc / "udev/rules.d/99-queuebox-gpio.rules").read_text()

    dropin = (etc / "mosquitto/conf.d/queuebox.conf").read_text()
    assert "password_file /etc/queuebox/mqtt/passwd\n" in dropin and "acl_file /etc/queuebox/mqtt/acl\n" in dropin
    assert "allow_anonymous false" in dropin and str(tmp_path) not in dropin
    assert (etc / "queuebox/mqtt/secrets.toml").stat().st_mode & 0o777 == 0o600
    passwords = secrets(tmp_path)
    expected = {"queuebox.toml": "server", "kiosk.toml": "kiosk-kiosk1", "display.toml": "display-display1",
                "keypad.toml": "counter-1"}
    for name, account in expected.items():
        path = etc / "queuebox" / name
        assert path.stat().st_mode & 0o777 == 0o640
        assert mqtt_of(path) == (account, passwords[account])
        load_config(path)  # each is a valid configuration
    # the device files are the server's file but for the account
    kiosk = tomllib.loads((etc / "queuebox/kiosk.toml").read_text())
    server = tomllib.loads((etc / "queuebox/queuebox.toml").read_text())
    assert {**kiosk, "mqtt": None} == {**server, "mqtt": None}
    assert (etc / "queuebox/roles").read_text() == f"{ALL}\n"
    assert ("would enable: queuebox-server.service queuebox-kiosk.service queuebox-display.service "
            "queuebox-keypad.service queuebox-backup.timer") in out
    assert out.count(": OK — ") == 4  # the self-check read each config
    assert "Web console:\n    http://localhost:8080/" in out


def test_running_twice_changes_nothing_and_keeps_config_and_passwords(tmp_path):
    ok(install(tmp_path, "--roles", ALL))
    first = snapshot(tmp_path)
    passwords = secrets(tmp_path)
    again = ok(install(tmp_path))
    assert snapshot(tmp_path) == first
    assert "wrote" not in again and "kept" in again

    config = tmp_path / "etc/queuebox/queuebox.toml"
    site_name = tomllib.loads(config.read_text())["site"]["name"]
    config.write_text(edited(config.read_text(), f'name = "{site_name}"', 'name = "Xã Bình An"'))
    out = ok(install(tmp_path))
    assert 'name = "Xã Bình An"' in config.read_text()  # the technician's edit stays
    assert tomllib.loads((tmp_path / "etc/queuebox/kiosk.toml").read_text())["site"]["name"] == "Xã Bình An"
    assert secrets(tmp_path) == passwords
    assert f"wrote {tmp_path}/etc/queuebox/kiosk.toml" in out and "mqtt-credentials" not in out


def test_a_new_device_gets_an_account_and_the_others_keep_theirs(tmp_path):
    ok(install(tmp_path, "--roles", "server"))
    passwords = secrets(tmp_path)
    config = tmp_path / "etc/queuebox/queuebox.toml"
    config.write_text(edited(config.read_text(), 'kiosks = ["kiosk1"]', 'kiosks = ["kiosk1", "kiosk2"]'))
    out = ok(install(tmp_path))
    assert "mqtt-credentials" in out
    now = secrets(tmp_path)
    assert {k: v for k, v in now.items() if k != "kiosk-kiosk2"} == passwords and "kiosk-kiosk2" in now


def test_the_roles_of_the_last_install_are_the_default(tmp_path):
    ok(install(tmp_path, "--roles", "server,display"))
    out = ok(install(tmp_path))
    assert "roles: server,display" in out
    assert not (tmp_path / "etc/queuebox/kiosk.toml").exists()
    assert not (tmp_path / "etc/udev/rules.d/99-queuebox-printer.rules").exists()


def test_a_device_pi_takes_its_account_from_the_servers_secrets(tmp_path):
    server, device = tmp_path / "server", tmp_path / "device"
    ok(install(server, "--roles", "server"))
    (device / "etc/queuebox").mkdir(parents=True)
    shutil.copy(EXAMPLE, device / "etc/queuebox/queuebox.toml")
    ok(install(device, "--roles", "kiosk,keypad", "--mqtt-secrets", str(server / "etc/queuebox/mqtt/secrets.toml")))
    passwords = secrets(server)
    assert mqtt_of(device / "etc/queuebox/kiosk.toml") == ("kiosk-kiosk1", passwords["kiosk-kiosk1"])
    assert mqtt_of(device / "etc/queuebox/keypad.toml") == ("counter-1", passwords["counter-1"])
    assert not (device / "etc/queuebox/mqtt").exists() and not (device / "etc/mosquitto").exists()


def test_without_the_secrets_a_device_pi_is_told_what_is_missing(tmp_path):
    (tmp_path / "etc/queuebox").mkdir(parents=True)
    shutil.copy(EXAMPLE, tmp_path / "etc/queuebox/queuebox.toml")
    result = install(tmp_path, "--roles", "display")
    assert result.returncode == 0, result.stderr
    assert "no password for MQTT account display-display1" in result.stderr and "--mqtt-secrets" in result.stderr


def test_a_printer_that_is_not_usb_gets_no_udev_rule(tmp_path):
    (tmp_path / "etc/queuebox").mkdir(parents=True)
    (tmp_path / "etc/queuebox/queuebox.toml").write_text(edited(EXAMPLE.read_text(), 'kind = "usb"', 'kind = "network"'))
    out = ok(install(tmp_path, "--roles", "server,kiosk"))
    assert "printer.kind is not usb" in out
    assert not (tmp_path / "etc/udev/rules.d/99-queuebox-printer.rules").exists()


def test_uninstall_keeps_the_database_the_backups_and_the_configuration(tmp_path):
    ok(install(tmp_path, "--roles", ALL))
    state = tmp_path / "var/lib/queuebox"
    (state / "queuebox.db").write_bytes(b"SQLite format 3\0 the centre's year")
    (state / "backups/queuebox-20261123-023000.db").write_bytes(b"a backup")
    out = ok(install(tmp_path, "--uninstall"))
    assert (state / "queuebox.db").read_bytes() == b"SQLite format 3\0 the centre's year"
    assert (state / "backups/queuebox-20261123-023000.db").exists()
    assert (tmp_path / "etc/queuebox/queuebox.toml").exists() and (tmp_path / "etc/queuebox/mqtt/secrets.toml").exists()
    for gone in [*(f"etc/systemd/system/{u}" for u in UNITS), "etc/udev/rules.d/99-queuebox-printer.rules",
                 "etc/mosquitto/conf.d/queuebox.conf", "etc/systemd/journald.conf.d/queuebox.conf",
                 "usr/local/bin/queuebox", "opt/queuebox", "etc/sysusers.d/queuebox.conf"]:
        assert not (tmp_path / gone).exists(), gone
    assert "Kept" in out and "the database" in out
    assert ok(install(tmp_path, "--uninstall")).count("removed") == 0  # twice is fine too


# --- the broker reads what was installed ----------------------------------------------------

def mqtt_connect(port: int, username: str, password: str) -> int:
    """CONNACK reason code of an MQTT v5 connection (0: accepted)."""
    import paho.mqtt.client as mqtt

    result: list[int] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"install-test-{username}",
                         protocol=mqtt.MQTTv5)
    client.username_pw_set(username, password)
    client.on_connect = lambda c, userdata, flags, reason, props: result.append(reason.value)
    client.connect("127.0.0.1", port)
    deadline = time.monotonic() + 10
    while not result and time.monotonic() < deadline:
        client.loop(timeout=0.1)
    client.disconnect()
    close_socket(client)
    assert result, "no CONNACK"
    return result[0]


def test_mosquitto_accepts_each_installed_account_with_the_installed_drop_in(tmp_path):
    mosquitto = find_mosquitto()
    if mosquitto is None:
        if os.environ.get("CI"):
            pytest.fail("mosquitto is missing")
        pytest.skip("mosquitto is missing")
    port = free_port()
    (tmp_path / "etc/queuebox").mkdir(parents=True)
    (tmp_path / "etc/queuebox/queuebox.toml").write_text(edited(EXAMPLE.read_text(), "port = 1883", f"port = {port}"))
    ok(install(tmp_path, "--roles", ALL))
    # Debian's mosquitto.conf including the drop-in, as the broker reads them, with their files
    # found under the prefix and the listener on loopback only.
    dropin = (tmp_path / "etc/mosquitto/conf.d/queuebox.conf").read_text()
    assert f"listener {port}\n" in dropin
    (tmp_path / "broker/conf.d").mkdir(parents=True)
    (tmp_path / "broker/conf.d/queuebox.conf").write_text(
        dropin.replace(f"listener {port}\n", f"listener {port} 127.0.0.1\n")
        .replace(" /etc/queuebox/", f" {tmp_path}/etc/queuebox/"))
    debian = Path("/etc/mosquitto/mosquitto.conf")
    main = debian.read_text() if debian.exists() else "persistence true\ninclude_dir /etc/mosquitto/conf.d\n"
    replace = {"pid_file": f"pid_file {tmp_path}/broker/pid",
               "persistence_location": f"persistence_location {tmp_path}/broker/",
               "log_dest": "log_dest stdout", "include_dir": f"include_dir {tmp_path}/broker/conf.d"}
    main = "\n".join(replace.get(line.split(" ", 1)[0], line) for line in main.splitlines())
    conf = tmp_path / "broker/mosquitto.conf"
    conf.write_text(main + "\n" + ("user root\n" if os.geteuid() == 0 else ""))
    with open(tmp_path / "broker.log", "wb") as log:
        broker = subprocess.Popen([mosquitto, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert broker.poll() is None and time.monotonic() < deadline, (tmp_path / "broker.log").read_text()
                time.sleep(0.05)
        for name in ("queuebox.toml", "kiosk.toml", "display.toml", "keypad.toml"):
            username, password = mqtt_of(tmp_path / "etc/queuebox" / name)
            assert mqtt_connect(port, username, password) == 0, name
        assert mqtt_connect(port, "kiosk-kiosk1", "wrong") != 0
    finally:
        broker.terminate()
        broker.wait(timeout=10)


# --- the helper ------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    '[site]\nid = "x"\n\n[mqtt]\n# who\nusername = ""\npassword = ""\nport = 1\n\n[server]\nport = 2\n',
    '[site]\nid = "x"\n[mqtt]\nport = 1\n[server]\nport = 2',  # no keys, no final newline
    '[site]\nid = "x"\n',  # no [mqtt] at all
    '[mqtt]\nusername = "old"  # a comment\npassword = "old"\n[[counters]]\nid = "1"\n',
])
def test_with_account_sets_only_the_two_mqtt_keys(text):
    result = helper.with_account(text, "kiosk-k1", 'p"w\\d', header="made by a test")
    parsed = tomllib.loads(result)
    assert parsed["mqtt"]["username"] == "kiosk-k1" and parsed["mqtt"]["password"] == 'p"w\\d'
    original = tomllib.loads(text)
    original.setdefault("mqtt", {}).update(username="kiosk-k1", password='p"w\\d')
    assert parsed == original
    assert result.startswith("# made by a test\n")
    if "# who" in text:
        assert "# who\n" in result


@pytest.mark.parametrize("role, account", [("server", "server"), ("kiosk", "kiosk-kiosk1"),
                                           ("display", "display-display1"), ("keypad", "counter-1")])
def test_each_role_has_its_account(role, account):
    assert helper.account(role, tomllib.loads(EXAMPLE.read_text())) == account


def test_web_urls_name_every_address_when_listening_on_all():
    config = {"server": {"listen": "0.0.0.0", "port": 8080}}
    assert helper.web_urls(config, ["192.168.1.20", "fe80::1"]) == ["http://192.168.1.20:8080/"]
    assert helper.web_urls(config, []) == ["http://localhost:8080/"]
    assert helper.web_urls({"server": {"listen": "10.0.0.5", "port": 80}}, ["192.168.1.20"]) == ["http://10.0.0.5:80/"]


def test_the_public_listener_is_set_from_the_command_line(tmp_path):
    out = ok(install(tmp_path, "--roles", "server", "--staff-listen", "10.0.0.5", "--public-listen", "192.168.50.1"))
    config = load_config(tmp_path / "etc/queuebox/queuebox.toml")
    assert (config.server.listen, config.server.public_listen) == ("10.0.0.5", "192.168.50.1")
    assert config.server.public_url == "http://192.168.50.1:8081"  # the tickets' QR codes go to the public side
    assert "public pages only (ticket status): http://192.168.50.1:8081/" in out
    again = ok(install(tmp_path, "--roles", "server", "--dry-run"))  # the next run keeps them
    assert "would write" not in again and "would set" not in again
    ok(install(tmp_path, "--roles", "server", "--public-listen", ""))  # and "" goes back to one listener
    assert load_config(tmp_path / "etc/queuebox/queuebox.toml").server.public_listen == ""


def test_by_default_one_listener_serves_everything_and_the_installer_says_so(tmp_path):
    out = ok(install(tmp_path / "root", "--dry-run", "--roles", "server"))
    assert "web: one listener serves staff and public pages (--public-listen ADDR separates them)" in out
    assert "public pages only" not in out


def test_a_public_listener_on_the_staff_address_is_refused(tmp_path):
    result = install(tmp_path, "--roles", "server", "--staff-listen", "10.0.0.5", "--public-listen", "10.0.0.5")
    assert result.returncode != 0 and "needs another address" in result.stderr
    assert not any(tmp_path.iterdir())


def test_with_listeners_keeps_comments_and_every_other_value():
    text = EXAMPLE.read_text(encoding="utf-8")
    result = helper.with_listeners(text, "10.0.0.5", "192.168.50.1")
    assert "# public_listen: address of a second listener" in result
    assert result.count("\n") == text.count("\n")  # set in place, nothing added or lost


# --- a real venv (slow: pip installs every library) -----------------------------------------------

@pytest.mark.slow
def test_a_full_install_makes_a_working_venv_and_units_systemd_accepts(tmp_path):
    started = time.monotonic()
    out = ok(install(tmp_path, "--venv", "--roles", "server,kiosk", timeout=900))
    took = time.monotonic() - started
    queuebox = tmp_path / "opt/queuebox/venv/bin/queuebox"
    result = subprocess.run([str(queuebox), "check-config", str(tmp_path / "etc/queuebox/queuebox.toml")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "opt/queuebox/venv/.queuebox-stamp").exists()
    imports = subprocess.run([str(tmp_path / "opt/queuebox/venv/bin/python"), "-c",
                              "import server.web, device.kiosk, waitress, escpos, gpiozero"],
                             capture_output=True, text=True, timeout=60)
    assert imports.returncode == 0, imports.stderr
    started = time.monotonic()
    again = ok(install(tmp_path, "--venv"))
    assert "up to date" in again and time.monotonic() - started < took
    # systemd accepts the installed units with the installed program in place
    analyze = shutil.which("systemd-analyze")
    if analyze:
        shutil.copytree("/usr/lib/systemd/system", tmp_path / "usr/lib/systemd/system", symlinks=True)
        for unit in ("queuebox-server.service", "queuebox-kiosk.service", "queuebox-backup.timer"):
            verify = subprocess.run([analyze, "verify", f"--root={tmp_path}", unit], capture_output=True, text=True,
                                    timeout=60)
            assert (verify.returncode, verify.stdout + verify.stderr) == (0, ""), unit
    print(f"full install took {took:.0f} s; second run {time.monotonic() - started:.1f} s\n{out}")
