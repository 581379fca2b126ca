"""Alembic environment: the engine comes from kasacare (never from an ini file)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

import kasacare.models  # noqa: F401  (registers every table on Base.metadata)
from kasacare.kit.db import Base

engine: Engine = context.config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
