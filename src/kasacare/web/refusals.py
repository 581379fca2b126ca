"""Post/redirect/get for the sign-in, sign-up and account forms (issue 14 item 4): a refused
post answers 303 to its form's page with `?problem=<code>`, and the page shows the banner,
what was typed (`kept_forms.keep_refused`, never passwords, tokens or CSRF) and the field
the refusal is about. A refresh of that page posts nothing.

Two things a code alone does not carry travel with the kept fields, in the same sealed
cookie: the field to mark invalid (a password field, which is never kept itself), and when
a throttle's wait ends, so the banner still says how many seconds are left."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from fastapi import Request
from fastapi.responses import RedirectResponse

from kasacare.kit.errors import KasaCareError
from kasacare.web import kept_forms
from kasacare.web.messages import problem_code

#: Kept with the fields: the field to mark invalid when it is not kept itself (a password),
#: and when a throttle's wait ends (epoch seconds).
_INVALID = "invalid_field"
_RETRY_AT = "retry_at"
#: A refused field's banner code (web/messages.py PROBLEMS), by the error's `field`.
_BY_FIELD = {
    "email": "invalid_email",
    "password": "password_length",
    "country": "account_country",
    "name": "camera_name",
}


def problem_for(error: KasaCareError, by_field: Mapping[str, str] | None = None) -> str:
    """The banner code of a refusal: a `validation_error` by the field it is about (its own
    text, written for the API, does not travel through a redirect)."""
    if error.code == "validation_error":
        field = error.extra.get("field")
        if isinstance(field, str):
            return {**_BY_FIELD, **(by_field or {})}.get(field, error.code)
    return problem_code(error.code)


def refuse(
    request: Request,
    now: datetime,
    error: KasaCareError,
    page: str,
    fields: Mapping[str, str],
    *,
    query: Mapping[str, str] | None = None,
    anchor: str = "",
    invalid: Mapping[str, str] | None = None,
    by_field: Mapping[str, str] | None = None,
) -> RedirectResponse:
    """303 to `page` (with `query`, e.g. a mailed link's token that was in its address
    already) and `?problem=`; `fields`: what to keep of the form; `invalid`: the form's
    field to mark, by problem code. A post without its CSRF token keeps nothing: another
    site may have sent it, and must not fill in our forms."""
    problem = problem_for(error, by_field)
    kept = dict(fields) if error.code != "csrf_rejected" else {}
    wait = error.extra.get("retry_after_seconds")
    if error.code == "too_many_attempts" and isinstance(wait, int):
        kept[_RETRY_AT] = str(math.ceil(now.timestamp()) + wait)
    marked = (invalid or {}).get(problem)
    if marked and marked not in kept:  # a password field: marked, never kept
        kept[_INVALID] = marked
    return kept_forms.refused_redirect(
        request, page, problem, kept, anchor=anchor, invalid=marked, query=query
    )


@dataclass(frozen=True, slots=True)
class Shown:
    """What a page shows of a refused form: `action` the form posted to, its kept `fields`,
    the field to mark `invalid`, and `error`: a banner of its own (a throttle's seconds
    left), else None for the address's."""

    action: str
    fields: dict[str, str]
    invalid: str | None
    error: str | None


def shown(request: Request, now: datetime) -> Shown | None:
    """The refused form for this page while its address carries the refusal."""
    typed = kept_forms.refused(request)
    if typed is None:
        return None
    fields = dict(typed.fields)
    invalid, retry_at = fields.pop(_INVALID, None), fields.pop(_RETRY_AT, "")
    error = None
    if typed.problem == "too_many_attempts" and retry_at.isdigit():
        left = math.ceil(int(retry_at) - now.timestamp())
        error = (
            f"Too many failed attempts. Please try again in {left} seconds."
            if left > 0
            else "Too many failed attempts. You can try again now."
        )
    return Shown(typed.action, fields, typed.invalid or invalid, error)
