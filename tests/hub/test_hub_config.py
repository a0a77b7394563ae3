"""A province hub's configuration file: [hub] alone (config/hub.example.toml), no centre's [site],
loaded by the hub's commands and refused clearly when [hub] lacks what the hub needs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from queuebox.cli import main
from queuebox.config import HUB_SITE, config_from_dict, load_config
from queuebox.errors import ConfigError
from tests.hub.site import wait_for
from tests.mqtt_broker import Broker

ROOT = Path(__file__).resolve().parents[2]
HUB_EXAMPLE = ROOT / "config" / "hub.example.toml"


def hub_file(tmp_path: Path, **keys: object) -> Path:
    """The hub example with some [hub] keys changed (strings and numbers)."""
    text = HUB_EXAMPLE.read_text(encoding="utf-8")
    for key, value in keys.items():
        line = next(line for line in text.splitlines() if line.startswith(f"{key} = "))
        text = text.replace(line + "\n", f"{key} = {value!r}\n".replace("'", '"'), 1)
    path = tmp_path / "hub.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_hub_example_has_no_centre_and_loads_as_a_hubs_config():
    config = load_config(HUB_EXAMPLE, hub=True)
    assert (config.site.id, config.site.name) == (HUB_SITE["id"], HUB_SITE["name"])
    assert (config.hub.database, config.hub.root, config.zone.key) == ("dbname=queuebox_hub", "province",
                                                                       "Asia/Ho_Chi_Minh")
    assert config.services == () and config.counters == ()


def test_a_hub_config_may_set_the_dashboards_time_zone_and_languages_in_site():
    config = config_from_dict({"hub": {"database": "dbname=h"}, "site": {"timezone": "Asia/Bangkok",
                                                                         "languages": ["en"]}}, hub=True)
    assert (config.site.timezone, config.site.languages, config.site.id) == ("Asia/Bangkok", ("en",), "hub")


def test_a_centres_full_config_still_loads_as_a_hubs():
    config = load_config(ROOT / "config" / "queuebox.example.toml", hub=True)
    assert config.site.id == "xa-an-phu" and config.hub.database == "dbname=queuebox_hub"


def test_a_hubs_config_is_not_a_centres():
    with pytest.raises(ConfigError) as refused:
        load_config(HUB_EXAMPLE)
    assert refused.value.problems == ["site.id: required key is missing", "site.name: required key is missing"]


@pytest.mark.parametrize("raw, problem", [
    ({"site": {"timezone": "Asia/Ho_Chi_Minh"}},
     "hub: a province hub's configuration needs its [hub] table (see config/hub.example.toml)"),
    ({"hub": {"host": "hub.example.vn"}},
     'hub.database: required in a province hub\'s configuration: the PostgreSQL connection string, '
     'e.g. "dbname=queuebox_hub"'),
    ({"hub": "dbname=h"}, "hub: must be a table"),
])
def test_a_hub_config_without_what_the_hub_needs_is_refused_clearly(raw, problem):
    with pytest.raises(ConfigError) as refused:
        config_from_dict(raw, hub=True)
    assert refused.value.problems == [problem]


def test_other_problems_are_reported_with_the_missing_hub_keys():
    with pytest.raises(ConfigError) as refused:
        config_from_dict({"hub": {"port": "x"}, "site": {"timezone": "Mars/Olympus"}}, hub=True)
    assert len(refused.value.problems) == 3
    assert refused.value.problems[0].startswith("hub.database: required")


def test_check_config_hub_accepts_the_hub_example(capsys):
    assert main(["check-config", "--hub", str(HUB_EXAMPLE)]) == 0
    out, err = capsys.readouterr()
    assert "OK — province hub: broker localhost:1883 (root province)" in out and err == ""
    assert main(["check-config", str(HUB_EXAMPLE)]) == 1  # as a centre's, it lacks the site's id and name
    assert "site.id: required key is missing" in capsys.readouterr().err


@pytest.mark.parametrize("command, read", [
    (["hub-user", "list"], "/etc/queuebox/hub.toml"),
    (["hub-web"], "/etc/queuebox/hub.toml"),
    (["check-config", "--hub"], "/etc/queuebox/hub.toml"),
    (["check-config"], "/etc/queuebox/queuebox.toml"),
])
def test_without_config_the_hubs_commands_read_the_hubs_own_file(command, read):
    """The installer writes a hub's settings to hub.toml: a province's server has no queuebox.toml.
    (Run where neither file exists, so the error names the file the command looked for.)"""
    assert not Path(read).exists()
    env = {k: v for k, v in os.environ.items() if k != "QUEUEBOX_CONFIG"}
    ran = subprocess.run([sys.executable, "-m", "queuebox.cli", *command], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert ran.returncode == 1
    assert f"file not found: {read}" in ran.stderr


def test_hub_user_list_runs_on_a_config_without_a_site(tmp_path, hub_dsn):
    path = hub_file(tmp_path, database=hub_dsn)
    listed = subprocess.run([sys.executable, "-m", "queuebox.cli", "hub-user", "--config", str(path), "list"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == ["login", "role", "state"]  # no account yet


def test_queuebox_hub_starts_on_a_config_without_a_site(tmp_path, hub_dsn, mosquitto_path):
    broker = Broker(tmp_path / "broker").start()
    path = hub_file(tmp_path, database=hub_dsn, host=broker.host, port=broker.port, username="")
    log = tmp_path / "hub.log"
    with open(log, "wb") as out:
        hub = subprocess.Popen([sys.executable, "-m", "queuebox.cli", "hub", "--config", str(path)], cwd=ROOT,
                               stdout=out, stderr=subprocess.STDOUT)
    try:
        assert wait_for(lambda: "hub on " in log.read_text() or hub.poll() is not None), log.read_text()
        assert hub.poll() is None, log.read_text()  # running, subscribed to the centres' topics
    finally:
        hub.terminate()
        hub.wait(10)
        broker.stop()
