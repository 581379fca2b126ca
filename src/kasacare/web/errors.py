"""Error pages for people (issue 13): a browser that asks for a page gets HTML with a way on,
never a problem+json body; the API (`/v1/`) keeps problem+json (`kit.http`)."""

from __future__ import annotations

from fastapi import Request, Response

from kasacare.web.render import templates

HEADINGS = {
    400: "That request didn't work",
    401: "Please sign in",
    403: "You can't open this page",
    404: "We can't find that page",
    405: "That doesn't work here",
    410: "No longer available",
    413: "That was too large to send",
    422: "That link or form isn't valid",
    429: "Too many attempts",
}


def error_page(request: Request, status: int, detail: str) -> Response:
    """The page for an error answered `status`; a 5xx never shows its detail."""
    if status >= 500:
        heading, detail = "Something went wrong on our side", "Please try again in a moment."
    else:
        heading = HEADINGS.get(status, "That didn't work")
    context: dict[str, object] = {"account": None, "error": None, "notice": None, "csrf": ""}
    context.update(heading=heading, detail=detail, status=status)
    return templates.TemplateResponse(request, "error.html", context, status_code=status)
