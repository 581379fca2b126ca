"""The lock order is checked where locks are taken (`kasacare.billing.locks`)."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from kasacare.billing.locks import (
    LockOrderViolation,
    lock_account,
    lock_documents,
    lock_plans,
    lock_subscription,
)
from kasacare.context import AppContext
from tests.factories import owner


def test_a_lock_taken_out_of_order_fails_at_once(client: TestClient, context: AppContext) -> None:
    account, _ = owner(client)
    other, _ = owner(client, "other@example.com")
    account_id, other_id = uuid.UUID(account["id"]), uuid.UUID(other["id"])
    with context.sessions() as session:
        lock_account(session, account_id)
        lock_subscription(session, uuid.uuid4())
        lock_account(session, account_id)  # held already: waits for nothing, allowed
        with pytest.raises(LockOrderViolation, match="account locked after plan"):
            lock_account(session, other_id)
        session.rollback()
        # A new transaction starts from nothing held.
        lock_documents(session)
        with pytest.raises(LockOrderViolation, match="plan locked after documents"):
            lock_plans(session)
        session.rollback()
        lock_account(session, other_id)
        lock_plans(session)
        lock_documents(session)
        session.rollback()
