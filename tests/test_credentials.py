"""`server/credentials.py` and `queuebox mqtt-credentials`: accounts, files, modes, re-runs.
The broker's side of the same files is in tests/test_mqtt_acl.py."""

from __future__ import annotations

import grp
import os
import re
import shutil
import stat
from pathlib import Path

import pytest

from queuebox.cli import main
from queuebox.errors import ConfigError
from server.credentials import (Account, CredentialsError, accounts, acl_rules, acl_text, read_secrets,
                                write_credentials)
from tests.factories import make_config

pytestmark = pytest.mark.skipif(shutil.which("mosquitto_passwd") is None and not os.environ.get("CI"),
                                reason="mosquitto_passwd is not installed (apt install mosquitto)")

EXAMPLE_CONFIG = Path(__file__).resolve().parents[1] / "config" / "queuebox.example.toml"
CONFIG = make_config(devices={"kiosks": ["k1", "k2"], "displays": ["d1"]})  # counters 1, 2, 3
NAMES = ["server", "kiosk-k1", "kiosk-k2", "counter-1", "counter-2", "counter-3", "display-d1", "uplink"]
FILES = ["acl", "mosquitto.conf", "passwd", "secrets.toml"]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def group_can_be_given(name: str = "mosquitto") -> bool:
    try:
        gid = grp.getgrnam(name).gr_gid
    except KeyError:
        return False
    return os.geteuid() == 0 or gid in os.getgroups()


# --- accounts and ACL rules ---------------------------------------------------------------

def test_accounts_are_server_kiosks_counters_displays():
    assert [a.username for a in accounts(CONFIG)] == NAMES


def test_devices_default_to_one_kiosk_and_one_display():
    config = make_config()
    assert (config.devices.kiosks, config.devices.displays) == (("kiosk1",), ("display1",))
    assert [a.username for a in accounts(config)] == ["server", "kiosk-kiosk1", "counter-1", "counter-2",
                                                      "counter-3", "display-display1", "uplink"]


@pytest.mark.parametrize("devices,fragment", [
    ({"kiosks": ["kiosk 1"]}, "devices.kiosks[0]: 'kiosk 1' must be 1-16 letters"),
    ({"kiosks": ["k/1"]}, "devices.kiosks[0]: 'k/1' must be 1-16 letters"),
    ({"displays": ["d#"]}, "devices.displays[0]: 'd#' must be 1-16 letters"),
    ({"displays": ["d1", "d1"]}, "devices.displays[1]: 'd1' is listed twice"),
    ({"kiosks": "k1"}, "devices.kiosks: must be a list"),
    ({"kioks": ["k1"]}, "devices.kioks: unknown key (did you mean 'kiosks'?)"),
])
def test_bad_device_ids_are_refused(devices, fragment):
    with pytest.raises(ConfigError) as info:
        make_config(devices=devices)
    problems = info.value.problems
    assert len(problems) == 1 and problems[0].startswith(fragment), problems


R = "queuebox/site/"
RULES = [
    (Account("server"), [("readwrite", R + "#")]),
    (Account("kiosk", "k1"), [("write", R + "kiosk/k1/take"), ("read", R + "kiosk/k1/reply"), ("read", R + "board"),
                              ("read", R + "events"), ("read", R + "services"), ("read", R + "procedures/+"),
                              ("read", R + "kiosk/k1/simulate"),
                              ("readwrite", R + "status/kiosk-k1")]),
    (Account("counter", "3"), [("write", R + "counter/3/command"), ("write", R + "counter/3/rating"),
                               ("read", R + "counter/3/reply"), ("read", R + "counter/3/state"),
                               ("read", R + "board"), ("readwrite", R + "status/counter-3")]),
    (Account("display", "d1"), [("read", R + "board"), ("read", R + "events"), ("read", R + "services"),
                                ("read", R + "procedures/+"), ("read", R + "counter/+/state"), ("read", R + "voice"),
                                ("readwrite", R + "status/display-d1")]),
    (Account("tool", "watch"), [("readwrite", R + "#")]),
]


@pytest.mark.parametrize("account,rules", RULES, ids=[a.username for a, _ in RULES])
def test_acl_rules_of_each_kind(account, rules):
    assert acl_rules(account, R) == rules


def test_only_the_server_may_write_board_events_replies_and_states():
    text = acl_text(CONFIG)
    blocks = dict(re.findall(r"^user (\S+)\n((?:topic .*\n?)+)", text, re.M))
    assert sorted(blocks) == sorted(NAMES)
    for user, block in blocks.items():
        for access, topic in re.findall(r"^topic (\S+) (\S+)$", block, re.M):
            assert topic.startswith("queuebox/test/"), topic
            server_only = re.search(r"/(board|events|reply|state)$", topic)
            if user != "server" and server_only:
                assert access == "read", (user, access, topic)


def test_acl_uses_the_configured_root_and_site():
    text = acl_text(make_config(mqtt={"root": "centre/qb"}))
    assert "user server\ntopic readwrite centre/qb/test/#\n" in text


@pytest.mark.parametrize("root", ["", "a/", "/a", "a//b", "a/#", "a/+/b", "a b"])
def test_a_root_unfit_for_topics_is_refused_before_writing(tmp_path, root):
    with pytest.raises(CredentialsError, match="mqtt.root"):
        write_credentials(make_config(mqtt={"root": root}), tmp_path / "out")
    assert not (tmp_path / "out").exists()


# --- the files -------------------------------------------------------------------------------

def test_writes_four_files_and_nothing_else(tmp_path):
    write_credentials(CONFIG, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == FILES  # no temp file or plain-text copy left


def test_secrets_hold_one_fresh_password_per_account(tmp_path):
    write_credentials(CONFIG, tmp_path)
    passwords = read_secrets(tmp_path / "secrets.toml")
    assert list(passwords) == NAMES
    assert len(set(passwords.values())) == len(NAMES)
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{24}", pw) for pw in passwords.values())  # token_urlsafe(18)


def test_passwd_is_hashed_by_mosquitto_passwd(tmp_path):
    write_credentials(CONFIG, tmp_path)
    passwords = read_secrets(tmp_path / "secrets.toml")
    lines = (tmp_path / "passwd").read_text().splitlines()
    assert [line.split(":", 1)[0] for line in lines] == NAMES
    assert all(re.fullmatch(r"[\w-]+:\$7\$\d+\$\S+", line) for line in lines), lines  # sha512-pbkdf2
    assert not any(pw in (tmp_path / "passwd").read_text() for pw in passwords.values())


@pytest.mark.parametrize("umask", [0o077, 0o000])
def test_file_modes_do_not_depend_on_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        write_credentials(CONFIG, tmp_path, group="no-such-group-here")
    finally:
        os.umask(old)
    assert {p.name: mode(p) for p in tmp_path.iterdir()} == {
        "secrets.toml": 0o600, "passwd": 0o600, "acl": 0o600, "mosquitto.conf": 0o644}


@pytest.mark.skipif(not group_can_be_given(), reason="needs the group mosquitto and the right to give files to it")
def test_passwd_and_acl_are_given_to_the_broker_group(tmp_path):
    written = write_credentials(CONFIG, tmp_path)
    for name in ("passwd", "acl"):
        path = tmp_path / name
        assert (mode(path), grp.getgrgid(path.stat().st_gid).gr_name) == (0o640, "mosquitto"), name
    assert mode(tmp_path / "secrets.toml") == 0o600
    assert written.warnings == []


def test_without_the_group_files_stay_private_and_a_warning_says_so(tmp_path):
    written = write_credentials(CONFIG, tmp_path, group="no-such-group-here")
    assert [(p.name, m, g) for p, m, g in written.files] == [
        ("secrets.toml", 0o600, ""), ("passwd", 0o600, ""), ("acl", 0o600, ""), ("mosquitto.conf", 0o644, "")]
    assert len(written.warnings) == 2 and all("'no-such-group-here'" in w for w in written.warnings)


def test_conf_snippet_names_the_files_by_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_credentials(CONFIG, "out")
    lines = (tmp_path / "out" / "mosquitto.conf").read_text().splitlines()
    settings = dict(line.split(" ", 1) for line in lines if line and not line.startswith("#"))
    assert settings == {
        "listener": "1883", "allow_anonymous": "false",
        "password_file": str(tmp_path / "out" / "passwd"), "acl_file": str(tmp_path / "out" / "acl"),
        "persistence": "true", "autosave_interval": "60", "max_queued_messages": "10000",
        "set_tcp_nodelay": "true",
        "max_inflight_messages": "20", "persistent_client_expiration": "7d",
        "use_username_as_clientid": "true", "max_packet_size": "8192",
    }


def test_conf_snippet_listens_on_the_configured_port(tmp_path):
    write_credentials(make_config(mqtt={"port": 8883}), tmp_path)
    assert "\nlistener 8883\n" in (tmp_path / "mosquitto.conf").read_text()


# --- re-runs -----------------------------------------------------------------------------------

def test_rerun_changes_no_password(tmp_path):
    first = write_credentials(CONFIG, tmp_path)
    before = read_secrets(tmp_path / "secrets.toml")
    again = write_credentials(CONFIG, tmp_path)
    assert read_secrets(tmp_path / "secrets.toml") == before
    assert (first.new, first.kept) == (NAMES, [])
    assert (again.new, again.kept, again.dropped) == ([], NAMES, [])


def test_rerun_adds_only_the_missing_accounts_and_drops_removed_ones(tmp_path):
    write_credentials(CONFIG, tmp_path)
    before = read_secrets(tmp_path / "secrets.toml")
    changed = make_config(devices={"kiosks": ["k1", "k3"], "displays": ["d1"]})
    written = write_credentials(changed, tmp_path)
    after = read_secrets(tmp_path / "secrets.toml")
    assert (written.new, written.dropped) == (["kiosk-k3"], ["kiosk-k2"])
    assert {k: v for k, v in after.items() if k != "kiosk-k3"} == {k: v for k, v in before.items() if k != "kiosk-k2"}
    for name in ("passwd", "acl"):
        text = (tmp_path / name).read_text()
        assert "kiosk-k3" in text and "kiosk-k2" not in text, name


def test_rerun_keeps_a_password_edited_by_hand(tmp_path):
    write_credentials(CONFIG, tmp_path)
    path = tmp_path / "secrets.toml"
    path.write_text(re.sub(r'^"counter-2" = .*$', '"counter-2" = "chosen-by-hand"', path.read_text(), flags=re.M))
    write_credentials(CONFIG, tmp_path)
    assert read_secrets(path)["counter-2"] == "chosen-by-hand"


@pytest.mark.parametrize("content,fragment", [
    ("[passwords\n", "cannot read"),
    ("[passwords]\nserver = 3\n", "must map account names"),
    ('passwords = "x"\n', "must map account names"),
    ('[passwords]\nserver = "two\\nlines"\n', "must map account names"),
])
def test_a_broken_secrets_file_is_not_overwritten(tmp_path, content, fragment):
    (tmp_path / "secrets.toml").write_text(content)
    with pytest.raises(CredentialsError, match=fragment):
        write_credentials(CONFIG, tmp_path)
    assert (tmp_path / "secrets.toml").read_text() == content


def test_a_failing_mosquitto_passwd_leaves_the_old_passwd(tmp_path):
    write_credentials(CONFIG, tmp_path)
    before = (tmp_path / "passwd").read_text()
    with pytest.raises(CredentialsError, match="cannot run"):
        write_credentials(CONFIG, tmp_path, mosquitto_passwd=str(tmp_path / "no-such-tool"))
    assert (tmp_path / "passwd").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == FILES


# --- queuebox mqtt-credentials -------------------------------------------------------------

def test_cli_writes_the_files_and_never_prints_a_password(tmp_path, capsys):
    assert main(["mqtt-credentials", "--config", str(EXAMPLE_CONFIG), "--out", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    passwords = read_secrets(tmp_path / "secrets.toml")
    assert len(passwords) == 10  # server, kiosk1, counters 1-6, display1, uplink
    for name in FILES:
        assert f"wrote {tmp_path / name} (mode " in out
    assert "10 new" in out and "kiosk-kiosk1" in out
    assert not any(pw in out + err for pw in passwords.values())


def test_cli_rerun_reports_every_password_kept(tmp_path, capsys):
    args = ["mqtt-credentials", "--config", str(EXAMPLE_CONFIG), "--out", str(tmp_path)]
    main(args)
    before = read_secrets(tmp_path / "secrets.toml")
    capsys.readouterr()
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "accounts: 10 (10 kept their password, 0 new)" in out and "new passwords" not in out
    assert read_secrets(tmp_path / "secrets.toml") == before


def test_cli_warns_when_the_group_cannot_be_given(tmp_path, capsys):
    assert main(["mqtt-credentials", "--config", str(EXAMPLE_CONFIG), "--out", str(tmp_path),
                 "--group", "no-such-group-here"]) == 0
    out, err = capsys.readouterr()
    assert f"wrote {tmp_path / 'passwd'} (mode 0600)" in out
    assert err.count("warning: ") == 2


def test_cli_reports_a_credentials_error(tmp_path, capsys):
    (tmp_path / "secrets.toml").write_text("[passwords\n")
    assert main(["mqtt-credentials", "--config", str(EXAMPLE_CONFIG), "--out", str(tmp_path)]) == 1
    assert "queuebox: cannot read" in capsys.readouterr().err
