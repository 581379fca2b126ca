"""The `kasacare` command: serve, worker, migrate, simulate, secret-key, key-ids. Errors end
with one line and a non-zero exit."""

from __future__ import annotations

import gc
import logging
import os
import secrets
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from fastapi import FastAPI
from rich.console import Console
from uvicorn.supervisors.multiprocess import Multiprocess

from kasacare.app import build_context, create_app
from kasacare.catalog.loader import load_catalog
from kasacare.config import ConfigurationError, Settings, load_settings
from kasacare.jobs import (
    JobTimer,
    build_exports,
    deliver_commands,
    deliver_mail,
    probe_media,
    run_due,
    sweep_clips,
    sync_broker,
)
from kasacare.kit.clock import DatabaseTestClock, SystemClock
from kasacare.kit.db import create_db_engine, session_factory, session_scope
from kasacare.kit.errors import KasaCareError
from kasacare.kit.listeners import balanced_listeners_supported, bind_supervisor_listener
from kasacare.kit.migrate import current_revision, head_revision, upgrade
from kasacare.kit.signing_keys import key_id

cli = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    help="Kasa Care service",
)


def _settings() -> Settings:
    return load_settings()


@cli.command()
def migrate() -> None:
    """Migrate the database to the schema this code expects."""
    engine = create_db_engine(_settings().database_url)
    before = current_revision(engine)
    upgrade(engine)
    typer.echo(f"database at {head_revision(engine)} (was {before or 'empty'})")


#: How long the process supervisor waits for a worker's answer before replacing it.
WORKER_HEALTHCHECK_SECONDS = 60


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="API worker processes")] = 1,
) -> None:
    """Migrate (an empty or older database), then serve the API."""
    settings = _settings()
    load_catalog(settings.catalog_path)  # a broken catalog stops the start here, in one line
    engine = create_db_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if workers == 1:
        # proxy_headers off: the app alone reads X-Forwarded-For, and only from the proxies
        # in KASACARE_TRUSTED_PROXIES (`kit.clients`); uvicorn would trust any local peer.
        uvicorn.run(app_factory(), host=host, port=port, log_level="info", proxy_headers=False)
    else:
        config = uvicorn.Config(
            "kasacare.cli:app_factory",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="info",
            proxy_headers=False,
            # A worker answers the supervisor's health check only once its imports are done;
            # on a loaded machine that took longer than uvicorn's default 5 s, and the
            # supervisor then killed and respawned every worker, forever.
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
        )
        listener = (
            bind_supervisor_listener(host, port)
            if balanced_listeners_supported()
            else config.bind_socket()
        )
        Multiprocess(config, sockets=[listener]).run()


@cli.command()
def worker(
    once: Annotated[
        bool, typer.Option("--once", help="Run what is due now, once, then exit")
    ] = False,
    interval: Annotated[
        float | None,
        typer.Option(
            min=0.1, help="Seconds between job runs (default KASACARE_JOBS_INTERVAL_SECONDS, or 60)"
        ),
    ] = None,
) -> None:
    """Run the jobs without serving HTTP: renewals, dunning, reminders, refunds, the payment
    reconciler, the sweeper and mail. Any number of workers share the work (row locks); API
    nodes then run with KASACARE_JOBS_INTERVAL_SECONDS=0."""
    settings = _settings()
    engine = create_db_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    context = build_context(settings)
    if once:
        now = context.clock.now()
        started = time.perf_counter()
        ran = run_due(context, now)
        seconds = time.perf_counter() - started
        sweep_clips(context, now)
        probe_media(context, now)
        build_exports(context, now)
        sent = deliver_mail(context, now)
        deliver_commands(context, now)
        sync_broker(context, now)
        typer.echo(
            f"ran {ran} due job steps in {seconds:.3f} s, swept clips, sent {sent} mails "
            f"at {now.isoformat()}"
        )
        return
    every = interval or settings.jobs_interval_seconds or 60.0
    timer = JobTimer(
        context,
        every,
        sweep_interval=settings.sweep_interval_seconds,
        mail_interval=settings.mail_interval_seconds,
        media_interval=settings.media_interval_seconds,
        commands_interval=settings.commands_interval_seconds,
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    timer.start()
    typer.echo(f"kasacare worker: jobs every {every:g} s (Ctrl-C stops)")
    stop.wait()
    timer.stop()


@cli.command()
def simulate(
    cameras: Annotated[int, typer.Option(min=1, help="Cameras to register")] = 10,
    hours: Annotated[int, typer.Option(min=1, help="Simulated hours")] = 24,
    url: Annotated[
        str, typer.Option(help="The running service (loopback only, with KASACARE_TEST_CLOCK=1)")
    ] = "http://127.0.0.1:8000",
    admin_token: Annotated[
        str,
        typer.Option(envvar="KASACARE_ADMIN_TOKEN", show_default=False, help="The operator token"),
    ] = "",
    seed: Annotated[int, typer.Option(help="Random seed of the motion events")] = 1,
    rate: Annotated[float, typer.Option(help="Motion clips an hour per camera (mean)")] = 4.0,
    cancel_at_hour: Annotated[
        int | None,
        typer.Option(
            show_default=False,
            help="Hour at which the owner cancels Plus (default: half-way; 0: never)",
        ),
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=32, help="Parallel uploads")] = 4,
    mqtt: Annotated[
        bool,
        typer.Option(
            "--mqtt",
            help="Cameras take their commands over the service's MQTT broker "
            "(the service runs with KASACARE_MQTT_URL), not the long poll",
        ),
    ] = False,
) -> None:
    """Simulate a camera fleet against a running service with the test clock on: register
    cameras, upload motion clips while moving the clock, print what was stored, refused and
    erased."""
    from kasacare.simulator import SimulationConfig, print_summary
    from kasacare.simulator import simulate as run_simulation

    config = SimulationConfig(
        cameras=cameras,
        hours=hours,
        url=url,
        admin_token=admin_token,
        seed=seed,
        rate=rate,
        cancel_at_hour=cancel_at_hour,
        concurrency=concurrency,
        mqtt=mqtt,
    )
    console = Console()
    print_summary(run_simulation(config, console), console)


@cli.command("secret-key")
def secret_key() -> None:
    """Print a new random master for KASACARE_SECRET_KEY (rotation: move the current one to
    KASACARE_PREVIOUS_SECRET_KEYS first), and its key id."""
    master = secrets.token_urlsafe(48)
    typer.echo(master)
    typer.echo(f"key id {key_id(master.encode())}", err=True)


@cli.command("key-ids")
def key_ids() -> None:
    """The key ids of the configured masters, current first: which master signed a token."""
    masters = _settings().signing_masters
    if not masters:
        raise ConfigurationError(
            "KASACARE_SECRET_KEY is not set: this deployment keeps a generated master in the"
            " database (development only)"
        )
    for index, master in enumerate(masters):
        typer.echo(f"{key_id(master)} {'current' if index == 0 else 'previous'}")


devices = typer.Typer(no_args_is_help=True, help="The factory's device records (issue 12)")
cli.add_typer(devices, name="devices")


@devices.command("import")
def import_devices(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            help="CSV with the header serial,model,hardware_version,device_secret",
        ),
    ],
) -> None:
    """Provision devices from the factory's file, all in one transaction: a bad row stops
    the import with one line naming it, and nothing is added."""
    from kasacare.devices.importer import import_devices as run_import

    settings = _settings()
    engine = create_db_engine(settings.database_url)
    upgrade(engine)
    catalog = load_catalog(settings.catalog_path)
    console = Console(stderr=True)
    clock = DatabaseTestClock(engine) if settings.test_clock else SystemClock()
    with session_scope(session_factory(engine)) as session:
        added = run_import(session, catalog, clock.now(), file, console)
    engine.dispose()
    typer.echo(f"provisioned {added} devices")


@cli.command("mqtt-config")
def mqtt_config(
    out: Annotated[Path, typer.Option(file_okay=False, help="Directory to write into")],
) -> None:
    """Write the first state of Mosquitto's dynamic security plugin
    (`dynamic-security.json`): the service's broker user (from KASACARE_MQTT_URL) with the
    right to manage cameras' accounts, and every bound camera. Start a new broker with it;
    from then on the service keeps the broker's accounts current itself."""
    from kasacare.devices.broker_config import CONFIG_FILE, write_broker_config

    settings = _settings()
    if settings.mqtt_url is None:
        raise typer.BadParameter("set KASACARE_MQTT_URL (the service's broker user)")
    engine = create_db_engine(settings.database_url)
    upgrade(engine)
    with session_scope(session_factory(engine)) as session:
        cameras = write_broker_config(session, settings.mqtt_url.get_secret_value(), out)
    engine.dispose()
    typer.echo(f"wrote {out / CONFIG_FILE} ({cameras} cameras)")


def app_factory() -> FastAPI:
    """The app as the environment configures it (also uvicorn's factory for workers)."""
    app = create_app(build_context(_settings()))
    # What start-up built (modules, routes, schemas, mapped classes) lives as long as the
    # process: frozen, the cyclic collector stops scanning it on every full collection. Under
    # upload load those took 10% of a worker's Python time (issue 11 item 6; the bare
    # endpoint, which keeps few objects alive, none).
    gc.collect()
    gc.freeze()
    return app


def main() -> None:
    try:
        cli()
    except KasaCareError as error:
        typer.echo(f"kasacare: {error.detail}", err=True)
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
