"""Broker accounts kept in step with bindings (issue 12 item 2): a binding or an unbinding
marks its serial's `BrokerAccount` unsynced in the same transaction; the broker job then
grants or revokes the credential through Mosquitto's dynamic security plugin
(`mqtt.BrokerControl`) and marks the row synced. A broker that does not answer puts the
rows off (`commands.retry_after`); nothing is lost, and a camera's credential is gone
within a job tick of its unbinding (the plugin disconnects it)."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from kasacare.devices import broker
from kasacare.devices.commands import retry_after
from kasacare.devices.models import BrokerAccount
from kasacare.devices.mqtt import BrokerControl, BrokerUnavailable
from kasacare.kit.db import session_scope
from kasacare.kit.secrets import shared_secret

log = logging.getLogger(__name__)

#: The broker's user passwords derive from this deployment secret (`kit.secrets`).
MQTT_SECRET = "mqtt_camera_passwords"  # noqa: S105 (the name of a secret, not one)
#: Rows a batch: one message to the plugin and one answer.
PER_BATCH = 100


def want(session: Session, serial: str, camera_id: uuid.UUID | None, now: datetime) -> None:
    """The broker should hold `camera_id`'s credential for `serial` (None: no credential);
    told by the job after the caller's commit."""
    account = session.get(BrokerAccount, serial, with_for_update=True)
    if account is None:
        account = BrokerAccount(serial=serial, attempts=0)
        session.add(account)
    account.camera_id = camera_id
    account.synced = False
    account.changed_at = now
    account.attempts = 0
    account.next_attempt_at = None


def _unsynced(session: Session, now: datetime) -> list[BrokerAccount]:
    return list(
        session.scalars(
            select(BrokerAccount)
            .where(
                BrokerAccount.synced.is_(False),
                or_(BrokerAccount.next_attempt_at.is_(None), BrokerAccount.next_attempt_at <= now),
            )
            .order_by(BrokerAccount.changed_at, BrokerAccount.serial)
            .limit(PER_BATCH)
            .with_for_update(skip_locked=True)
        )
    )


def sync_accounts(sessions: sessionmaker[Session], control: BrokerControl, now: datetime) -> int:
    """Tell the broker every change due at `now`; answers how many serials it took."""
    synced = 0
    while True:
        with session_scope(sessions) as session:
            accounts = _unsynced(session, now)
            if not accounts:
                return synced
            key = shared_secret(session, MQTT_SECRET)
            batch = [
                broker.grant(a.serial, broker.camera_password(key, a.camera_id))
                if a.camera_id is not None
                else broker.revoke(a.serial)
                for a in accounts
            ]
            try:
                answers = control.run([command for commands in batch for command in commands])
            except BrokerUnavailable as error:
                log.warning("broker accounts not synced (%s); retried later", error)
                for account in accounts:
                    account.attempts += 1
                    account.next_attempt_at = now + retry_after(account.attempts)
                return synced
            for account, commands in zip(accounts, batch, strict=True):
                mine, answers = answers[: len(commands)], answers[len(commands) :]
                errors = broker.failures(mine)
                if errors:  # the others in the batch stand; this one is tried again
                    log.error("broker refused %s's account: %s", account.serial, errors)
                    account.attempts += 1
                    account.next_attempt_at = now + retry_after(account.attempts)
                else:
                    account.synced = True
                    synced += 1
