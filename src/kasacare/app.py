"""The FastAPI application: one factory, every router, one error handler."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session, sessionmaker

from kasacare import __version__
from kasacare.accounts.deletion_endpoints import router as deletion_router
from kasacare.accounts.endpoints import router as accounts_router
from kasacare.accounts.export_endpoints import router as export_router
from kasacare.accounts.self_service_endpoints import router as self_service_router
from kasacare.admin.endpoints import router as admin_router
from kasacare.bench_routes import BARE_CLIPS_PATH
from kasacare.bench_routes import router as bench_router
from kasacare.billing.endpoints import router as billing_router
from kasacare.callers import known_caller
from kasacare.cameras.endpoints import router as cameras_router
from kasacare.catalog.endpoints import router as catalog_router
from kasacare.catalog.loader import load_catalog
from kasacare.catalog.schemas import Catalog
from kasacare.clips.device_gate import DeviceGateMiddleware, bound_camera_lookup
from kasacare.clips.endpoints import UPLOAD_FORM_ALLOWANCE, UPLOAD_PATH, ingest_batcher
from kasacare.clips.endpoints import router as clips_router
from kasacare.clips.signing import CLIP_URL_KEYS
from kasacare.clips.storage import ClipStorage, S3Location, parse_storage_url, storage_from_url
from kasacare.config import Settings
from kasacare.context import AppContext
from kasacare.devices.broker import parse_mqtt_url
from kasacare.devices.command_endpoints import router as commands_router
from kasacare.devices.endpoints import router as devices_router
from kasacare.devices.mqtt import BrokerControl, Publisher
from kasacare.jobs import job_timer
from kasacare.kit.body_limit import DEFAULT_LIMIT, BodyLimitMiddleware
from kasacare.kit.clock import Clock, DatabaseTestClock, SystemClock
from kasacare.kit.db import create_db_engine, session_factory
from kasacare.kit.http import install_error_handlers, install_problem_openapi
from kasacare.kit.idempotency import IdempotencyMiddleware
from kasacare.kit.secrets import generated_master
from kasacare.kit.security_headers import SecurityHeadersMiddleware
from kasacare.kit.signing_keys import SigningKeys
from kasacare.legacy.endpoints import router as legacy_router
from kasacare.notifications.endpoints import router as notifications_router
from kasacare.payments.endpoints import TOKENIZER_PATH
from kasacare.payments.endpoints import router as payments_router
from kasacare.payments.gateway import PaymentGateway
from kasacare.payments.sandbox import SandboxGateway
from kasacare.subscriptions.endpoints import router as subscriptions_router
from kasacare.support.endpoints import router as support_router
from kasacare.web import kept_forms
from kasacare.web.account_pages import router as account_pages
from kasacare.web.activity_pages import router as activity_pages
from kasacare.web.auth_pages import router as auth_pages
from kasacare.web.billing_pages import router as billing_pages
from kasacare.web.camera_pages import router as camera_pages
from kasacare.web.deletion_pages import router as deletion_pages
from kasacare.web.errors import error_page
from kasacare.web.export_pages import router as export_pages
from kasacare.web.guard import Redirect, redirect_response
from kasacare.web.owner_pages import router as owner_pages
from kasacare.web.session import CSRF_KEYS
from kasacare.web.settings_pages import router as settings_pages
from kasacare.web.support_pages import router as support_pages

STATIC = Path(__file__).with_name("web") / "static"


def build_context(
    settings: Settings,
    *,
    catalog: Catalog | None = None,
    clock: Clock | None = None,
    gateway: PaymentGateway | None = None,
    storage: ClipStorage | None = None,
) -> AppContext:
    engine = create_db_engine(settings.database_url)
    sessions = session_factory(engine)
    if clock is None:
        clock = DatabaseTestClock(engine) if settings.test_clock else SystemClock()
    if gateway is None:
        # The gateway commits on connections of its own (SPEC M4); see payments.sandbox.
        gateway = SandboxGateway.for_service_database(settings.database_url)
    mqtt_url = settings.mqtt_url
    broker_target = parse_mqtt_url(mqtt_url.get_secret_value()) if mqtt_url else None
    return AppContext(
        settings=settings,
        catalog=catalog or load_catalog(settings.catalog_path),
        engine=engine,
        sessions=sessions,
        clock=clock,
        gateway=gateway,
        storage=storage or storage_from_url(settings.storage_url),
        signing_keys=signing_keys(settings, sessions),
        publisher=Publisher(broker_target) if broker_target else None,
        broker_control=BrokerControl(broker_target) if broker_target else None,
    )


def signing_keys(settings: Settings, sessions: sessionmaker[Session]) -> SigningKeys:
    """The configured masters; without one (development, the test clock: production refuses
    to start) a random master kept in the database."""
    masters = settings.signing_masters
    if masters:
        return SigningKeys(masters)
    return SigningKeys((), generate=partial(generated_master, sessions))


def body_limits(settings: Settings) -> Callable[[str], int]:
    """Each path's body limit: a clip upload's video plus its form, 1 MiB for the rest."""
    upload = settings.clip_max_bytes + UPLOAD_FORM_ALLOWANCE
    uploads = frozenset({UPLOAD_PATH, BARE_CLIPS_PATH})
    return lambda path: upload if path in uploads else DEFAULT_LIMIT


def media_origins(settings: Settings) -> tuple[str, ...]:
    """Where the web pages' players and thumbnails load from besides us: the S3 endpoint
    whose presigned URLs `GET /v1/clips/{id}` hands out (none on the local disk)."""
    location = parse_storage_url(settings.storage_url)
    if not isinstance(location, S3Location):
        return ()
    if location.endpoint_url is None:
        return ("https://*.amazonaws.com",)
    endpoint = urlsplit(location.endpoint_url)
    return (f"{endpoint.scheme}://{endpoint.netloc}",)


def create_app(context: AppContext) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # The deployment's shared secrets exist before the first request, so reads (GET
        # routes, pages) never write them.
        for use in (CLIP_URL_KEYS, CSRF_KEYS):
            context.signing_keys.keyring(use)
        # The embedded default runs its jobs in-process, each on its own timer (an interval
        # of 0 turns one off); the test clock runs the time-driven ones on advance.
        timer = job_timer(context)
        timer.start()
        yield
        timer.stop()

    app = FastAPI(
        title="Kasa Care",
        version=__version__,
        description="Cloud video subscriptions for Kasa cameras.",
        lifespan=lifespan,
    )
    app.state.context = context
    app.state.clip_ingest = ingest_batcher(context)
    install_error_handlers(app, error_page)
    install_problem_openapi(app)
    # Keys only for callers the service knows; never for the tokenizer (card numbers).
    app.add_middleware(
        IdempotencyMiddleware, exempt={TOKENIZER_PATH}, authenticate=known_caller(context)
    )
    # A clip upload with an unknown device token is refused before its body is read.
    app.add_middleware(
        DeviceGateMiddleware, paths={UPLOAD_PATH}, known=bound_camera_lookup(context.engine)
    )
    # Added last, so it runs first: no middleware or route reads a body over its limit.
    app.add_middleware(BodyLimitMiddleware, limit_for=body_limits(context.settings))
    app.add_middleware(
        SecurityHeadersMiddleware,
        media_origins=media_origins(context.settings),
        trusted_proxies=context.settings.trusted_networks,
    )
    for router in (
        accounts_router,
        self_service_router,
        deletion_router,
        export_router,
        catalog_router,
        cameras_router,
        devices_router,
        commands_router,
        payments_router,
        subscriptions_router,
        billing_router,
        notifications_router,
        legacy_router,
        support_router,
        clips_router,
    ):
        app.include_router(router)
    if context.settings.test_clock:
        app.include_router(admin_router)
    if context.settings.bench_bare_endpoint:  # `make bench` only (bench_routes.py)
        app.include_router(bench_router)
    for router in (
        auth_pages,
        camera_pages,
        owner_pages,
        activity_pages,
        billing_pages,
        settings_pages,
        account_pages,
        deletion_pages,
        export_pages,
        support_pages,
    ):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(Redirect)
    async def _to_sign_in(_: Request, error: Redirect) -> Response:
        response = redirect_response(error)
        if error.posted is not None and error.back_to is not None:
            await kept_forms.keep(error.posted, error.back_to, response)
        return response

    @app.get("/healthz", tags=["ops"], include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
