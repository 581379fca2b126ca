"""Benchmark 6: renewals. N monthly Plus subscribers, all due at one instant, renewed by two
`kasacare worker --once` processes at once (the test clock moved past their period's end),
against the raw cost of the same rows: per subscriber, one transaction with an INSERT of the
invoice, its line and its card payment and an UPDATE of the subscription, on two connections
at once."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, func, insert, select, update

from benchmarks.seed import ADMIN_TOKEN, api, cameras, card_on_file, expect, owner, service
from kasacare.billing.models import CardPayment, Invoice, InvoiceLine, InvoiceStatus
from kasacare.kit.db import TestClockRow, create_db_engine
from kasacare.subscriptions.models import Subscription

START = datetime(2026, 4, 1, tzinfo=UTC)
DUE = datetime(2026, 5, 1, tzinfo=UTC)
WORKERS = 2
_RAN = re.compile(r"ran (\d+) due job steps in ([0-9.]+) s")


@dataclass(frozen=True, slots=True)
class RenewalFigures:
    subscribers: int
    workers: int
    #: The slower worker's `run_due` (the wall time of the whole renewal run).
    seconds: float
    raw_seconds: float

    @property
    def rate(self) -> float:
        return self.subscribers / self.seconds

    @property
    def raw_rate(self) -> float:
        return self.subscribers / self.raw_seconds

    @property
    def ratio(self) -> float:
        return self.rate / self.raw_rate


def run(url: str, directory: Path, subscribers: int, log: Callable[[str], None]) -> RenewalFigures:
    log(f"seeding {subscribers:,} monthly Plus subscribers through the API")
    with service(url, directory / "clips", START) as context, api(context) as client:
        for index in range(subscribers):
            headers = owner(client, f"renew-{index}@example.com")
            card_on_file(client, headers, 2035)
            camera = cameras(client, headers, "KC120", 1)
            body = {"plan": "plus", "cycle": "monthly", "camera_ids": [str(c) for c in camera]}
            expect(client.post("/v1/subscription", json=body, headers=headers), 201)
    engine = create_db_engine(url)
    try:
        _set_test_clock(engine, DUE)
        log(f"{WORKERS} workers renew them")
        seconds = _workers(url, directory, subscribers)
        renewed = _paid_invoices(engine)
        if renewed != 2 * subscribers:
            raise RuntimeError(f"expected {2 * subscribers} paid invoices, found {renewed}")
        log("raw: the same rows' INSERTs and UPDATE, one transaction a subscriber")
        raw_seconds = _raw(engine)
    finally:
        engine.dispose()
    log(f"renewals {subscribers / seconds:,.0f}/s; raw {subscribers / raw_seconds:,.0f}/s")
    return RenewalFigures(subscribers, WORKERS, seconds, raw_seconds)


def _set_test_clock(engine: Engine, now: datetime) -> None:
    with engine.begin() as connection:
        if connection.execute(update(TestClockRow).values(now=now)).rowcount == 0:
            connection.execute(insert(TestClockRow).values(id=1, now=now))


def _workers(url: str, directory: Path, subscribers: int) -> float:
    kasacare = str(Path(sys.executable).parent / "kasacare")
    env = {
        "PATH": "/usr/bin:/bin",
        "KASACARE_DATABASE_URL": url,
        "KASACARE_STORAGE_URL": f"file://{directory / 'clips'}",
        "KASACARE_TEST_CLOCK": "1",
        "KASACARE_ADMIN_TOKEN": ADMIN_TOKEN,
    }
    processes = [
        subprocess.Popen(  # noqa: S603 (our own executable)
            [kasacare, "worker", "--once"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(WORKERS)
    ]
    outputs = [process.communicate(timeout=3600)[0] for process in processes]
    ran, seconds = 0, 0.0
    for process, output in zip(processes, outputs, strict=True):
        found = _RAN.search(output)
        if process.returncode != 0 or found is None:
            raise RuntimeError(f"a worker failed ({process.returncode}):\n{output[-3000:]}")
        ran += int(found.group(1))
        seconds = max(seconds, float(found.group(2)))
    if ran < subscribers:
        raise RuntimeError(f"the workers ran {ran} steps for {subscribers} due renewals")
    return seconds


def _paid_invoices(engine: Engine) -> int:
    with engine.connect() as connection:
        query = select(func.count()).where(Invoice.status == InvoiceStatus.PAID)
        return int(connection.execute(query).scalar_one())


def _raw(engine: Engine) -> float:
    """Per subscriber, in a transaction of its own: the invoice, its line, its card payment
    and the subscription's new period, on WORKERS connections at once."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(Subscription.id, Subscription.account_id, Subscription.current_period_end)
        ).all()
    shares = [rows[index::WORKERS] for index in range(WORKERS)]
    numbers = iter(range(10_000_000, 20_000_000))
    lock = threading.Lock()

    def number() -> str:
        with lock:
            return f"RAW-{next(numbers)}"

    def renew(share: list[tuple[uuid.UUID, uuid.UUID, datetime]]) -> None:
        for subscription_id, account_id, start in share:
            end = start + timedelta(days=31)
            invoice_id = uuid.uuid4()
            with engine.begin() as connection:
                connection.execute(
                    insert(Invoice).values(
                        id=invoice_id,
                        number=number(),
                        account_id=account_id,
                        subscription_id=subscription_id,
                        status=InvoiceStatus.PAID,
                        currency="USD",
                        total=399,
                        credit_used=0,
                        charged=399,
                        created_at=start,
                        paid_at=start,
                    )
                )
                connection.execute(
                    insert(InvoiceLine).values(
                        id=uuid.uuid4(),
                        invoice_id=invoice_id,
                        position=0,
                        description="Plus, 1 camera, monthly",
                        amount=399,
                        period_start=start,
                        period_end=end,
                    )
                )
                connection.execute(
                    insert(CardPayment).values(
                        id=uuid.uuid4(),
                        account_id=account_id,
                        invoice_id=invoice_id,
                        gateway_charge_id=f"raw_{invoice_id.hex}",
                        amount=399,
                        refunded=0,
                        currency="USD",
                        created_at=start,
                    )
                )
                connection.execute(
                    update(Subscription)
                    .where(Subscription.id == subscription_id)
                    .values(current_period_start=start, current_period_end=end)
                )

    threads = [threading.Thread(target=renew, args=(share,)) for share in shares]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started
