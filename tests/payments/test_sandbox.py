"""The sandbox gateway (SPEC M3, M4): tokens, idempotent charges and refunds, declines, caps,
and commits of its own that no rollback of the service can undo."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import ORMExecuteState, Session

from kasacare.accounts.models import Account, Role
from kasacare.catalog.schemas import CardBrand
from kasacare.context import AppContext
from kasacare.kit.clock import FixedClock
from kasacare.kit.money import Money
from kasacare.payments.cards import ChargeBehaviour, Funding
from kasacare.payments.errors import (
    CardDeclined,
    CardInvalid,
    ChargeNotFound,
    IdempotencyKeyReused,
    RefundExceedsCharge,
)
from kasacare.payments.gateway import CardDetails, Charge, ChargeRequest, PaymentGateway
from kasacare.payments.models import SandboxCharge, SandboxRefund, SandboxToken
from kasacare.payments.sandbox import SandboxGateway, sandbox_database_url
from tests.payments.helpers import (
    AMEX,
    DECLINES,
    DECLINES_AFTER_ATTACH,
    INSUFFICIENT_FUNDS,
    MASTERCARD,
    VISA,
    VISA_DEBIT,
)

USD_399 = Money(399, "USD")


def _token(gateway: SandboxGateway, clock: FixedClock, number: str = VISA, **fields: int) -> str:
    return gateway.tokenize(
        number=number,
        exp_month=fields.get("exp_month", 12),
        exp_year=fields.get("exp_year", 2030),
        cvc="7351" if number == AMEX else "737",
        now=clock.now(),
    )


def _count(gateway: SandboxGateway, model: type[SandboxCharge | SandboxRefund]) -> int:
    with Session(gateway.engine) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_m3_sandbox_is_a_payment_gateway(gateway: SandboxGateway) -> None:
    as_protocol: PaymentGateway = gateway
    assert as_protocol is gateway


def test_m3_token_keeps_brand_funding_last4_expiry_and_behaviour_only(
    gateway: SandboxGateway, clock: FixedClock
) -> None:
    token = _token(gateway, clock, VISA_DEBIT, exp_month=7, exp_year=2029)
    assert token.startswith("tok_") and VISA_DEBIT not in token
    assert gateway.describe(token) == CardDetails(CardBrand.VISA, Funding.DEBIT, "5556", 7, 2029)
    with Session(gateway.engine) as session:
        row = session.get(SandboxToken, token)
    assert row is not None
    assert (row.brand, row.funding, row.last4, row.exp_month, row.exp_year, row.behaviour) == (
        CardBrand.VISA,
        Funding.DEBIT,
        "5556",
        7,
        2029,
        ChargeBehaviour.SUCCEED,
    )


def test_m3_every_token_is_new(gateway: SandboxGateway, clock: FixedClock) -> None:
    assert _token(gateway, clock) != _token(gateway, clock)


@pytest.mark.parametrize("token", ["tok_nope", "tok_\x00", "x" * 300, ""])
def test_m3_unknown_token_is_card_invalid(
    gateway: SandboxGateway, clock: FixedClock, token: str
) -> None:
    with pytest.raises(CardInvalid, match=r"^Unknown card token$"):
        gateway.attach(token, now=clock.now())
    with pytest.raises(CardInvalid, match=r"^Unknown card token$"):
        gateway.charge(token="tok_nope", amount=USD_399, idempotency_key="k", now=clock.now())


def test_m3_card_expiring_after_attach_declines_charges(
    gateway: SandboxGateway, clock: FixedClock
) -> None:
    token = _token(gateway, clock, exp_month=3, exp_year=2026)  # valid through March 2026
    gateway.attach(token, now=clock.now())
    clock.set(datetime(2026, 4, 1, tzinfo=UTC))
    with pytest.raises(CardInvalid, match=r"^The card has expired$"):
        gateway.attach(token, now=clock.now())
    with pytest.raises(CardDeclined) as raised:
        gateway.charge(token=token, amount=USD_399, idempotency_key="k", now=clock.now())
    assert raised.value.decline_code == "expired_card"


def test_m3_good_cards_charge(gateway: SandboxGateway, clock: FixedClock) -> None:
    for number in (VISA, VISA_DEBIT, MASTERCARD, AMEX):
        token = _token(gateway, clock, number)
        charge = gateway.charge(
            token=token, amount=USD_399, idempotency_key=f"k:{number}", now=clock.now()
        )
        assert (charge.token, charge.amount, charge.created_at) == (token, USD_399, clock.now())
        assert charge.id.startswith("ch_") and charge.amount_refunded == Money(0, "USD")
    assert _count(gateway, SandboxCharge) == 4


@pytest.mark.parametrize(
    ("number", "decline_code", "detail"),
    [
        (DECLINES, "generic_decline", "The card was declined"),
        (INSUFFICIENT_FUNDS, "insufficient_funds", "The card was declined: insufficient funds"),
        (DECLINES_AFTER_ATTACH, "generic_decline", "The card was declined"),
    ],
)
def test_m3_declining_test_cards_attach_then_decline_every_charge(
    gateway: SandboxGateway, clock: FixedClock, number: str, decline_code: str, detail: str
) -> None:
    token = _token(gateway, clock, number)
    assert gateway.attach(token, now=clock.now()).last4 == number[-4:]
    for attempt in range(2):
        with pytest.raises(CardDeclined) as raised:
            gateway.charge(
                token=token, amount=USD_399, idempotency_key=f"k{attempt}", now=clock.now()
            )
        error = raised.value
        assert (error.code, error.status, error.decline_code) == (
            "card_declined",
            402,
            decline_code,
        )
        assert error.detail == detail and error.extra == {"decline_code": decline_code}
    assert _count(gateway, SandboxCharge) == 0


def test_m4_same_key_same_amount_returns_the_first_charge(
    gateway: SandboxGateway, clock: FixedClock
) -> None:
    token = _token(gateway, clock)
    key = "renewal:sub-1:2026-03-01T12:00:00+00:00"
    first = gateway.charge(token=token, amount=USD_399, idempotency_key=key, now=clock.now())
    clock.set(datetime(2026, 3, 2, tzinfo=UTC))
    again = gateway.charge(token=token, amount=USD_399, idempotency_key=key, now=clock.now())
    assert again == first
    assert _count(gateway, SandboxCharge) == 1


def test_m4_same_key_after_card_change_returns_the_first_charge(
    gateway: SandboxGateway, clock: FixedClock
) -> None:
    """The key names what is paid for: it was paid, whatever card is on file now."""
    first = gateway.charge(
        token=_token(gateway, clock), amount=USD_399, idempotency_key="k", now=clock.now()
    )
    other_card = _token(gateway, clock, MASTERCARD)
    again = gateway.charge(token=other_card, amount=USD_399, idempotency_key="k", now=clock.now())
    assert again == first
    assert _count(gateway, SandboxCharge) == 1


@pytest.mark.parametrize("amount", [Money(400, "USD"), Money(399, "EUR")])
def test_m4_same_key_other_amount_is_refused(
    gateway: SandboxGateway, clock: FixedClock, amount: Money
) -> None:
    token = _token(gateway, clock)
    gateway.charge(token=token, amount=USD_399, idempotency_key="k", now=clock.now())
    with pytest.raises(IdempotencyKeyReused) as raised:
        gateway.charge(token=token, amount=amount, idempotency_key="k", now=clock.now())
    assert (raised.value.code, raised.value.status) == ("idempotency_key_reused", 422)
    assert _count(gateway, SandboxCharge) == 1


def test_m4_declined_attempt_stores_nothing_so_a_retry_with_the_same_key_can_succeed(
    gateway: SandboxGateway, clock: FixedClock
) -> None:
    key = "renewal:sub-1:2026-03-01T12:00:00+00:00"
    declining = _token(gateway, clock, DECLINES_AFTER_ATTACH)
    with pytest.raises(CardDeclined):
        gateway.charge(token=declining, amount=USD_399, idempotency_key=key, now=clock.now())
    assert _count(gateway, SandboxCharge) == 0
    replaced = _token(gateway, clock, VISA)
    charge = gateway.charge(token=replaced, amount=USD_399, idempotency_key=key, now=clock.now())
    assert charge.token == replaced
    assert _count(gateway, SandboxCharge) == 1


def test_m4_concurrent_charges_with_one_key_charge_once(
    gateway: SandboxGateway, clock: FixedClock
) -> None:
    token = _token(gateway, clock)
    now = clock.now()

    def charge(_: int) -> str:
        return gateway.charge(token=token, amount=USD_399, idempotency_key="k", now=now).id

    with ThreadPoolExecutor(max_workers=4) as pool:
        ids = set(pool.map(charge, range(8)))
    assert len(ids) == 1
    assert _count(gateway, SandboxCharge) == 1


@pytest.mark.parametrize("amount", [Money(0, "USD"), Money(-1, "USD")])
def test_m6_gateway_amounts_are_positive(
    gateway: SandboxGateway, clock: FixedClock, amount: Money
) -> None:
    token = _token(gateway, clock)
    with pytest.raises(ValueError, match="positive"):
        gateway.charge(token=token, amount=amount, idempotency_key="k", now=clock.now())
    charge = gateway.charge(token=token, amount=USD_399, idempotency_key="k", now=clock.now())
    with pytest.raises(ValueError, match="positive"):
        gateway.refund(charge_id=charge.id, amount=amount, idempotency_key="r", now=clock.now())


def test_m4_refund_is_idempotent_by_key(gateway: SandboxGateway, clock: FixedClock) -> None:
    charge = gateway.charge(
        token=_token(gateway, clock), amount=USD_399, idempotency_key="k", now=clock.now()
    )
    key = f"refund:note-1:{charge.id}"
    first = gateway.refund(
        charge_id=charge.id, amount=Money(100, "USD"), idempotency_key=key, now=clock.now()
    )
    again = gateway.refund(
        charge_id=charge.id, amount=Money(100, "USD"), idempotency_key=key, now=clock.now()
    )
    assert again == first
    assert (first.charge_id, first.amount) == (charge.id, Money(100, "USD"))
    assert _count(gateway, SandboxRefund) == 1
    current = gateway.get_charge(charge.id)
    assert (current.amount_refunded, current.refundable) == (Money(100, "USD"), Money(299, "USD"))


def test_m4_refund_key_reused_for_another_refund_is_refused(
    gateway: SandboxGateway, clock: FixedClock
) -> None:
    token = _token(gateway, clock)
    one = gateway.charge(token=token, amount=USD_399, idempotency_key="k1", now=clock.now())
    two = gateway.charge(token=token, amount=USD_399, idempotency_key="k2", now=clock.now())
    gateway.refund(charge_id=one.id, amount=Money(100, "USD"), idempotency_key="r", now=clock.now())
    with pytest.raises(IdempotencyKeyReused):
        gateway.refund(
            charge_id=one.id, amount=Money(101, "USD"), idempotency_key="r", now=clock.now()
        )
    with pytest.raises(IdempotencyKeyReused):
        gateway.refund(
            charge_id=two.id, amount=Money(100, "USD"), idempotency_key="r", now=clock.now()
        )
    assert _count(gateway, SandboxRefund) == 1


def test_m6_refunds_of_a_charge_never_exceed_it(gateway: SandboxGateway, clock: FixedClock) -> None:
    charge = gateway.charge(
        token=_token(gateway, clock), amount=USD_399, idempotency_key="k", now=clock.now()
    )
    with pytest.raises(RefundExceedsCharge) as raised:
        gateway.refund(
            charge_id=charge.id, amount=Money(400, "USD"), idempotency_key="r0", now=clock.now()
        )
    assert raised.value.extra == {"refundable": 399}
    gateway.refund(
        charge_id=charge.id, amount=Money(200, "USD"), idempotency_key="r1", now=clock.now()
    )
    gateway.refund(
        charge_id=charge.id, amount=Money(199, "USD"), idempotency_key="r2", now=clock.now()
    )
    with pytest.raises(RefundExceedsCharge) as raised:
        gateway.refund(
            charge_id=charge.id, amount=Money(1, "USD"), idempotency_key="r3", now=clock.now()
        )
    assert (raised.value.code, raised.value.status) == ("refund_exceeds_charge", 409)
    assert gateway.get_charge(charge.id).refundable == Money(0, "USD")
    # The full refunds can still be replayed by key.
    again = gateway.refund(
        charge_id=charge.id, amount=Money(199, "USD"), idempotency_key="r2", now=clock.now()
    )
    assert again.amount == Money(199, "USD")
    assert _count(gateway, SandboxRefund) == 2


def test_m6_refund_in_another_currency_is_refused(
    gateway: SandboxGateway, clock: FixedClock
) -> None:
    charge = gateway.charge(
        token=_token(gateway, clock), amount=USD_399, idempotency_key="k", now=clock.now()
    )
    with pytest.raises(ValueError, match="USD"):
        gateway.refund(
            charge_id=charge.id, amount=Money(1, "EUR"), idempotency_key="r", now=clock.now()
        )


def test_m4_refund_of_an_unknown_charge(gateway: SandboxGateway, clock: FixedClock) -> None:
    with pytest.raises(ChargeNotFound) as raised:
        gateway.refund(
            charge_id="ch_nope", amount=Money(1, "USD"), idempotency_key="r", now=clock.now()
        )
    assert (raised.value.code, raised.value.status) == ("not_found", 404)
    with pytest.raises(ChargeNotFound):
        gateway.get_charge("ch_nope")


def test_m4_charge_survives_a_rollback_of_the_services_transaction(
    context: AppContext, gateway: SandboxGateway, clock: FixedClock
) -> None:
    token = _token(gateway, clock)
    account_id = uuid.uuid4()
    with context.sessions() as session:
        # The service's use case writes (holding its write lock), charges, then fails.
        session.add(
            Account(
                id=account_id,
                email="rollback@example.com",
                password_hash="x",
                role=Role.OWNER,
                country="US",
                currency="USD",
                created_at=clock.now(),
            )
        )
        session.flush()
        charge = gateway.charge(token=token, amount=USD_399, idempotency_key="k", now=clock.now())
        session.rollback()
    with context.sessions() as session:
        assert session.get(Account, account_id) is None
    assert gateway.get_charge(charge.id) == charge
    # A rerun of the use case with the same key charges nothing more.
    gateway.charge(token=token, amount=USD_399, idempotency_key="k", now=clock.now())
    assert _count(gateway, SandboxCharge) == 1


@pytest.mark.parametrize(
    ("service_url", "sandbox_url"),
    [
        ("sqlite:///./var/kasacare.db", "sqlite:///var/kasacare.sandbox-gateway.db"),
        ("sqlite:////tmp/x/k.db", "sqlite:////tmp/x/k.sandbox-gateway.db"),
        ("postgresql://postgres@127.0.0.1:5432/kc", "postgresql://postgres@127.0.0.1:5432/kc"),
    ],
)
def test_m4_sandbox_database(service_url: str, sandbox_url: str) -> None:
    assert sandbox_database_url(service_url) == sandbox_url


# Batches of charges (`charge_many`, the `BatchCharging` of the renewal batch)


def _request(token: str, key: str, amount: int = 399, currency: str = "USD") -> ChargeRequest:
    return ChargeRequest(token, Money(amount, currency), key)


def _charges(answers: list[Charge | CardDeclined]) -> list[Charge]:
    return [answer for answer in answers if isinstance(answer, Charge)]


def test_m4_charge_many_answers_in_order_a_decline_in_its_place_storing_nothing_for_it(
    gateway: SandboxGateway, clock: FixedClock
) -> None:
    good, declines, poor = (_token(gateway, clock, n) for n in (VISA, DECLINES, INSUFFICIENT_FUNDS))
    answers = gateway.charge_many(
        [
            _request(good, "k1"),
            _request(declines, "k2"),
            _request(good, "k3", 798),
            _request(poor, "k4", 100),
        ],
        now=clock.now(),
    )

    first, declined, third, poorly = answers
    assert isinstance(first, Charge) and isinstance(third, Charge)
    assert [(c.idempotency_key, c.amount, c.token) for c in (first, third)] == [
        ("k1", USD_399, good),
        ("k3", Money(798, "USD"), good),
    ]
    assert isinstance(declined, CardDeclined) and declined.decline_code == "generic_decline"
    assert isinstance(poorly, CardDeclined) and poorly.decline_code == "insufficient_funds"
    # Each charge answered as it stands in the gateway's books; the declines stored nothing.
    assert [gateway.get_charge(c.id) for c in (first, third)] == [first, third]
    assert first.amount_refunded == Money(0, "USD")
    assert _count(gateway, SandboxCharge) == 2
    assert (gateway.find_charge("k2"), gateway.find_charge("k4")) == (None, None)
    # So a declined key stays free: the same key with a good card charges.
    retried = gateway.charge(token=good, amount=USD_399, idempotency_key="k2", now=clock.now())
    assert (retried.idempotency_key, retried.amount) == ("k2", USD_399)
    assert _count(gateway, SandboxCharge) == 3


def test_m4_charge_many_again_answers_the_first_charges_and_charges_nothing_more(
    gateway: SandboxGateway, clock: FixedClock
) -> None:
    token = _token(gateway, clock)
    single = gateway.charge(token=token, amount=USD_399, idempotency_key="k0", now=clock.now())
    first = _charges(
        gateway.charge_many([_request(token, "k1"), _request(token, "k2", 798)], now=clock.now())
    )
    # 100 of the first is refunded meanwhile: a repeat answers the charge as it stands.
    gateway.refund(
        charge_id=first[0].id, amount=Money(100, "USD"), idempotency_key="r", now=clock.now()
    )
    clock.set(datetime(2026, 3, 2, tzinfo=UTC))

    again = gateway.charge_many(
        [_request(token, "k1"), _request(token, "k2", 798), _request(token, "k0")],
        now=clock.now(),
    )

    assert again == [gateway.get_charge(first[0].id), first[1], single]
    assert isinstance(again[0], Charge)
    assert (again[0].amount_refunded, again[0].refundable) == (Money(100, "USD"), Money(299, "USD"))
    assert _count(gateway, SandboxCharge) == 3


@pytest.mark.parametrize("amount", [Money(400, "USD"), Money(399, "EUR")])
def test_m4_charge_many_with_a_key_reused_for_another_amount_charges_nothing_of_it(
    gateway: SandboxGateway, clock: FixedClock, amount: Money
) -> None:
    token = _token(gateway, clock)
    gateway.charge(token=token, amount=USD_399, idempotency_key="k1", now=clock.now())
    reused = ChargeRequest(token, amount, "k1")
    with pytest.raises(IdempotencyKeyReused) as raised:
        gateway.charge_many([_request(token, "k2"), reused, _request(token, "k3")], now=clock.now())
    assert (raised.value.code, raised.value.status) == ("idempotency_key_reused", 422)
    # The whole call is refused: nothing of it charged, its other keys still free.
    assert _count(gateway, SandboxCharge) == 1
    assert (gateway.find_charge("k2"), gateway.find_charge("k3")) == (None, None)


def test_m4_charge_many_with_one_key_twice_charges_it_once(
    gateway: SandboxGateway, clock: FixedClock
) -> None:
    """The batch's insert of the second falls foul of the key's unique index: the call falls
    back to one charge at a time, the second answering the first."""
    token = _token(gateway, clock)
    one, two, again = gateway.charge_many(
        [_request(token, "k1"), _request(token, "k2"), _request(token, "k1")], now=clock.now()
    )
    assert isinstance(one, Charge) and isinstance(two, Charge)
    assert again == one and two.idempotency_key == "k2"
    assert _count(gateway, SandboxCharge) == 2


def test_m4_charge_many_with_one_key_twice_for_another_amount_charges_nothing_of_it(
    gateway: SandboxGateway, clock: FixedClock
) -> None:
    """`BatchCharging`: an error other than a decline raises for the whole call and charges
    nothing of it, here too."""
    token = _token(gateway, clock)
    with pytest.raises(IdempotencyKeyReused):
        gateway.charge_many(
            [_request(token, "k1"), _request(token, "k2"), _request(token, "k1", 400)],
            now=clock.now(),
        )
    assert _count(gateway, SandboxCharge) == 0
    assert (gateway.find_charge("k1"), gateway.find_charge("k2")) == (None, None)


def test_m4_concurrent_charge_many_calls_with_the_same_keys_charge_each_once(
    gateway: SandboxGateway, clock: FixedClock
) -> None:
    token = _token(gateway, clock)
    now = clock.now()
    keys = [f"k{n}" for n in range(5)]

    def batch(_: int) -> list[str]:
        answers = gateway.charge_many([_request(token, key) for key in keys], now=now)
        return [charge.id for charge in _charges(answers)]

    with ThreadPoolExecutor(max_workers=4) as pool:
        answered = list(pool.map(batch, range(4)))
    assert all(ids == answered[0] for ids in answered) and len(set(answered[0])) == 5
    assert _count(gateway, SandboxCharge) == 5


def test_m4_charge_many_with_a_key_charged_concurrently_falls_back_and_charges_once(
    context: AppContext, gateway: SandboxGateway, clock: FixedClock
) -> None:
    """Deterministically: another call charges k2 and commits between the batch's read of
    the keys and its insert (PostgreSQL: a second writer can commit meanwhile)."""
    if gateway.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: no charge can commit meanwhile")
    token = _token(gateway, clock)
    armed = [True]
    concurrent: list[Charge] = []

    def before_insert(execution: ORMExecuteState) -> None:
        table = getattr(execution.statement, "table", None)
        if execution.is_insert and table is SandboxCharge.__table__ and armed:
            armed.clear()  # once: not again when the batch reads again
            concurrent.append(
                gateway.charge(token=token, amount=USD_399, idempotency_key="k2", now=clock.now())
            )

    event.listen(Session, "do_orm_execute", before_insert)
    try:
        answers = gateway.charge_many(
            [_request(token, "k1"), _request(token, "k2")], now=clock.now()
        )
    finally:
        event.remove(Session, "do_orm_execute", before_insert)

    one, two = answers
    assert isinstance(one, Charge) and one.idempotency_key == "k1"
    assert two == concurrent[0]
    assert _count(gateway, SandboxCharge) == 2
