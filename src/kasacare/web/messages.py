"""Refusals worded for a person: one sentence per stable error code."""

from __future__ import annotations

from kasacare.kit.errors import KasaCareError

MESSAGES = {
    "invalid_credentials": "That email and password don't match an account.",
    "too_many_attempts": "Too many failed sign-ins. Please wait 15 minutes and try again.",
    "email_taken": "There is already an account with this email. Try signing in.",
    "unknown_model": "We don't know that camera model. Check the label under the camera.",
    "camera_already_bound": "This camera is registered to an account already.",
    "camera_subscribed": "This camera is on a Kasa Care plan. Remove it from the plan first.",
    "trial_already_used": "Your account has already had its free trial.",
    "premium_camera_limit": (
        "Premium covers up to 10 cameras. For more, use another Kasa account for the others, "
        "or choose Plus for every camera: Plus has no limit."
    ),
    "plan_type_conflict": "You already have the other plan. Change your plan instead.",
    "subscription_exists": "You already have this plan. Change it or add cameras instead.",
    "subscription_past_due": (
        "Your last payment failed. Update your card to make changes; you can still cancel."
    ),
    "payment_method_required": "Add a card first, on the Billing page.",
    "card_declined": "Your card was declined. Try another card.",
    "card_invalid": "That card number, expiry date or security code isn't valid.",
    "card_brand_not_supported": (
        "We accept Visa, Mastercard, Maestro and American Express. Please use one of those."
    ),
    "legacy_closed": "Legacy plans can't be bought again on this account.",
    "legacy_confirmation_required": "Please confirm that your legacy plans end.",
    "no_cloud_recording": (
        "This camera has no cloud recording: add a microSD card, or subscribe to Kasa Care."
    ),
    "clip_no_longer_available": "No longer available.",
    "csrf_rejected": "This form expired. Please try again.",
}


def friendly(error: KasaCareError) -> str:
    if error.code == "legacy_not_refundable":
        return error.detail  # already written for a person, with what to do
    return MESSAGES.get(error.code, error.detail)
