"""The facts a notification's data names by id, read for the wording (`wording.Facts`): the
account's time zone, the plan and the cameras it covered when the notification was made
(from the seat ledger, so a cancel still names the cameras it ended), camera names, the
document's page, and the charge a trial or renewal reminder announces (while it still
stands). One query per kind of fact for a whole batch of notifications."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, joinedload

from kasacare.accounts.models import Account
from kasacare.billing.models import Invoice
from kasacare.cameras.models import Camera
from kasacare.catalog.schemas import Catalog
from kasacare.kit.money import Money
from kasacare.legacy.models import LegacySubscription
from kasacare.notifications.models import Kind, Notification
from kasacare.notifications.wording import Facts, Link
from kasacare.subscriptions.models import Status, Subscription, SubscriptionCamera

#: Reminders that announce the charge to come (while the plan still renews).
_ANNOUNCING = {Kind.TRIAL_ENDING, Kind.ANNUAL_RENEWAL}


def invoice_link(invoice_id: uuid.UUID | str, number: str) -> Link:
    return Link(f"Invoice {number}", f"/app/billing/invoices/{invoice_id}")


def credit_note_link(note_id: uuid.UUID | str, number: str) -> Link:
    return Link(f"Credit note {number}", f"/app/billing/credit-notes/{note_id}")


@dataclass(frozen=True, slots=True)
class _Plan:
    name: str
    cycle: str
    camera_ids: tuple[uuid.UUID, ...]


def facts_for(
    session: Session, catalog: Catalog | None, notifications: Sequence[Notification]
) -> dict[uuid.UUID, Facts]:
    """The facts of each notification, by its id."""
    if not notifications:
        return {}
    zones = dict(
        session.execute(
            select(Account.id, Account.time_zone).where(
                Account.id.in_({n.account_id for n in notifications})
            )
        ).all()
    )
    plans = _plans(session, catalog, notifications)
    documents = _documents(session, notifications)
    camera_ids = {c for plan in plans.values() for c in plan.camera_ids} | {
        camera_id for n in notifications for camera_id in _erased_ids(n)
    }
    names = _camera_names(session, camera_ids)
    charges = _charges(session, catalog, notifications)
    found = {}
    for notification in notifications:
        plan = plans.get(notification.id)
        cameras = sorted(
            (names.get(c, "a removed camera") for c in plan.camera_ids) if plan else (),
            key=str.casefold,
        )
        found[notification.id] = Facts(
            zone=zones.get(notification.account_id, "UTC"),
            plan=plan.name if plan else _plan_name(catalog, notification.data.get("plan")),
            cycle=plan.cycle if plan else None,
            cameras=tuple(cameras),
            camera_names={str(c): names[c] for c in _erased_ids(notification) if c in names},
            next_charge=charges.get(notification.id),
            document=documents.get(notification.id),
        )
    return found


def _plan_name(catalog: Catalog | None, plan: Any) -> str | None:
    if not plan:
        return None
    if catalog is not None:
        if plan in catalog.plans:
            return catalog.plans[plan].name
        if plan in catalog.legacy_plans:
            return catalog.legacy_plans[plan].name
    return "Kasa Care " + str(plan).replace("-", " ").title()


def _ids(notifications: Iterable[Notification], *keys: str) -> dict[uuid.UUID, uuid.UUID]:
    """Notification id -> the id its data holds under the first of `keys` present."""
    found = {}
    for notification in notifications:
        for key in keys:
            value = notification.data.get(key)
            if value:
                try:
                    found[notification.id] = uuid.UUID(str(value))
                except ValueError:
                    continue
                break
    return found


def _plans(
    session: Session, catalog: Catalog | None, notifications: Sequence[Notification]
) -> dict[uuid.UUID, _Plan]:
    """The plan a notification tells of and its cameras at the notification's instant."""
    wanted = _ids(notifications, "subscription_id", "legacy_subscription_id")
    if not wanted:
        return {}
    ids = set(wanted.values())
    new = {s.id: s for s in session.scalars(select(Subscription).where(Subscription.id.in_(ids)))}
    legacy = {
        s.id: s
        for s in session.scalars(
            select(LegacySubscription)
            .where(LegacySubscription.id.in_(ids))
            .options(joinedload(LegacySubscription.cameras))
        ).unique()
    }
    seats: dict[uuid.UUID, list[SubscriptionCamera]] = {}
    for seat in session.scalars(
        select(SubscriptionCamera)
        .where(SubscriptionCamera.subscription_id.in_(new))
        .order_by(SubscriptionCamera.added_at, SubscriptionCamera.id)
    ):
        seats.setdefault(seat.subscription_id, []).append(seat)
    found = {}
    by_id = {n.id: n for n in notifications}
    for notification_id, plan_id in wanted.items():
        at = by_id[notification_id].created_at
        if plan_id in new:
            subscription = new[plan_id]
            name = _plan_name(catalog, subscription.plan.value) or subscription.plan.value
            held = tuple(
                dict.fromkeys(
                    seat.camera_id
                    for seat in seats.get(plan_id, [])
                    if seat.added_at <= at and (seat.removed_at is None or seat.removed_at >= at)
                )
            )
            found[notification_id] = _Plan(name, subscription.cycle.value, held)
        elif plan_id in legacy:
            row = legacy[plan_id]
            name = _plan_name(catalog, row.plan) or row.plan
            found[notification_id] = _Plan(name, row.cycle.value, tuple(row.camera_ids))
    return found


def _documents(session: Session, notifications: Sequence[Notification]) -> dict[uuid.UUID, Link]:
    found: dict[uuid.UUID, Link] = {}
    invoices = _ids(notifications, "invoice_id")
    notes = _ids(notifications, "credit_note_id")
    for notification_id, invoice_id in invoices.items():
        data = next(n.data for n in notifications if n.id == notification_id)
        number = data.get("number") or data.get("invoice_number") or ""
        found[notification_id] = invoice_link(invoice_id, str(number))
    for notification_id, note_id in notes.items():
        data = next(n.data for n in notifications if n.id == notification_id)
        found[notification_id] = credit_note_link(note_id, str(data.get("number", "")))
    # Older failed-payment notices name their invoice by number only.
    numbers = {
        n.id: str(n.data["invoice_number"])
        for n in notifications
        if n.id not in found and n.data.get("invoice_number")
    }
    if numbers:
        rows = session.execute(
            select(Invoice.number, Invoice.id, Invoice.account_id).where(
                Invoice.number.in_(set(numbers.values()))
            )
        ).all()
        by_number = {(number, account): invoice_id for number, invoice_id, account in rows}
        for n in notifications:
            key = (numbers.get(n.id), n.account_id)
            if key in by_number:
                found[n.id] = invoice_link(by_number[key], str(key[0]))
    return found


def _erased_ids(notification: Notification) -> list[uuid.UUID]:
    if notification.kind is not Kind.HISTORY_ERASED:
        return []
    found = []
    for camera in notification.data.get("cameras", []):
        try:
            found.append(uuid.UUID(str(camera["camera_id"])))
        except (KeyError, TypeError, ValueError):
            continue
    return found


def _camera_names(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    return dict(session.execute(select(Camera.id, Camera.name).where(Camera.id.in_(ids))).all())


def _charges(
    session: Session, catalog: Catalog | None, notifications: Sequence[Notification]
) -> dict[uuid.UUID, Money]:
    """What a trial-ending or annual-renewal reminder's plan charges next, at catalog prices
    and net of credit now, while it still renews (the reminder stands)."""
    if catalog is None:
        return {}
    wanted = _ids([n for n in notifications if n.kind in _ANNOUNCING], "subscription_id")
    if not wanted:
        return {}
    # Imported here: the use cases import the notification service (a cycle at import time).
    from kasacare.subscriptions.use_cases.scope import Scope

    rows = session.scalars(
        select(Subscription)
        .where(
            Subscription.id.in_(set(wanted.values())),
            Subscription.ended_at.is_(None),
            or_(Subscription.status == Status.TRIALING, Subscription.status == Status.ACTIVE),
        )
        .options(joinedload(Subscription.seats))
    ).unique()
    live = {row.id: row for row in rows}
    found = {}
    by_id: Mapping[uuid.UUID, Notification] = {n.id: n for n in notifications}
    for notification_id, subscription_id in wanted.items():
        subscription = live.get(subscription_id)
        if subscription is None:
            continue
        account = session.get(Account, subscription.account_id)
        if account is None:
            continue
        at: datetime = by_id[notification_id].created_at
        upcoming = Scope(session, catalog, at, account).next_invoice(subscription)
        if upcoming is not None:
            found[notification_id] = upcoming.amount
    return found
