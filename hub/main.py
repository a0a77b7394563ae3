"""`queuebox hub`: consumes every centre's batches through the shared subscription
`$share/hub/<root>/centre/+/events` (several hub processes share the load), stores each batch
in PostgreSQL in one transaction (hub/ingest.py), then publishes the centre's retained ack;
keeps each centre's retained live summary and setup; answers a rebuilt centre's restore request
(`$share/hub/<root>/centre/+/restore`, one hub process each) with its history (hub/history.py).

A batch that cannot be read is refused: kept whole in `refused_batches`, logged, and answered
with an ack that says so; nothing of it is stored as events. When PostgreSQL is away the batch
is not acknowledged: the uplink sends it again after its `ack_timeout_s`, and this process
reconnects to the database.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import replace
from typing import Any

import psycopg

from hub.history import history_parts
from hub.ingest import ingest, refuse
from hub.schema import migrate
from hub.store import save_live, save_setup
from queuebox.bus import Message
from queuebox.config import Config
from queuebox.hub_link import HubLink
from queuebox.hub_protocol import (HubTopics, ProtocolError, centre_of, decode_batch, decode_restore,
                                   encode_ack, load_small)

logger = logging.getLogger(__name__)
DB_RETRY_S = 1.0


def run_hub(config: Config, *, stop: Any = None) -> int:
    """Run until `stop` (a threading.Event) is set, or forever."""
    h = config.hub
    topics = HubTopics(h.root, "+")
    conn = _connect(h.database, stop)
    if conn is None:
        return 0
    applied = migrate(conn)
    if applied:
        logger.info("hub database: applied %s", ", ".join(applied))
    link = HubLink(h.host, h.port, h.client_id or f"hub-{socket.gethostname()}-{os.getpid()}",
                   username=h.username, password=h.password, tls=h.tls, ca_file=h.ca_file,
                   subscriptions=[topics.shared_events, topics.shared_restore, topics.live, topics.setup])
    link.start()
    logger.info("hub on %s:%d, root %s", h.host, h.port, h.root)
    try:
        while stop is None or not stop.is_set():
            try:
                item = link.inbox.get(timeout=0.2)
            except Exception:  # queue.Empty
                continue
            if not isinstance(item, Message):
                continue
            conn = handle(conn, link, h.root, item, h.database)
    finally:
        link.stop()
        conn.close()
    return 0


def handle(conn: psycopg.Connection, link: HubLink, root: str, msg: Message, dsn: str) -> psycopg.Connection:
    """Act on one message; returns the connection to use next (a new one after a database failure)."""
    where = centre_of(root, msg.topic)
    if where is None:
        return conn
    centre, leaf = where
    topics = HubTopics(root, centre)
    try:
        if leaf == "events":
            try:
                batch = decode_batch(msg.payload, centre)
            except ProtocolError as exc:
                logger.warning("refused a batch of centre %s: %s", centre, exc)
                ack = refuse(conn, centre, msg.payload, str(exc))
                # from 0: a batch that cannot be read has no seq to trust
                link.publish(topics.ack, encode_ack(replace(ack, refused_from=0, reason=str(exc))), retain=True)
                return conn
            done = ingest(conn, batch)
            link.publish(topics.ack, encode_ack(done.ack), retain=True)
        elif leaf == "restore":
            req = decode_restore(msg.payload)
            logger.info("centre %s asks for its history from seq %d", centre, req.first)
            for part in history_parts(conn, centre, req):
                link.publish(topics.history, part, qos=1)
        elif leaf in ("live", "setup") and msg.payload:
            body = load_small(msg.payload, leaf)
            (save_live if leaf == "live" else save_setup)(conn, centre, body)
    except ProtocolError as exc:
        logger.warning("ignored the %s of centre %s: %s", leaf, centre, exc)
    except psycopg.OperationalError as exc:
        # Not acknowledged: the uplink sends the batch again. Reconnect before the next message.
        logger.warning("PostgreSQL failed on a message of centre %s (%s); reconnecting", centre, exc)
        conn.close()
        return _connect(dsn, None) or conn
    return conn


def _connect(dsn: str, stop: Any) -> psycopg.Connection | None:
    while True:
        try:
            return psycopg.connect(dsn, autocommit=True)
        except psycopg.OperationalError as exc:
            logger.warning("cannot reach PostgreSQL (%s); trying again", str(exc).strip().splitlines()[0])
            if stop is not None and stop.wait(DB_RETRY_S):
                return None
            if stop is None:
                time.sleep(DB_RETRY_S)
