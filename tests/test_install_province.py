"""scripts/install --roles hub (the province's server) and --roles uplink (a centre), into a
temporary root (--prefix) and as a dry run: what it lays out, and that a second run changes nothing."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from queuebox.config import load_config
from tests.hub.test_hub_broker import make_certificates
from tests.test_install import install, ok, snapshot

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> tuple[Path, Path, Path]:
    return make_certificates(tmp_path_factory.mktemp("tls"))


def test_the_hub_plan_names_postgresql_the_broker_and_the_service(tmp_path):
    out = ok(install(tmp_path / "root", "--dry-run", "--roles", "hub"))
    packages = next(line for line in out.splitlines() if "Debian packages:" in line).split(":", 1)[1].split()
    assert {"postgresql", "mosquitto"} <= set(packages)
    for line in ["createuser queuebox-hub", "createdb -O queuebox-hub queuebox_hub",
                 "would need --hub-cert, --hub-key and --hub-ca", "would enable: queuebox-hub.service"]:
        assert line in out, line
    assert not (tmp_path / "root").exists()


def test_a_hub_is_laid_out_with_tls_accounts_and_its_own_config(tmp_path, tls):
    ca, cert, key = tls
    args = ("--roles", "hub", "--hub-cert", str(cert), "--hub-key", str(key), "--hub-ca", str(ca),
            "--centre", "xa-an-phu")
    ok(install(tmp_path, *args))
    etc = tmp_path / "etc/queuebox"
    secrets = tomllib.loads((etc / "hub-broker/secrets.toml").read_text())["passwords"]
    assert set(secrets) == {"hub", "centre-xa-an-phu"}
    written = tomllib.loads((etc / "hub.toml").read_text())
    assert set(written) == {"hub", "site"} and set(written["site"]) == {"timezone", "languages"}  # no centre's
    hub = load_config(etc / "hub.toml", hub=True).hub
    assert (hub.password, hub.username, hub.tls, hub.port) == (secrets["hub"], "hub", True, 8883)
    assert (hub.ca_file, hub.broker_certfile, hub.broker_keyfile) == (
        "/etc/queuebox/hub-ca.pem", "/etc/queuebox/hub-broker/tls/cert.pem", "/etc/queuebox/hub-broker/tls/key.pem")
    assert (etc / "hub.toml").stat().st_mode & 0o777 == 0o640
    assert (etc / "hub-broker/tls/key.pem").stat().st_mode & 0o777 == 0o640
    assert (etc / "hub-broker/tls/key.pem").read_bytes() == key.read_bytes()
    dropin = (tmp_path / "etc/mosquitto/conf.d/queuebox-hub.conf").read_text()
    for line in ("listener 8883", "certfile /etc/queuebox/hub-broker/tls/cert.pem", "allow_anonymous false",
                 "acl_file /etc/queuebox/hub-broker/acl"):
        assert line + "\n" in dropin
    assert str(tmp_path) not in dropin
    assert "user centre-xa-an-phu" in (etc / "hub-broker/acl").read_text()
    assert "queuebox-hub" in (tmp_path / "etc/sysusers.d/queuebox.conf").read_text()
    assert (tmp_path / "etc/systemd/system/queuebox-hub.service").exists()

    before = snapshot(tmp_path)
    ok(install(tmp_path, "--roles", "hub"))  # again, certificates and centres already there
    assert snapshot(tmp_path) == before
    text = (etc / "hub.toml").read_text().replace("web_port = 8090", "web_port = 8091")
    (etc / "hub.toml").write_text(text)
    ok(install(tmp_path, "--roles", "hub", "--hub-host", "hub.example.vn"))  # an operator's edit is kept
    hub = load_config(etc / "hub.toml", hub=True).hub
    assert (hub.web_port, hub.host, hub.password) == (8091, "hub.example.vn", secrets["hub"])
    ok(install(tmp_path, "--roles", "hub", "--centre", "phuong-1"))  # a centre more: the others keep theirs
    again = tomllib.loads((etc / "hub-broker/secrets.toml").read_text())["passwords"]
    assert again["hub"] == secrets["hub"] and again["centre-xa-an-phu"] == secrets["centre-xa-an-phu"]
    assert "centre-phuong-1" in again


def test_a_hub_without_its_certificate_is_refused(tmp_path):
    result = install(tmp_path, "--roles", "hub")
    assert result.returncode != 0 and "--hub-cert FILE --hub-key FILE --hub-ca FILE" in result.stderr


def test_a_centres_uplink_gets_its_account_the_ca_and_its_service(tmp_path, tls):
    ca, _, _ = tls
    password = tmp_path / "uplink-password"
    password.write_text("từ-tỉnh-42\n", encoding="utf-8")
    root = tmp_path / "root"
    out = ok(install(root, "--roles", "server,uplink", "--hub-host", "hub.example.vn", "--hub-ca", str(ca),
                     "--hub-password-file", str(password)))
    assert "would enable: queuebox-server.service queuebox-uplink.service queuebox-backup.timer" in out
    config = load_config(root / "etc/queuebox/queuebox.toml")
    u = config.uplink
    assert (u.host, u.port, u.tls, u.ca_file) == ("hub.example.vn", 8883, True, "/etc/queuebox/hub-ca.pem")
    assert (u.username, u.password) == (f"centre-{config.site.id}", "từ-tỉnh-42")
    assert config.mqtt.username == "server"  # the centre's own broker account is kept
    assert (root / "etc/queuebox/hub-ca.pem").read_bytes() == ca.read_bytes()
    before = snapshot(root)
    ok(install(root, "--roles", "server,uplink"))
    assert snapshot(root) == before


def test_an_uplink_without_host_or_password_is_told_what_is_missing(tmp_path):
    result = install(tmp_path, "--roles", "server,uplink")
    assert result.returncode == 0
    assert "give --hub-host NAME" in result.stderr and "give --hub-password-file FILE" in result.stderr


def test_hub_options_without_a_hub_role_are_refused(tmp_path, tls):
    _, cert, key = tls
    result = install(tmp_path, "--roles", "server", "--hub-cert", str(cert), "--hub-key", str(key))
    assert result.returncode != 0 and "belong to --roles hub or uplink" in result.stderr
