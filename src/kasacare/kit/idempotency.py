"""`Idempotency-Key` for every state-changing call (SPEC section 3), after Stripe's behaviour.

Contract, for POST, PUT, PATCH and DELETE under `/v1/` that carry credentials (every other
call passes untouched, and so does a path in `exempt`):

- Without an `Idempotency-Key` header a request runs exactly as if this component were absent.
  So does a request without an `Authorization` header (sign-up, sign-in): there is no caller to
  scope the key to, nor a secret to seal its answer with; and so does one whose credential
  `authenticate` does not know (it runs, and its route answers 401): a made-up credential
  reserves nothing. The card tokenizer is exempt (its body holds a card number).
- A key has 1 to 255 characters (else 422 `validation_error`). Keys are scoped by caller, the
  SHA-256 of the `Authorization` header (the credential itself is never stored): two callers
  may use the same key independently.
- Secrets stay secret at rest: the stored answer (which may hold a device token) is sealed
  with AES-GCM under a key derived from the caller's credential, and the request is compared
  by an HMAC under that key (bodies may hold passwords). The database alone opens neither.
- The first request with a key reserves it, in a short transaction of its own committed before
  the application runs (a unique constraint on caller + key lets exactly one request win), and
  then runs. An answer with a status below 500 (4xx included) is stored: status, body and
  content type. A 5xx answer or an exception deletes the reservation, so a retry runs afresh.
- A later request with the same key, method, path + query and body (compared by SHA-256) runs
  nothing: it gets the stored answer byte for byte, with `Idempotent-Replayed: true`. If the
  first request is still running, it waits for the answer (polling, up to 30 s) and replays it;
  if the first is still running after that, it answers 409 `idempotency_key_in_use`.
- The same key with another method, path or body answers 422 `idempotency_key_reused`.
- A key expires 24 h after its first use, by the app's injected clock; a later request with it
  runs afresh. Expired rows are deleted opportunistically, a small batch at each reservation.
  A reservation that never got an answer (its process died) is taken over after 5 minutes.

The answer streams to the client as the application sends it and is stored once the
application returns, when the request's own session is closed: on SQLite every writer holds the
database lock from BEGIN IMMEDIATE (`kasacare.kit.db`), so this component never writes while
the request's transaction may be open. Requests carrying a key are buffered in memory.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Protocol

import anyio
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kasacare.kit.clock import Clock
from kasacare.kit.db import READ_ONLY
from kasacare.kit.errors import KasaCareError, ValidationFailed
from kasacare.kit.http import problem
from kasacare.kit.idempotency_models import IdempotencyKey


class _Context(Protocol):
    """What the middleware needs of the application's context (`app.state.context`)."""

    @property
    def engine(self) -> Engine: ...

    @property
    def clock(self) -> Clock: ...


log = logging.getLogger("kasacare.idempotency")

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PREFIX = "/v1/"
MAX_KEY_LENGTH = 255
TTL = timedelta(hours=24)
ABANDONED_AFTER = timedelta(minutes=5)
WAIT_SECONDS = 30.0
POLL_SECONDS = 0.05
CLEANUP_BATCH = 100


class IdempotencyKeyReused(KasaCareError):
    code = "idempotency_key_reused"
    status = 422
    title = "Idempotency key reused"


class IdempotencyKeyInUse(KasaCareError):
    code = "idempotency_key_in_use"
    status = 409
    title = "Idempotency key in use"


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """Who sends which key, and a digest of what they ask."""

    caller_digest: str
    key: str
    request_digest: str
    #: Derived from the credential, never stored: seals the answer, keys the request HMAC.
    seal_key: bytes


@dataclass(frozen=True, slots=True)
class Reserved:
    """This request holds the key (row `row_id`): it runs."""

    row_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    status_code: int
    content_type: str | None
    body: bytes


class Held(Enum):
    RUNNING = "running"  # another request holds the key and has not answered yet
    GONE = "gone"  # nobody holds it any more (released, expired or abandoned): reserve again
    REUSED = "reused"  # the key was first used for another request


Outcome = Reserved | StoredAnswer | Held


class KeyStore:
    """The table's statements, each in a short transaction of its own (blocking: use a thread)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def reserve(self, request: Fingerprint, now: datetime) -> Outcome:
        row_id = uuid.uuid4()
        try:
            with self._engine.begin() as connection:
                connection.execute(
                    insert(IdempotencyKey).values(
                        id=row_id,
                        caller_digest=request.caller_digest,
                        key=request.key,
                        request_digest=request.request_digest,
                        created_at=now,
                    )
                )
                expired = (
                    select(IdempotencyKey.id)
                    .where(IdempotencyKey.created_at <= now - TTL)
                    .limit(CLEANUP_BATCH)
                )
                connection.execute(delete(IdempotencyKey).where(IdempotencyKey.id.in_(expired)))
        except IntegrityError:
            return self.look_up(request, now)
        return Reserved(row_id)

    def look_up(self, request: Fingerprint, now: datetime) -> Outcome:
        query = select(
            IdempotencyKey.id,
            IdempotencyKey.request_digest,
            IdempotencyKey.created_at,
            IdempotencyKey.status_code,
            IdempotencyKey.content_type,
            IdempotencyKey.body,
        ).where(
            IdempotencyKey.caller_digest == request.caller_digest,
            IdempotencyKey.key == request.key,
        )
        with self._engine.connect().execution_options(**{READ_ONLY: True}) as connection:
            row = connection.execute(query).one_or_none()
        if row is None:
            return Held.GONE
        expired = row.created_at <= now - TTL
        abandoned = row.status_code is None and row.created_at <= now - ABANDONED_AFTER
        if expired or abandoned:
            self.release(row.id)
            return Held.GONE
        if row.request_digest != request.request_digest:
            return Held.REUSED
        if row.status_code is None:
            return Held.RUNNING
        return StoredAnswer(row.status_code, row.content_type, _open(request, row.body or b""))

    def complete(self, row_id: uuid.UUID, request: Fingerprint, answer: StoredAnswer) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                update(IdempotencyKey)
                .where(IdempotencyKey.id == row_id)
                .values(
                    status_code=answer.status_code,
                    content_type=answer.content_type,
                    body=_seal(request, answer.body),
                )
            )

    def release(self, row_id: uuid.UUID) -> None:
        with self._engine.begin() as connection:
            connection.execute(delete(IdempotencyKey).where(IdempotencyKey.id == row_id))


class IdempotencyMiddleware:
    """Pure ASGI middleware implementing the module's contract; add it once in `create_app`."""

    def __init__(
        self,
        app: ASGIApp,
        exempt: Collection[str] = (),
        authenticate: Callable[[str], bool] | None = None,
    ) -> None:
        """`authenticate(authorization)` (blocking) tells a known caller; None trusts all."""
        self.app = app
        self.exempt = frozenset(exempt)
        self.authenticate = authenticate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._applies(scope):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        key = headers.get(HEADER)
        authorization = headers.get("authorization")
        if key is None or not authorization:
            await self.app(scope, receive, send)
            return
        if not 1 <= len(key) <= MAX_KEY_LENGTH:
            detail = f"{HEADER}: must have 1 to {MAX_KEY_LENGTH} characters"
            await _problem(ValidationFailed(detail))(scope, receive, send)
            return
        if self.authenticate and not await run_in_threadpool(self.authenticate, authorization):
            await self.app(scope, receive, send)  # the route refuses the unknown credential
            return
        body = await _read_body(receive)
        if body is None:
            return  # the client left before it finished sending
        context: _Context = scope["app"].state.context
        store = KeyStore(context.engine)
        request = _fingerprint(scope, headers, key, body)
        now = await run_in_threadpool(context.clock.now)
        outcome = await _claim(store, request, now)
        if isinstance(outcome, Reserved):
            await self._run(store, outcome.row_id, request, body, scope, receive, send)
        elif isinstance(outcome, StoredAnswer):
            headers_out = {REPLAYED_HEADER: "true"}
            if outcome.content_type is not None:
                headers_out["content-type"] = outcome.content_type
            replay = Response(outcome.body, status_code=outcome.status_code, headers=headers_out)
            await replay(scope, receive, send)
        else:
            await _problem(outcome)(scope, receive, send)

    def _applies(self, scope: Scope) -> bool:
        return (
            scope["type"] == "http"
            and scope["method"] in STATE_CHANGING
            and scope["path"].startswith(PREFIX)
            and scope["path"] not in self.exempt
        )

    async def _run(
        self,
        store: KeyStore,
        row_id: uuid.UUID,
        request: Fingerprint,
        body: bytes,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        recorder = _Recorder(send)
        try:
            await self.app(scope, _replaying(body, receive), recorder.send)
        finally:
            answer = recorder.answer()
            with anyio.CancelScope(shield=True):
                try:
                    if answer is not None and answer.status_code < 500:
                        await run_in_threadpool(store.complete, row_id, request, answer)
                    else:
                        await run_in_threadpool(store.release, row_id)
                except Exception:
                    # The client has its answer; a reservation left behind is taken over later.
                    log.exception("could not finish idempotency key %s", row_id)


async def _claim(
    store: KeyStore, request: Fingerprint, now: datetime
) -> Reserved | StoredAnswer | KasaCareError:
    """Reserve the key, or wait (bounded) for the answer of the request that holds it."""
    deadline = time.monotonic() + WAIT_SECONDS
    outcome = await run_in_threadpool(store.reserve, request, now)
    while True:
        if isinstance(outcome, Reserved | StoredAnswer):
            return outcome
        if outcome is Held.REUSED:
            return IdempotencyKeyReused(
                f"This {HEADER} was first used for another request (method, path or body); "
                "use a new key for a new request"
            )
        if outcome is Held.GONE:
            # Nobody holds the key: reserve it whatever the time, the wait bounds only RUNNING.
            outcome = await run_in_threadpool(store.reserve, request, now)
            continue
        if time.monotonic() >= deadline:
            return IdempotencyKeyInUse(
                f"A request with this {HEADER} is still running; retry later"
            )
        await anyio.sleep(POLL_SECONDS)
        outcome = await run_in_threadpool(store.look_up, request, now)


def _fingerprint(scope: Scope, headers: Headers, key: str, body: bytes) -> Fingerprint:
    caller = headers.get("authorization", "").encode("latin-1")
    seal_key = hashlib.sha256(b"kasacare:idempotency:seal\0" + caller).digest()
    request = hmac.new(seal_key, digestmod=hashlib.sha256)
    for part in (scope["method"].encode(), scope["path"].encode(), scope["query_string"]):
        request.update(part)
        request.update(b"\0")
    request.update(body)
    return Fingerprint(
        caller_digest=hashlib.sha256(caller).hexdigest(),
        key=key,
        request_digest=request.hexdigest(),
        seal_key=seal_key,
    )


_NONCE_BYTES = 12


def _seal(request: Fingerprint, body: bytes) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + AESGCM(request.seal_key).encrypt(nonce, body, request.key.encode())


def _open(request: Fingerprint, sealed: bytes) -> bytes:
    nonce, ciphertext = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
    return AESGCM(request.seal_key).decrypt(nonce, ciphertext, request.key.encode())


def _problem(error: KasaCareError) -> Response:
    return problem(error.status, error.code, error.title, error.detail, **error.extra)


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None if the client disconnected first."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the buffered body to the application, then the real channel."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if delivered:
            return await receive()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


class _Recorder:
    """Forwards the application's answer to the client and keeps a copy of it."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._status: int | None = None
        self._content_type: str | None = None
        self._chunks: list[bytes] = []
        self._complete = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self._status = message["status"]
            self._content_type = Headers(raw=message.get("headers", [])).get("content-type")
        elif message["type"] == "http.response.body":
            self._chunks.append(message.get("body", b""))
            self._complete = not message.get("more_body", False)
        await self._send(message)

    def answer(self) -> StoredAnswer | None:
        """The whole answer, or None if the application did not finish one."""
        if self._status is None or not self._complete:
            return None
        return StoredAnswer(self._status, self._content_type, b"".join(self._chunks))
