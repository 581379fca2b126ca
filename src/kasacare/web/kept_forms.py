"""What a person typed into a form whose post found their session ended (issue 13 item 4),
kept across the sign-in and put back into the same form on the page they return to.

The post's fields go into a sealed cookie (`kit.signing_keys.seal`, 30 minutes) on the
redirect to the sign-in page; the page they come back to shows a banner, embeds the fields as
JSON data, and `static/app.js` fills the form whose `action` is the post's path. Nothing is
submitted for them: they check and send it again. Passwords, CSRF tokens, codes and anything
card-like are never kept, nor more than `MAX_BYTES` of the rest.

A form the server refused (issue 14 item 4: post/redirect/get) goes back to its page the same
way, in a cookie of its own (`REFUSED_COOKIE`) sent only to that page: `keep_refused` seals
the fields its handler names with the refusal's code; `refused` gives them to the page while
its address carries that code (a refresh shows the same form again), and the page fills the
form itself (no script needed); the page shown without that code clears the cookie. What was
typed never goes into an address, where it would end up in logs; card numbers, security
codes and expiry dates are never kept.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from starlette.datastructures import UploadFile

from kasacare.context import AppContext, get_context
from kasacare.kit.signing_keys import seal, unseal
from kasacare.web.messages import problem_code

COOKIE = "kc_kept_form"
KEPT_FORM_KEYS = "kept-forms"
TTL = timedelta(minutes=30)
MAX_BYTES = 3000
#: Field names never kept, whatever the form.
_NEVER = re.compile(r"pass|csrf|card|cvc|cvv|token|secret|code|number|next", re.IGNORECASE)
#: A billing address's own fields, which `_NEVER`'s "code" and "number" would drop.
_ADDRESS_FIELDS = frozenset({"postal_code", "vat_number"})
REFUSED_COOKIE = "kc_refused_form"
REFUSED_TTL = timedelta(minutes=10)
#: Never kept from a refused form either (its handler names the fields: a VAT number and a
#: postal code may be kept there, a card's number, security code or expiry never).
_NEVER_REFUSED = re.compile(r"pass|csrf|card|cvc|cvv|exp|token|secret", re.IGNORECASE)


async def keep(posted: Request, back_to: str, response: Response) -> None:
    """Seal the fields of the form `posted` carried into `response`'s cookie, for the page
    at `back_to` (a local path). A form that cannot be read (too large, malformed) is not
    kept: the redirect matters more."""
    try:
        form = await posted.form()
    except Exception:
        return
    fields: dict[str, list[str]] = {}
    for name, value in form.multi_items():
        if isinstance(value, UploadFile) or (_NEVER.search(name) and name not in _ADDRESS_FIELDS):
            continue
        fields.setdefault(name, []).append(value[:500])
    context = get_context(posted)
    expires = context.clock.now() + TTL
    payload = {
        "page": back_to.split("?", 1)[0],
        "action": posted.url.path,
        "fields": fields,
        "expires": int(expires.timestamp()),
    }
    if fields:
        _set_sealed(response, context, COOKIE, payload, TTL, "/")


def _set_sealed(
    response: Response,
    context: AppContext,
    name: str,
    payload: dict[str, Any],
    ttl: timedelta,
    path: str,
) -> None:
    """Seal `payload` into cookie `name`; a form too large to keep is not kept (what the
    redirect says matters more)."""
    raw = json.dumps(payload, separators=(",", ":")).encode()
    if len(raw) > MAX_BYTES:
        return
    response.set_cookie(
        name,
        seal(context.signing_keys.keyring(KEPT_FORM_KEYS), raw),
        max_age=int(ttl.total_seconds()),
        httponly=True,
        secure=context.settings.cookie_secure,
        samesite="lax",
        path=path,
    )


def kept(request: Request) -> dict[str, Any] | None:
    """The form kept for this page (`{action, fields}`), if the cookie is ours, fresh and
    for this page; the caller clears the cookie once it is shown."""
    sealed = request.cookies.get(COOKIE)
    if not sealed:
        return None
    context = get_context(request)
    raw = unseal(context.signing_keys.keyring(KEPT_FORM_KEYS), sealed)
    if raw is None:
        return None
    payload = json.loads(raw)
    if payload["page"] != request.url.path:
        return None
    if payload["expires"] <= context.clock.now().timestamp():
        return None
    return {"action": payload["action"], "fields": payload["fields"]}


def forget(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/")


@dataclass(frozen=True, slots=True)
class RefusedForm:
    """What was typed into the form posted to `action` before the server refused it with
    `problem`; `invalid`: the field the refusal is about, if any."""

    action: str
    problem: str
    fields: dict[str, str]
    invalid: str | None


def keep_refused(
    posted: Request,
    response: Response,
    page: str,
    problem: str,
    fields: Mapping[str, str],
    *,
    invalid: str | None = None,
) -> None:
    """Seal `fields` of the form `posted` carried into `response`'s refused-form cookie, for
    the local path `page` the redirect goes back to with `?problem=<problem>`. Fields named
    like card data are dropped whatever the caller says; a form too large to keep is not
    kept (the redirect matters more: the banner still says what went wrong)."""
    kept_fields = {
        name: value[:500] for name, value in fields.items() if not _NEVER_REFUSED.search(name)
    }
    context = get_context(posted)
    payload = {
        "page": page,
        "action": posted.url.path,
        "problem": problem,
        "fields": kept_fields,
        "invalid": invalid if invalid in kept_fields else None,
        "expires": int((context.clock.now() + REFUSED_TTL).timestamp()),
    }
    if kept_fields:  # sent to that page only, not with every request
        _set_sealed(response, context, REFUSED_COOKIE, payload, REFUSED_TTL, page)


def refused_redirect(
    posted: Request,
    page: str,
    problem: str,
    fields: Mapping[str, str],
    *,
    anchor: str = "",
    invalid: str | None = None,
    query: Mapping[str, str] | None = None,
) -> RedirectResponse:
    """Post/redirect/get for a refused form: 303 to `page` (with `query`, then
    `?problem=`, then `#anchor`), what was typed kept for that page (`keep_refused`)."""
    code = problem_code(problem)
    address = f"{page}?{urlencode({**(query or {}), 'problem': code})}"
    response = RedirectResponse(address + (f"#{anchor}" if anchor else ""), status_code=303)
    keep_refused(posted, response, page, code, fields, invalid=invalid)
    return response


def refused(request: Request) -> RefusedForm | None:
    """The refused form kept for this page, if the cookie is ours, fresh, for this page and
    for the refusal in its address."""
    payload = _refused_payload(request)
    if payload is None or payload["problem"] != request.query_params.get("problem"):
        return None
    if payload["expires"] <= get_context(request).clock.now().timestamp():
        return None
    return RefusedForm(payload["action"], payload["problem"], payload["fields"], payload["invalid"])


def forget_stale_refused(request: Request, response: Response) -> None:
    """Clear the refused-form cookie on its page once the address no longer carries its
    refusal (the form was sent again, or the page was opened afresh)."""
    if REFUSED_COOKIE in request.cookies and _refused_payload(request) and not refused(request):
        response.delete_cookie(REFUSED_COOKIE, path=request.url.path)


def _refused_payload(request: Request) -> dict[str, Any] | None:
    """The refused-form cookie's payload, if it is ours and for this page."""
    sealed = request.cookies.get(REFUSED_COOKIE)
    if not sealed:
        return None
    raw = unseal(get_context(request).signing_keys.keyring(KEPT_FORM_KEYS), sealed)
    if raw is None:
        return None
    payload: dict[str, Any] = json.loads(raw)
    return payload if payload["page"] == request.url.path else None
