"""Clip uploads against plan changes: who may decide a new clip's window while the camera's
coverage changes.

An upload group reads its cameras' coverage, writes the clips' bytes, then inserts their
rows; a change that shortens history (`retention.reconcile`, in the change's transaction)
erases and re-dates the clips it can see. Without a lock, a change committing between the
group's read and its insert would miss the new clips, and they would keep the old, longer
window. So the group re-reads the coverage of its cameras inside the transaction that
inserts the rows, after taking a shared lock on each camera, and `reconcile` takes the same
locks exclusively: whichever comes second sees what the first committed.

On PostgreSQL the locks are transaction-scoped advisory locks (memory only, no row write),
one per camera, taken in one order (by key) on both sides so that no two transactions wait
for each other. On SQLite both sides are write transactions (BEGIN IMMEDIATE), which SQLite
runs one at a time: there is nothing more to lock.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import Connection, text

#: The first key of our two-key advisory locks (an application's own choice; the one-key
#: lock that serializes migrations lives in another key space).
NAMESPACE = 0x4B43_4356  # "KCCV"

_LOCK = """
SELECT count({function}(:namespace, key))
FROM (SELECT DISTINCT hashtext(id) AS key FROM unnest(CAST(:ids AS text[])) AS id ORDER BY key)
    AS keys
"""
_SHARED = text(_LOCK.format(function="pg_advisory_xact_lock_shared"))
_EXCLUSIVE = text(_LOCK.format(function="pg_advisory_xact_lock"))


def lock_cameras(connection: Connection, camera_ids: Iterable[uuid.UUID], *, shared: bool) -> None:
    """Hold the coverage lock of these cameras until the transaction ends: shared for an
    upload group, exclusive for a change of their coverage."""
    ids = sorted({str(camera_id) for camera_id in camera_ids})
    if not ids or connection.dialect.name != "postgresql":
        return
    connection.execute(_SHARED if shared else _EXCLUSIVE, {"namespace": NAMESPACE, "ids": ids})


# The cameras of the tokens, as `_LOCK` takes them (one key a camera, in key order); answers
# their ids. DISTINCT keeps the subquery (and its order) from being merged into the outer one.
_SHARED_BY_TOKENS = text(
    """
SELECT keys.id, pg_advisory_xact_lock_shared(:namespace, keys.key)
FROM (
    SELECT DISTINCT hashtext(CAST(id AS text)) AS key, id
    FROM cameras
    WHERE device_token_digest = ANY(CAST(:digests AS text[])) AND unbound_at IS NULL
    ORDER BY key
) AS keys
"""
)


def lock_tokens(connection: Connection, digests: Iterable[str]) -> set[uuid.UUID]:
    """PostgreSQL: hold the shared coverage lock of the live cameras of these device-token
    digests until the transaction ends, before their coverage is read (an upload group's
    first statement); answers the cameras locked. The caller still locks (`lock_cameras`) a
    camera its next statement finds that is not among them: one bound in between."""
    wanted = sorted(set(digests))
    if not wanted:
        return set()
    rows = connection.execute(_SHARED_BY_TOKENS, {"namespace": NAMESPACE, "digests": wanted})
    return {uuid.UUID(str(camera_id)) for camera_id, _ in rows}
