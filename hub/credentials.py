"""MQTT accounts of the province hub's broker: `queuebox hub-credentials`.

=====================  ====================================================================
``hub`` (hub.username) a hub process: reads every centre's ``events``, ``live``, ``setup``
                       and ``restore``; writes every centre's ``ack`` and ``history``. More
                       hub processes each get an account of their own (``--hub NAME``).
``centre-<id>``        one centre's uplink (and its `queuebox restore --from-hub`): writes
                       only its own ``events``, ``live``, ``setup`` and ``restore``; reads only
                       its own ``ack`` and ``history``
=====================  ====================================================================

The topics are those of queuebox/hub_protocol.py under `hub.root`. The centres are those
already in ``secrets.toml`` plus those named with ``--centre``, less those named with
``--remove``: adding a centre is one more run, and every other password stays as it was.
The broker binds each client id to its account, as a centre's broker does, so no centre
can take over another's session.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Sequence

from queuebox.broker_files import BROKER_GROUP, SECRETS_FILE, CredentialsError, Written, read_secrets, write_broker_files
from queuebox.config import Config
from queuebox.hub_protocol import MAX_BATCH_BYTES, HubTopics

CENTRE_PREFIX = "centre-"
# The hub broker's settings: each client's id is its user name; a packet holds a whole batch
# (MAX_BATCH_BYTES compressed) plus room for the topic and properties.
HUB_BROKER_LIMITS = (
    "use_username_as_clientid true",
    f"max_packet_size {MAX_BATCH_BYTES + 4096}",
)


def centre_account(centre: str) -> str:
    """The account name of a centre on the hub broker (its uplink.username)."""
    return CENTRE_PREFIX + centre


def hub_acl_rules(root: str, username: str, hubs: Sequence[str]) -> list[tuple[str, str]]:
    """The (access, topic) lines of one account: a hub's when `username` is in `hubs`, else a centre's."""
    if username in hubs:
        every = HubTopics(root, "+")
        return [("read", every.events), ("read", every.live), ("read", every.setup), ("read", every.restore),
                ("write", every.ack), ("write", every.history)]
    own = HubTopics(root, username.removeprefix(CENTRE_PREFIX))
    return [("write", own.events), ("write", own.live), ("write", own.setup), ("write", own.restore),
            ("read", own.ack), ("read", own.history)]


def hub_acl_text(root: str, hubs: Sequence[str], centres: Sequence[str]) -> str:
    lines = ["# Mosquitto ACL of the province hub broker, written by `queuebox hub-credentials`;",
             "# run it again (--centre ID adds a centre) rather than editing this file.",
             f"# Topic root {root}/centre/<id>/. A centre writes and reads only its own topics."]
    for name in [*hubs, *(centre_account(c) for c in centres)]:
        lines += ["", f"user {name}"]
        lines += [f"topic {access} {topic}" for access, topic in hub_acl_rules(root, name, hubs)]
    return "\n".join(lines) + "\n"


def hub_conf_text(config: Config, passwd: Path, acl: Path) -> str:
    """A mosquitto.conf snippet for the hub broker: one listener on `hub.port`, TLS only when
    `hub.broker_certfile` and `hub.broker_keyfile` are set."""
    h = config.hub
    tls = [f"certfile {h.broker_certfile}", f"keyfile {h.broker_keyfile}", "tls_version tlsv1.2"] \
        if h.broker_certfile else []
    return "\n".join([
        "# queuebox province hub broker, written by `queuebox hub-credentials`.",
        "# Put it in /etc/mosquitto/conf.d/ (Debian's mosquitto.conf includes that folder).",
        f"listener {h.port}",
        *tls,
        "allow_anonymous false",
        f"password_file {passwd}",
        f"acl_file {acl}",
        "persistence true",
        "autosave_interval 60",
        "# Sessions of centres away for longer than this are forgotten (the uplink resumes from its ack anyway).",
        "persistent_client_expiration 30d",
        "max_queued_messages 10000",
        "set_tcp_nodelay true",
        *HUB_BROKER_LIMITS,
    ]) + "\n"


def hub_secrets_text(passwords: dict[str, str]) -> str:
    lines = ["# MQTT passwords of the province hub broker, written by `queuebox hub-credentials`.",
             "# Secret: keep mode 0600. A re-run keeps these passwords; --centre ID adds a centre.",
             "# A centre's config takes its own: [uplink] username = \"centre-<id>\", password = \"…\";",
             "# the hub's: [hub] username, password.",
             "[passwords]"]
    lines += [f"{json.dumps(name)} = {json.dumps(pw)}" for name, pw in passwords.items()]
    return "\n".join(lines) + "\n"


def hub_centres(out_dir: str | Path, add: Iterable[str] = (), remove: Iterable[str] = ()) -> list[str]:
    """The centres that have an account: those in `out_dir`'s secrets, plus `add`, less
    `remove`, sorted; CredentialsError naming a malformed id."""
    known = [name.removeprefix(CENTRE_PREFIX) for name in read_secrets(Path(out_dir) / SECRETS_FILE)
             if name.startswith(CENTRE_PREFIX)]
    for centre in [*add, *remove]:
        try:
            HubTopics("province", centre)
        except ValueError as exc:
            raise CredentialsError(str(exc)) from None
    gone = set(remove)
    return sorted({c for c in [*known, *add] if c not in gone})


def write_hub_credentials(config: Config, out_dir: str | Path, *, centres: Iterable[str] = (),
                          remove: Iterable[str] = (), hubs: Sequence[str] = (), group: str = BROKER_GROUP,
                          mosquitto_passwd: str | None = None) -> tuple[Written, list[str]]:
    """Write secrets.toml, passwd, acl and mosquitto.conf of the hub broker into `out_dir`
    for the hub accounts `hubs` (default: `hub.username`) and the centres (see `hub_centres`).
    Returns what was written and the centres that have an account."""
    try:
        HubTopics(config.hub.root, "+")
    except ValueError as exc:
        raise CredentialsError(f"hub.root: {exc}") from None
    hubs = list(hubs) or [config.hub.username]
    clash = [h for h in hubs if h.startswith(CENTRE_PREFIX)]
    if clash:
        raise CredentialsError(f"hub account {clash[0]!r} must not start with {CENTRE_PREFIX!r} (a centre's)")
    every = hub_centres(out_dir, centres, remove)
    written = write_broker_files(
        out_dir, [*hubs, *(centre_account(c) for c in every)], secrets_text=hub_secrets_text,
        acl=hub_acl_text(config.hub.root, hubs, every), conf=lambda passwd, acl: hub_conf_text(config, passwd, acl),
        group=group, mosquitto_passwd=mosquitto_passwd)
    return written, every
