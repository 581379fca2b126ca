"""The migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, select

import kasacare.models  # noqa: F401  (registers every table)
from kasacare.context import AppContext
from kasacare.kit.db import Base, create_db_engine
from kasacare.kit.migrate import alembic_config, upgrade
from kasacare.payments.models import PaymentMethod
from kasacare.subscriptions.models import Subscription


def test_migrated_schema_equals_the_models(session_context: AppContext) -> None:
    with session_context.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_0011_schedules_the_reminders_of_existing_rows(tmp_path: Path) -> None:
    """Migrating a database of revision 0010 gives its live rows the reminder instants the
    code would have set (unless the reminder was already sent)."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'old.db'}")
    command.upgrade(alembic_config(engine), "0010")
    account, trialing, annual, ended, card = (uuid.uuid4() for _ in range(5))
    # One live subscription per account: each of the others on an account of its own.
    owners = {trialing: account, annual: uuid.uuid4(), ended: uuid.uuid4()}
    at = datetime(2026, 4, 1, tzinfo=UTC)
    tables = MetaData()
    tables.reflect(engine)

    def subscription(
        sub_id: uuid.UUID, status: str, cycle: str, ended: bool = False
    ) -> dict[str, Any]:
        return {
            "id": sub_id,
            "account_id": owners[sub_id],
            "plan": "plus",
            "cycle": cycle,
            "status": status,
            "currency": "USD",
            "unit_price": 399,
            "anchor": at,
            "trial_end": at + timedelta(days=30) if status == "trialing" else None,
            "current_period_start": at,
            "current_period_end": datetime(2027, 4, 1, tzinfo=UTC),
            "created_at": at,
            "ended_at": at if ended else None,
            "end_reason": None,
            "dunning_since": None,
            "retries_done": 0,
            "next_retry_at": None,
        }

    def stored(row: dict[str, Any]) -> dict[str, Any]:
        """As SQLite stores them: UUIDs as hex, datetimes naive UTC (reflection knows only
        the columns' storage types)."""
        return {
            key: value.hex
            if isinstance(value, uuid.UUID)
            else value.replace(tzinfo=None)
            if isinstance(value, datetime)
            else value
            for key, value in row.items()
        }

    with engine.begin() as connection:
        for owner_id in owners.values():
            connection.execute(
                tables.tables["accounts"].insert(),
                stored(
                    {
                        "id": owner_id,
                        "email": f"{owner_id}@example.com",
                        "password_hash": "x",
                        "role": "owner",
                        "country": "US",
                        "currency": "USD",
                        "created_at": at,
                        "trial_started_at": None,
                        "legacy_locked_at": None,
                    }
                ),
            )
        rows = [
            subscription(trialing, "trialing", "monthly"),
            subscription(annual, "active", "annual"),
            subscription(ended, "active", "annual", ended=True),
        ]
        for row in rows:
            connection.execute(tables.tables["subscriptions"].insert(), stored(row))
        connection.execute(
            tables.tables["payment_methods"].insert(),
            stored(
                {
                    "id": card,
                    "account_id": account,
                    "gateway_token": "tok_x",
                    "brand": "visa",
                    "funding": "credit",
                    "last4": "4242",
                    "exp_month": 12,
                    "exp_year": 2030,
                    "created_at": at,
                    "updated_at": at,
                }
            ),
        )
    upgrade(engine)
    with engine.connect() as connection:
        reminders = {
            row.id: (row.trial_reminder_at, row.renewal_reminder_at)
            for row in connection.execute(
                select(
                    Subscription.id,
                    Subscription.trial_reminder_at,
                    Subscription.renewal_reminder_at,
                )
            )
        }
        expiry = connection.scalar(select(PaymentMethod.expiry_reminder_at))
    engine.dispose()
    # Trial ends May 1: 3 days before. The annual period ends 2027-04-01: 7 days before. An
    # ended subscription gets nothing. The card works through December 2030: 30 days before.
    assert reminders == {
        trialing: (datetime(2026, 4, 28, tzinfo=UTC), None),
        annual: (None, datetime(2027, 3, 25, tzinfo=UTC)),
        ended: (None, None),
    }
    assert expiry == datetime(2030, 12, 2, tzinfo=UTC)


def test_0014_gives_each_signed_in_session_an_id_and_leaves_accounts_unverified(
    tmp_path: Path,
) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'old.db'}")
    command.upgrade(alembic_config(engine), "0013")
    tables = MetaData()
    tables.reflect(engine)
    account = uuid.uuid4()
    at = datetime(2026, 12, 1, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(
            tables.tables["accounts"].insert(),
            {
                "id": account.hex,
                "email": "old@example.com",
                "password_hash": "x",
                "role": "owner",
                "country": "US",
                "currency": "USD",
                "created_at": at,
            },
        )
        connection.execute(
            tables.tables["access_tokens"].insert(),
            [
                {"digest": digest, "account_id": account.hex, "created_at": at, "expires_at": at}
                for digest in ("a" * 64, "b" * 64)
            ],
        )
    upgrade(engine)
    migrated = MetaData()
    migrated.reflect(engine)
    with engine.connect() as connection:
        ids = connection.scalars(select(migrated.tables["access_tokens"].c.id)).all()
        verified, language = connection.execute(
            select(
                migrated.tables["accounts"].c.email_verified_at,
                migrated.tables["accounts"].c.language,
            )
        ).one()
    engine.dispose()
    assert len(set(ids)) == 2 and None not in ids
    assert (verified, language) == (None, "en")


def test_0025_starts_the_broker_accounts_and_tells_cameras_bound_before_0024(
    tmp_path: Path,
) -> None:
    """Issue 12: every live binding of a database of revision 0024 gets an unsynced broker
    account (the broker job grants it), and a live camera never told its entitlement is due
    for the entitlement job at once; an unbound camera gets neither."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'old.db'}")
    command.upgrade(alembic_config(engine), "0024")
    tables = MetaData()
    tables.reflect(engine)
    account, live_device, old_device, live, unbound = (uuid.uuid4() for _ in range(5))
    bound_at = datetime(2026, 3, 1, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(
            tables.tables["accounts"].insert(),
            {
                "id": account.hex,
                "email": "old@example.com",
                "password_hash": "x",
                "role": "owner",
                "country": "US",
                "currency": "USD",
                "created_at": bound_at,
                "language": "en",
            },
        )
        connection.execute(
            tables.tables["devices"].insert(),
            [
                {"id": d.hex, "serial": s, "model": "KC120", "setup_at": bound_at}
                for d, s in ((live_device, "LIVE0001"), (old_device, "GONE0001"))
            ],
        )
        connection.execute(
            tables.tables["cameras"].insert(),
            [
                {
                    "id": camera.hex,
                    "account_id": account.hex,
                    "device_id": device.hex,
                    "name": "Porch",
                    "device_token_digest": camera.hex * 2,
                    "created_at": bound_at,
                    "unbound_at": ended,
                }
                for camera, device, ended in (
                    (live, live_device, None),
                    (unbound, old_device, bound_at + timedelta(days=1)),
                )
            ],
        )
    upgrade(engine)
    migrated = MetaData()
    migrated.reflect(engine)
    brokers = migrated.tables["broker_accounts"]
    cameras = migrated.tables["cameras"]
    with engine.connect() as connection:
        accounts = connection.execute(
            select(brokers.c.serial, brokers.c.camera_id, brokers.c.synced)
        ).all()
        rechecks = dict(
            connection.execute(select(cameras.c.id, cameras.c.entitlement_recheck_at)).all()
        )
    engine.dispose()
    assert [
        (serial, uuid.UUID(str(camera)), bool(synced)) for serial, camera, synced in accounts
    ] == [("LIVE0001", live, False)]
    assert {uuid.UUID(str(k)): v for k, v in rechecks.items()} == {
        live: bound_at.replace(tzinfo=None),  # its binding (reflected: naive, in UTC)
        unbound: None,
    }
