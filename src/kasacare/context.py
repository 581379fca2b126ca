"""The application context and the request dependencies every route uses.

Endpoints commit explicitly (`session.commit()`) before answering; the session dependency
closes (rolls back) whatever was not committed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from kasacare.catalog.schemas import Catalog
from kasacare.clips.storage import ClipStorage
from kasacare.config import Settings
from kasacare.devices.mqtt import BrokerControl, Publisher
from kasacare.kit.clock import Clock
from kasacare.kit.signing_keys import SigningKeys
from kasacare.payments.gateway import PaymentGateway


@dataclass(frozen=True)
class AppContext:
    """What every request needs, built once at start."""

    settings: Settings
    catalog: Catalog
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock
    gateway: PaymentGateway
    storage: ClipStorage
    #: Keys for clip URLs and CSRF tokens (`kit.signing_keys`).
    signing_keys: SigningKeys
    #: The command publisher when `KASACARE_MQTT_URL` is set (`devices.delivery`).
    publisher: Publisher | None = None
    #: Cameras' broker accounts managed with it, beside the publisher (`devices.broker_sync`).
    broker_control: BrokerControl | None = None


def get_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


async def _context_dependency(request: Request) -> AppContext:
    # A coroutine: FastAPI runs a plain function dependency in the thread pool, a hop that
    # cost more than the lookup itself.
    return get_context(request)


Context = Annotated[AppContext, Depends(_context_dependency)]


def get_session(context: Context) -> Iterator[Session]:
    session = context.sessions()
    try:
        yield session
    finally:
        session.close()


def get_now(context: Context) -> datetime:
    return context.clock.now()


DbSession = Annotated[Session, Depends(get_session)]
Now = Annotated[datetime, Depends(get_now)]
