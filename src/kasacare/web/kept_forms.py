"""What a person typed into a form whose post found their session ended (issue 13 item 4),
kept across the sign-in and put back into the same form on the page they return to.

The post's fields go into a sealed cookie (`kit.signing_keys.seal`, 30 minutes) on the
redirect to the sign-in page; the page they come back to shows a banner, embeds the fields as
JSON data, and `static/app.js` fills the form whose `action` is the post's path. Nothing is
submitted for them: they check and send it again. Passwords, CSRF tokens, codes and anything
card-like are never kept, nor more than `MAX_BYTES` of the rest.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from fastapi import Request, Response
from starlette.datastructures import UploadFile

from kasacare.context import get_context
from kasacare.kit.signing_keys import seal, unseal

COOKIE = "kc_kept_form"
KEPT_FORM_KEYS = "kept-forms"
TTL = timedelta(minutes=30)
MAX_BYTES = 3000
#: Field names never kept, whatever the form.
_NEVER = re.compile(r"pass|csrf|card|cvc|cvv|token|secret|code|number|next", re.IGNORECASE)


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
        if isinstance(value, UploadFile) or _NEVER.search(name):
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
    raw = json.dumps(payload, separators=(",", ":")).encode()
    if not fields or len(raw) > MAX_BYTES:
        return
    response.set_cookie(
        COOKIE,
        seal(context.signing_keys.keyring(KEPT_FORM_KEYS), raw),
        max_age=int(TTL.total_seconds()),
        httponly=True,
        secure=context.settings.cookie_secure,
        samesite="lax",
        path="/",
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
