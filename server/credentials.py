"""MQTT accounts of a site: passwords, the Mosquitto password file, the ACL, a conf snippet.

One account per process that talks to the broker, named after what it is; the account
name is the MQTT user name (and should be the device's `mqtt.username`):

=====================  ====================================================================
``server``             the queue engine: reads and writes everything under the site root
``kiosk-<id>``         a kiosk of `devices.kiosks`: writes its own ``take``, reads its own
                       ``reply``, ``board`` and ``events``
``counter-<id>``       a counter of `counters` (its keypad or tablet): writes its own
                       ``command`` and ``rating``, reads its own ``reply`` and ``state``, ``board``
``display-<id>``       a display of `devices.displays`: reads ``board``, ``events`` and the counters' states
``tool-<name>``        only when asked for (`write_credentials(tools=…)`): a program beside
                       the server (a test's observer, a bench, a technician's
                       ``mosquitto_sub``) with the server's rights but its own client id
=====================  ====================================================================

The broker binds each client id to its account (``use_username_as_clientid``, see
`BROKER_LIMITS`): a client's id *is* its user name, so no account can connect as another's
client id and take over (or, with a clean start, wipe) its session.

Every account reads and writes its own ``status/<account>`` (online / last will): the
account name, not the bare id, because a kiosk and a counter may both be called "1".
Only the server writes ``board``, ``events``, ``*/reply`` and ``*/state``.

`write_credentials` writes four files into one folder:

- ``secrets.toml`` (0600): the plain passwords, ``[passwords] "kiosk-k1" = "…"``. A re-run
  keeps every existing password, adds the missing accounts, drops those no longer configured;
- ``passwd``: Mosquitto's hashed password file, made by ``mosquitto_passwd -U``;
- ``acl``: the Mosquitto ACL;
- ``mosquitto.conf``: a snippet for ``/etc/mosquitto/conf.d/`` naming the two files.

The files are written by queuebox/broker_files.py (modes, group, atomic replacement).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Sequence

from queuebox.broker_files import (ACL_FILE, BROKER_GROUP, CONF_FILE, PASSWD_FILE, SECRETS_FILE, CredentialsError,
                                   Written, read_secrets, write_broker_files)
from queuebox.config import Config
from queuebox.protocol import MAX_PACKET_SIZE

__all__ = ["ACL_FILE", "BROKER_GROUP", "BROKER_LIMITS", "CONF_FILE", "PASSWD_FILE", "SECRETS_FILE", "Account",
           "CredentialsError", "Written", "accounts", "acl_rules", "acl_text", "conf_text", "read_secrets",
           "secrets_text", "topic_root", "write_credentials"]
_ROOT = re.compile(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*")

Kind = Literal["server", "kiosk", "counter", "display", "uplink", "tool"]
# The broker settings every queuebox broker runs with (the conf snippet, the demo, the tests):
# - each client's id is its user name, so an account cannot take over another's session;
# - no packet larger than the protocol's payload plus headroom for the topic and properties
#   (the broker disconnects the sender before reading the rest), which also bounds every
#   retained message, e.g. on the one status/<account> topic each device may write.
BROKER_LIMITS = (
    "use_username_as_clientid true",
    f"max_packet_size {MAX_PACKET_SIZE}",
)


@dataclass(frozen=True)
class Account:
    """One MQTT account: `username` is the account name, `device` the configured id."""

    kind: Kind
    device: str = ""

    @property
    def username(self) -> str:
        return self.kind if self.kind in ("server", "uplink") else f"{self.kind}-{self.device}"


def accounts(config: Config, tools: Sequence[str] = ()) -> list[Account]:
    """Every account the config asks for: server, kiosks, counters, displays, the uplink, in that order,
    then a ``tool-<name>`` account for each of `tools`."""
    return ([Account("server")]
            + [Account("kiosk", k) for k in config.devices.kiosks]
            + [Account("counter", c.id) for c in config.counters]
            + [Account("display", d) for d in config.devices.displays]
            + [Account("uplink")]
            + [Account("tool", t) for t in tools])


def topic_root(config: Config) -> str:
    """The site's topic root with its trailing slash, e.g. ``queuebox/xa-an-phu/``."""
    root = config.mqtt.root
    if not _ROOT.fullmatch(root):
        raise CredentialsError(f"mqtt.root: {root!r} must be names of letters, digits, - and _ "
                               "separated by single slashes (no wildcards, no leading or trailing slash)")
    return f"{root}/{config.site.id}/"


def acl_rules(account: Account, root: str) -> list[tuple[str, str]]:
    """The (access, topic) lines of one account; access is read, write or readwrite."""
    own_status = ("readwrite", f"{root}status/{account.username}")
    d = account.device
    if account.kind in ("server", "tool"):
        return [("readwrite", f"{root}#")]
    if account.kind == "kiosk":
        return [("write", f"{root}kiosk/{d}/take"), ("read", f"{root}kiosk/{d}/reply"),
                ("read", f"{root}board"), ("read", f"{root}events"), ("read", f"{root}services"),
                ("read", f"{root}procedures/+"),  # the touch kiosk's lookup
                ("read", f"{root}kiosk/{d}/simulate"),  # presses sent by the server account, in simulation
                own_status]
    if account.kind == "uplink":  # the province uplink reads the devices' faults and versions, nothing else
        return [("read", f"{root}status/+"), own_status]
    if account.kind == "counter":
        return [("write", f"{root}counter/{d}/command"), ("write", f"{root}counter/{d}/rating"),
                ("read", f"{root}counter/{d}/reply"), ("read", f"{root}counter/{d}/state"),
                ("read", f"{root}board"), own_status]
    return [("read", f"{root}board"), ("read", f"{root}events"), ("read", f"{root}services"),
            ("read", f"{root}procedures/+"), ("read", f"{root}counter/+/state"),  # a counter display's
            ("read", f"{root}voice"), own_status]  # what display/app.py and display/counter_app.py read


def acl_text(config: Config, tools: Sequence[str] = ()) -> str:
    """The Mosquitto ACL file of the site: one ``user`` block per account."""
    root = topic_root(config)
    lines = [
        f"# Mosquitto ACL of queuebox site {config.site.id!r}, written by `queuebox mqtt-credentials`;",
        "# edit the queuebox config and run it again rather than this file.",
        f"# Topic root {root}. Users: server, kiosk-<id>, counter-<id>, display-<id>.",
        "# Only the server writes board, events, */reply and */state.",
    ]
    for account in accounts(config, tools):
        lines += ["", f"user {account.username}"]
        lines += [f"topic {access} {topic}" for access, topic in acl_rules(account, root)]
    return "\n".join(lines) + "\n"


def conf_text(config: Config, passwd: Path, acl: Path) -> str:
    """A mosquitto.conf snippet (for /etc/mosquitto/conf.d/) using the two files at these paths.

    With `mqtt.broker_certfile` and `mqtt.broker_keyfile` set, the listener speaks TLS only
    (clients then need `mqtt.tls` and `mqtt.ca_file`)."""
    m = config.mqtt
    tls = [f"certfile {m.broker_certfile}", f"keyfile {m.broker_keyfile}", "tls_version tlsv1.2"] \
        if m.broker_certfile else []
    return "\n".join([
        "# queuebox broker settings, written by `queuebox mqtt-credentials`.",
        "# Put it in /etc/mosquitto/conf.d/ (Debian's mosquitto.conf includes that folder).",
        f"listener {config.mqtt.port}",
        *tls,
        "allow_anonymous false",
        f"password_file {passwd}",
        f"acl_file {acl}",
        "persistence true",
        "# Save sessions and retained messages every minute, not only at a clean stop (default 30 min):",
        "# a broker killed or cut from power loses at most a minute of queued messages.",
        "autosave_interval 60",
        "# QoS 1 messages kept per client while it is slow or away (the default 1000 drops bursts).",
        "max_queued_messages 10000",
        "# Send small messages at once (Nagle's algorithm adds ~40 ms to a reply after an ack).",
        "set_tcp_nodelay true",
        "max_inflight_messages 20",
        "# Sessions of devices away for longer than this are forgotten.",
        "persistent_client_expiration 7d",
        "# A client's id is its user name (no account takes over another's session); packets are",
        "# at most the protocol's 4 KiB payload plus headroom (the broker drops a bigger sender).",
        *BROKER_LIMITS,
    ]) + "\n"


def secrets_text(config: Config, passwords: dict[str, str]) -> str:
    lines = [
        f"# MQTT passwords of queuebox site {config.site.id!r}, written by `queuebox mqtt-credentials`.",
        "# Secret: keep mode 0600. A re-run keeps these passwords and adds missing accounts.",
        "# Each device's config takes its own: [mqtt] username = \"<account>\", password = \"<password>\".",
        "[passwords]",
    ]
    lines += [f"{json.dumps(name)} = {json.dumps(pw)}" for name, pw in passwords.items()]
    return "\n".join(lines) + "\n"


def write_credentials(config: Config, out_dir: str | Path, *, group: str = BROKER_GROUP,
                      mosquitto_passwd: str | None = None, tools: Sequence[str] = ()) -> Written:
    """Write secrets.toml, passwd, acl and mosquitto.conf into `out_dir` (made if missing).

    Existing passwords in `out_dir/secrets.toml` are kept; accounts without one get
    ``secrets.token_urlsafe(18)``; accounts no longer in the config are dropped from all
    files. Each file is replaced atomically. `group` is given to passwd and acl (mode 0640)
    when possible, else they stay 0600 and a warning says so. `tools`: names of extra
    ``tool-<name>`` accounts (the server's rights, their own client ids), e.g. for a test's observer.
    """
    topic_root(config)  # raises on a bad mqtt.root before anything is written
    return write_broker_files(out_dir, [a.username for a in accounts(config, tools)],
                              secrets_text=lambda passwords: secrets_text(config, passwords),
                              acl=acl_text(config, tools), conf=lambda passwd, acl: conf_text(config, passwd, acl),
                              group=group, mosquitto_passwd=mosquitto_passwd)
