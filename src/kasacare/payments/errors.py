"""Payment errors, raised by the card rules, the gateway and the card-on-file service.

    KasaCareError
     ├── CardInvalid                  422  card_invalid               Luhn, expiry, format, token
     ├── CardBrandNotSupported        422  card_brand_not_supported   names the accepted brands
     ├── IdempotencyKeyReused         422  idempotency_key_reused     same key, other request
     ├── CardDeclined                 402  card_declined              + decline_code member
     ├── PaymentMethodRequired        402  payment_method_required    no card on file
     ├── RefundExceedsCharge          409  refund_exceeds_charge      refunds > the charge
     └── NotFound
          └── ChargeNotFound          404  not_found                  unknown gateway charge

No message ever contains a card number or a CVC.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kasacare.catalog.schemas import CardBrand
from kasacare.kit.errors import KasaCareError, NotFound

BRAND_NAMES: dict[CardBrand, str] = {
    CardBrand.VISA: "Visa",
    CardBrand.MASTERCARD: "Mastercard",
    CardBrand.MAESTRO: "Maestro",
    CardBrand.AMEX: "American Express",
}


def accepted_brands_text(brands: Iterable[CardBrand]) -> str:
    """`Visa, Mastercard, Maestro and American Express`, in the order given."""
    names = [BRAND_NAMES[brand] for brand in brands]
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


class CardInvalid(KasaCareError):
    code = "card_invalid"
    status = 422
    title = "Invalid card"


class CardBrandNotSupported(KasaCareError):
    code = "card_brand_not_supported"
    status = 422
    title = "Card brand not supported"

    @classmethod
    def refusing(
        cls, brand_name: str | None, accepted: Iterable[CardBrand]
    ) -> CardBrandNotSupported:
        """The error for a card of `brand_name` (None: a brand we do not know at all),
        naming the accepted brands in their usual order (Visa, Mastercard, Maestro, Amex)."""
        listed = set(accepted)
        ordered = [brand for brand in CardBrand if brand in listed]
        refused = f"{brand_name} cards are" if brand_name else "This card brand is"
        return cls(
            f"{refused} not accepted. We accept {accepted_brands_text(ordered)}.",
            accepted_brands=[brand.value for brand in ordered],
        )


class IdempotencyKeyReused(KasaCareError):
    code = "idempotency_key_reused"
    status = 422
    title = "Idempotency key reused for a different request"


class CardDeclined(KasaCareError):
    """The gateway refused a charge. `decline_code` says why (`generic_decline`,
    `insufficient_funds`, `expired_card`); it is also a member of the problem body."""

    code = "card_declined"
    status = 402
    title = "Card declined"

    def __init__(self, detail: str | None = None, *, decline_code: str, **extra: Any) -> None:
        super().__init__(detail, decline_code=decline_code, **extra)
        self.decline_code = decline_code


class PaymentMethodRequired(KasaCareError):
    code = "payment_method_required"
    status = 402
    title = "A card on file is required"


class RefundExceedsCharge(KasaCareError):
    code = "refund_exceeds_charge"
    status = 409
    title = "Refunds would exceed the charge"


class ChargeNotFound(NotFound):
    title = "No such charge"
