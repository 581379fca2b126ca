"""Email addresses: one check wherever an address is taken (API bodies, web forms, the
services). Syntax only, no DNS lookup: the verification link proves the mailbox."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from kasacare.kit.errors import ValidationFailed

MAX_LENGTH = 320


class InvalidEmail(ValidationFailed):
    title = "Not an email address"


def checked_email(value: str) -> str:
    """`value` as exactly one address, lower case. A list ("a@x.com, b@y.org"), a display
    name ("Bob <b@y.org>") or anything else that is not one address raises InvalidEmail."""
    text = value.strip()
    if len(text) > MAX_LENGTH:
        raise InvalidEmail(f"An email address has at most {MAX_LENGTH} characters", field="email")
    try:
        valid = validate_email(text, check_deliverability=False)
    except EmailNotValidError as error:
        raise InvalidEmail(f"{text!r} is not one email address: {error}", field="email") from None
    return valid.normalized.lower()
