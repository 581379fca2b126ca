"""Refusals worded for a person: one sentence per stable error code."""

from __future__ import annotations

from collections.abc import Mapping

from kasacare.kit.errors import KasaCareError

MESSAGES = {
    "invalid_credentials": "That email and password don't match an account.",
    "too_many_attempts": "Too many failed attempts. Please wait a minute and try again.",
    "too_many_links": (
        "We have sent several links to this address in the last hour. Please look in your"
        " inbox and spam folder, or try again later."
    ),
    "email_taken": "There is already an account with this email. Try signing in.",
    "unknown_model": "We don't know that camera model. Check the label under the camera.",
    "camera_unavailable": (
        "This camera can't be added: it is registered already. Remove it from the account "
        "that has it, or contact support."
    ),
    "claim_code_invalid": (
        "That claim code isn't right or has expired. The camera shows a new one during setup."
    ),
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
    "payment_method_required": "Add a card first: a plan, and a free trial too, needs one.",
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
    "invalid_time_zone": "Choose a time zone from the list.",
    "invalid_language": "Choose a language from the list.",
    "wrong_password": "That isn't your current password.",
    "invalid_link": "This link is invalid, was already used or has expired. Ask for a new one.",
}


#: The only banners a link can ask for (`?notice=<code>`): a page never shows text from its
#: address, so nobody can send a link that shows their words as our success message.
NOTICES = {
    "welcome": "Welcome to Kasa Care",
    "card_saved": "Card saved",
    "card_paid_invoice": "Card saved, and it paid your open invoice: your plan is active again",
    "address_saved": "Billing address saved",
    "camera_removed": "Camera removed",
    "settings_saved": "Settings saved",
    "plan_updated": "Your plan was changed as reviewed",
    # What a confirmed review did (issue 14 item 4): the Kasa Care page shows the details.
    "trial_started": "Your free trial has started. Your card is charged when it ends unless"
    " you cancel before then; the trial end and the first charge are below",
    "subscribed": "You subscribed: your card was charged and the invoice is under Billing",
    "plan_changed": "Your plan was changed: any charge or credit is under Billing",
    "camera_added": "Camera added",
    "camera_added_to_plan": "The camera is on your plan now: any charge is under Billing",
    "camera_removed_from_plan": "The camera was removed from your plan: any credit is under"
    " Billing",
    "cancelled": "Your plan was cancelled: any refund goes back to your card (see Billing)",
    "legacy_cancelled": "Your legacy plans were cancelled: refunds go back to your card",
    "auto_renew_off": "Auto-renew is off: your plan runs to the end of this period, then ends",
    "auto_renew_on": "Auto-renew is on again: your plan renews as before",
    "support_done": "Done",
    # account self-service (web/account_pages.py)
    "email_verified": "Email verified",
    "email_changed": "Email address changed",
    "password_reset": "Password changed. Sign in with your new password.",
    "verification_sent": "We sent you a new link",
    "email_change_sent": "Check your new address: we sent it a link to confirm",
    "password_changed": "Password changed",
    "language_saved": "Language saved",
    "signed_out_everywhere": "Signed out everywhere",
    "session_signed_out": "Session signed out",
    "camera_renamed": "Camera renamed",
    "account_deleted": "Your account was deleted",  # web/deletion_pages.py
    "export_requested": "We are preparing your export and will email you a link",
    "form_kept": "You were signed out before this was saved. We kept what you typed (not"
    " passwords): check it and send it again.",
}
#: Refusals a redirect can carry (`?problem=<error code>`), shown as an error banner.
PROBLEMS = {
    **MESSAGES,
    # A refusal carried through a redirect loses its detail: the form shows what was typed.
    "validation_error": "Please check what you entered and try again.",
    # The billing address form's refusals (web/billing_pages.py), one per field it is about.
    "address_incomplete": "Fill in the name, address, city and postal code, each on one line.",
    "billing_country": "Choose a billing country where Kasa Care sells in your account's currency.",
    "billing_region": "Enter the state or province of the billing address as its code (for"
    " example CA or ON): it decides the sales tax.",
    "vat_number_format": "That isn't the format of a VAT number of your billing country: it"
    " starts with the country's prefix, for example DE123456789.",
    "vat_number_not_applicable": "A VAT number applies to EU and UK billing addresses only:"
    " leave it empty.",
    "download_not_on_plan": "Downloads come with Kasa Care Plus and Premium.",
    "session_expired": "You were signed out. Sign in again to go on where you were.",
    # Owner and support pages' refusals through post/redirect/get (camera_pages, owner_pages,
    # support_pages): a redirect carries a code, so dynamic wording became fixed words that
    # point to where the page shows the figures.
    "camera_not_found": "That camera is no longer on your account.",
    "no_subscription": "You have no Kasa Care plan now: choose one below.",
    "support_note_required": "Write a note: every action says why.",
    "support_amount_format": "Write the amount like 12.50 (at most 10,000,000.00).",
    "support_amount_required": "This action needs a positive amount.",
    "support_amount_not_for_terminate": "Terminating moves no money: leave the amount empty,"
    " or choose a refund or a credit.",
    "support_amount_over_paid": "That is more than was paid for this legacy plan, less any"
    " earlier refunds: enter at most that amount.",
    "support_not_on_account": "That legacy plan or camera is no longer on this account: the"
    " page shows what is.",
    "goodwill_limit_exceeded": "That is more goodwill credit than the policy still allows this"
    " account: the Goodwill credit box says how much may still be given.",
    "camera_covered_by_legacy": "A legacy plan covers this camera: resolve the legacy case"
    " first, then force-unbind the camera.",
    # Sign-in, sign-up, account, rename and deletion forms (web/auth_pages.py,
    # account_pages.py, deletion_pages.py through web/refusals.py): a refused field's code.
    "invalid_email": "Enter one email address, like name@example.com.",
    "password_length": "Choose a password of 8 to 256 characters.",
    "signup_password": "Choose a password of at least 8 characters.",
    "account_country": "Choose your country from the list: Kasa Care is sold there.",
    "camera_name": "Give the camera a name of 1 to 100 printable characters.",
}


def notice_url(path: str, code: str) -> str:
    assert code in NOTICES, code
    return f"{path}?notice={code}"


def problem_code(code: str) -> str:
    """The code a redirect carries for a refusal: ours, else `error` (a generic banner)."""
    return code if code in PROBLEMS else "error"


def problem_url(path: str, code: str) -> str:
    return f"{path}?problem={problem_code(code)}"


def banners(query: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(error, notice) for a page's address: known codes only, anything else shows nothing
    (an unknown problem code shows a generic refusal)."""
    problem = query.get("problem")
    error = PROBLEMS.get(problem, "That didn't work. Please try again.") if problem else None
    return error, NOTICES.get(query.get("notice", ""))


#: Where a refusal is fixed (issue 14 item 4): the banner links there.
FIXES = {
    "payment_method_required": ("/app/billing#card", "Add a card on the Billing page"),
    "card_declined": ("/app/billing#card", "Use another card on the Billing page"),
    "subscription_past_due": ("/app/billing#card", "Update your card on the Billing page"),
    "camera_subscribed": ("/app/kasa-care", "Remove it from your plan on Kasa Care"),
}


def fix_for(code: str | None) -> tuple[str, str] | None:
    return FIXES.get(code) if code else None


def friendly(error: KasaCareError) -> str:
    if error.code == "legacy_not_refundable":
        return error.detail  # already written for a person, with what to do
    wait = error.extra.get("retry_after_seconds")
    if error.code == "too_many_attempts" and isinstance(wait, int):
        return f"Too many failed attempts. Please try again in {wait} seconds."
    return MESSAGES.get(error.code, error.detail)
