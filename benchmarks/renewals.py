"""Benchmark 6: renewals. N monthly Plus subscribers, all due at one instant, renewed by two
`kasacare worker --once` processes at once (the test clock moved past their period's end),
against the raw cost of the same rows, on two connections at once: per subscriber the INSERT
of the invoice, its line and its card payment and the UPDATE of the subscription, once in a
transaction each (what a renewal cost before batches) and once 100 subscribers a transaction
(the same batches as the workers': the ratio the goal is read against)."""

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

from sqlalchemy import Engine, bindparam, func, insert, select, update

from benchmarks.seed import ADMIN_TOKEN, api, cameras, card_on_file, expect, owner, service
from kasacare.billing.models import CardPayment, Invoice, InvoiceLine, InvoiceStatus
from kasacare.kit.db import TestClockRow, create_db_engine, table_of
from kasacare.subscriptions.models import Subscription

START = datetime(2026, 4, 1, tzinfo=UTC)
DUE = datetime(2026, 5, 1, tzinfo=UTC)
WORKERS = 2
#: Subscribers a transaction in the batched raw figure: the workers' page (`jobs.run_due`).
RAW_BATCH = 100
_RAN = re.compile(r"ran (\d+) due job steps in ([0-9.]+) s")


@dataclass(frozen=True, slots=True)
class RenewalFigures:
    subscribers: int
    workers: int
    #: The slower worker's `run_due` (the wall time of the whole renewal run).
    seconds: float
    raw_seconds: float
    #: The same rows, `RAW_BATCH` subscribers a transaction (multi-row INSERTs).
    raw_batch_seconds: float

    @property
    def rate(self) -> float:
        return self.subscribers / self.seconds

    @property
    def raw_rate(self) -> float:
        return self.subscribers / self.raw_seconds

    @property
    def raw_batch_rate(self) -> float:
        return self.subscribers / self.raw_batch_seconds

    @property
    def ratio(self) -> float:
        """Against the raw rows in the same batches."""
        return self.rate / self.raw_batch_rate


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
        raw_seconds = _raw(engine, 1)
        log(f"raw: the same, {RAW_BATCH} subscribers a transaction")
        raw_batch_seconds = _raw(engine, RAW_BATCH)
    finally:
        engine.dispose()
    log(
        f"renewals {subscribers / seconds:,.0f}/s; raw {subscribers / raw_batch_seconds:,.0f}/s "
        f"in batches, {subscribers / raw_seconds:,.0f}/s a transaction each"
    )
    return RenewalFigures(subscribers, WORKERS, seconds, raw_seconds, raw_batch_seconds)


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


def _raw(engine: Engine, per_transaction: int) -> float:
    """The invoice, its line, its card payment and the subscription's new period of every
    subscriber, `per_transaction` subscribers a transaction, on WORKERS connections at once."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(Subscription.id, Subscription.account_id, Subscription.current_period_end)
        ).all()
    shares = [rows[index::WORKERS] for index in range(WORKERS)]
    numbers = iter(range(10_000_000, 20_000_000))
    lock = threading.Lock()

    def number() -> str:
        with lock:
            return f"RAW{per_transaction}-{next(numbers)}"  # each call its own numbers

    def renew(share: list[tuple[uuid.UUID, uuid.UUID, datetime]]) -> None:
        for first in range(0, len(share), per_transaction):
            invoices, lines, payments, periods = [], [], [], []
            for subscription_id, account_id, start in share[first : first + per_transaction]:
                end = start + timedelta(days=31)
                invoice_id = uuid.uuid4()
                invoices.append(
                    {
                        "id": invoice_id,
                        "number": number(),
                        "account_id": account_id,
                        "subscription_id": subscription_id,
                        "status": InvoiceStatus.PAID,
                        "currency": "USD",
                        "total": 399,
                        "credit_used": 0,
                        "charged": 399,
                        "created_at": start,
                        "paid_at": start,
                    }
                )
                lines.append(
                    {
                        "id": uuid.uuid4(),
                        "invoice_id": invoice_id,
                        "position": 0,
                        "description": "Plus, 1 camera, monthly",
                        "amount": 399,
                        "period_start": start,
                        "period_end": end,
                    }
                )
                payments.append(
                    {
                        "id": uuid.uuid4(),
                        "account_id": account_id,
                        "invoice_id": invoice_id,
                        "gateway_charge_id": f"raw_{invoice_id.hex}",
                        "amount": 399,
                        "refunded": 0,
                        "currency": "USD",
                        "created_at": start,
                    }
                )
                periods.append({"row_id": subscription_id, "start": start, "end": end})
            subscriptions = table_of(Subscription)
            with engine.begin() as connection:
                connection.execute(insert(table_of(Invoice)), invoices)
                connection.execute(insert(table_of(InvoiceLine)), lines)
                connection.execute(insert(table_of(CardPayment)), payments)
                connection.execute(
                    update(subscriptions)
                    .where(subscriptions.c.id == bindparam("row_id"))
                    .values(
                        current_period_start=bindparam("start"),
                        current_period_end=bindparam("end"),
                    ),
                    periods,
                )

    failures: list[BaseException] = []

    def run(share: list[tuple[uuid.UUID, uuid.UUID, datetime]]) -> None:
        try:
            renew(share)
        except BaseException as failure:
            failures.append(failure)

    threads = [threading.Thread(target=run, args=(share,)) for share in shares]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError("the raw renewals failed") from failures[0]
    return time.perf_counter() - started
