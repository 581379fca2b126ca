"""Commands to the broker, after the commit that issued them (issue 12 item 2): the job
takes one outbox row at a time under its lock (`devices.commands.next_to_publish`),
publishes it at QoS 1 and marks it delivered on the broker's PUBACK, in the row's own
transaction. A broker that does not answer puts the row off with `kit.backoff` and ends
the run; nothing is lost and no two processes ever publish one row."""

from __future__ import annotations

import json
import logging
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from kasacare.devices import broker, commands
from kasacare.devices.mqtt import BrokerUnavailable, Publisher
from kasacare.kit.db import session_scope

log = logging.getLogger(__name__)

#: At most this many commands a run (the next tick goes on).
PER_RUN = 500


def deliver_commands(sessions: sessionmaker[Session], publisher: Publisher, now: datetime) -> int:
    """Publish the commands due at `now`; answers how many went out."""
    sent = 0
    while sent < PER_RUN:
        with session_scope(sessions) as session:
            command = commands.next_to_publish(session, now)
            if command is None:
                return sent
            body = json.dumps(commands.message(command)).encode()
            try:
                publisher.publish(broker.commands_topic(command.serial), body)
            except BrokerUnavailable as error:
                log.warning("command %s not published (%s); retried later", command.id, error)
                commands.failed(command, now)
                return sent
            commands.published(command, now)
            sent += 1
    return sent
