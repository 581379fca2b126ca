"""HTTP kit: the one error handler and its OpenAPI description.

Every error leaves as RFC 9457 `application/problem+json` with a stable `code`. It knows no
domain: the application context and the request dependencies are in `kasacare.context`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from kasacare.kit.clients import Network, client_key
from kasacare.kit.errors import KasaCareError

log = logging.getLogger("kasacare.http")

PROBLEM_JSON = "application/problem+json"


class Problem(BaseModel):
    """RFC 9457 problem details, with our stable machine `code`."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    code: str


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problems a route can answer."""
    return {
        status: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": "Problem"}
        for status in statuses
    }


def problem(status: int, code: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    body.update(code=code, **extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


#: A web page for an error: (request, status, what went wrong, said to a person).
ErrorPage = Callable[[Request, int, str], Response]


def _wants_page(request: Request) -> bool:
    """A browser asking for a page (not the API, not a script fetching JSON)."""
    return not request.url.path.startswith("/v1/") and "text/html" in request.headers.get(
        "accept", ""
    )


def install_error_handlers(app: FastAPI, error_page: ErrorPage | None = None) -> None:
    """problem+json for every error; with `error_page`, HTML for browsers asking for pages."""

    def answer(
        request: Request, status: int, code: str, title: str, detail: str, **extra: Any
    ) -> Response:
        if error_page is not None and _wants_page(request):
            return error_page(request, status, detail)
        return problem(status, code, title, detail, **extra)

    @app.exception_handler(KasaCareError)
    async def _domain(request: Request, error: KasaCareError) -> Response:
        if error.status >= 500:
            log.error("internal error: %s", error.detail)
        response = answer(
            request, error.status, error.code, error.title, error.detail, **error.extra
        )
        if (seconds := error.extra.get("retry_after_seconds")) is not None:
            response.headers["Retry-After"] = str(seconds)
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> Response:
        errors = [
            {"loc": [str(part) for part in item["loc"]], "msg": str(item["msg"])}
            for item in error.errors()
        ]
        first = errors[0] if errors else {"loc": [], "msg": "invalid"}
        detail = f"{'.'.join(first['loc'][1:]) or 'body'}: {first['msg']}"
        return answer(request, 422, "validation_error", "Invalid request", detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> Response:
        codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}
        code = codes.get(error.status_code, "http_error")
        return answer(request, error.status_code, code, str(error.detail), str(error.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> Response:
        log.exception("unhandled error", exc_info=error)
        detail = "Something went wrong on our side"
        return answer(request, 500, "internal_error", "Internal error", detail)


IDEMPOTENCY_PARAMETER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Retry safely: the first answer is stored and replayed (see README)",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}


def install_problem_openapi(app: FastAPI) -> None:
    """Document every 422 as the problem+json our handler really sends (not FastAPI's default),
    and the Idempotency-Key header on every state-changing call."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.setdefault("Problem", Problem.model_json_schema())
        problem_422 = {
            "description": "Invalid request",
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for path_item in schema.get("paths", {}).values():
            for method, operation in path_item.items():
                operation.setdefault("responses", {})["422"] = problem_422
                if method in ("post", "put", "patch", "delete"):
                    operation.setdefault("parameters", []).append(IDEMPOTENCY_PARAMETER)
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def client_address(request: Request, trusted_proxies: Sequence[Network]) -> str:
    """The request's client as failures are counted (`kit.clients`)."""
    peer = request.client.host if request.client else None
    return client_key(peer, request.headers.get("x-forwarded-for"), trusted_proxies)
