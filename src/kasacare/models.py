"""Every table of the service, imported in one place for migrations and metadata."""

from kasacare.accounts.export_models import DataExport
from kasacare.accounts.models import (
    AccessToken,
    Account,
    AccountMail,
    AccountToken,
    SignInThrottle,
)
from kasacare.billing.models import (
    BalanceEntry,
    CardPayment,
    CreditNote,
    CreditNoteLine,
    Invoice,
    InvoiceLine,
    NumberSequence,
    RefundOutbox,
)
from kasacare.cameras.models import Camera, Device
from kasacare.clips.models import Clip, ManualRecording, SweepProgress
from kasacare.devices.models import ClaimCode, ClaimThrottle, DeviceCommand, ProvisionedDevice
from kasacare.kit.db import TestClockRow
from kasacare.kit.idempotency_models import IdempotencyKey
from kasacare.kit.secrets import ServiceSecret
from kasacare.legacy.models import LegacyCamera, LegacySubscription
from kasacare.notifications.models import Notification
from kasacare.payments.models import (
    PaymentMethod,
    SandboxCardCredit,
    SandboxCharge,
    SandboxRefund,
    SandboxToken,
)
from kasacare.subscriptions.models import Subscription, SubscriptionCamera
from kasacare.support.models import AuditEntry

__all__ = [
    "AccessToken",
    "Account",
    "AccountMail",
    "AccountToken",
    "AuditEntry",
    "BalanceEntry",
    "Camera",
    "CardPayment",
    "ClaimCode",
    "ClaimThrottle",
    "Clip",
    "CreditNote",
    "CreditNoteLine",
    "DataExport",
    "Device",
    "DeviceCommand",
    "IdempotencyKey",
    "Invoice",
    "InvoiceLine",
    "LegacyCamera",
    "LegacySubscription",
    "ManualRecording",
    "Notification",
    "NumberSequence",
    "PaymentMethod",
    "ProvisionedDevice",
    "RefundOutbox",
    "SandboxCardCredit",
    "SandboxCharge",
    "SandboxRefund",
    "SandboxToken",
    "ServiceSecret",
    "SignInThrottle",
    "Subscription",
    "SubscriptionCamera",
    "SweepProgress",
    "TestClockRow",
]
