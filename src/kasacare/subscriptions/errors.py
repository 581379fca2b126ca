"""Errors of the subscriptions domain (stable codes of SPEC section 3)."""

from __future__ import annotations

from kasacare.kit.errors import KasaCareError


class TrialAlreadyUsed(KasaCareError):
    code = "trial_already_used"
    status = 409
    title = "This account has already used its free trial"


class PremiumCameraLimit(KasaCareError):
    code = "premium_camera_limit"
    status = 409
    title = "Premium covers at most 10 cameras"


class PlanTypeConflict(KasaCareError):
    code = "plan_type_conflict"
    status = 409
    title = "The account has a subscription of the other type"


class SubscriptionExists(KasaCareError):
    code = "subscription_exists"
    status = 409
    title = "The account already has this subscription"


class CameraSubscribed(KasaCareError):
    code = "camera_subscribed"
    status = 409
    title = "The camera is covered by a subscription"


class SubscriptionPastDue(KasaCareError):
    code = "subscription_past_due"
    status = 409
    title = "The subscription has an unpaid invoice"
