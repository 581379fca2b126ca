"""The migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import kasacare.models  # noqa: F401  (registers every table)
from kasacare.context import AppContext
from kasacare.kit.db import Base


def test_migrated_schema_equals_the_models(session_context: AppContext) -> None:
    with session_context.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []
