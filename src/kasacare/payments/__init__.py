"""Payments: the card rules, the payment gateway interface, the embedded sandbox gateway and
the account's card on file (SPEC M1-M4).

    cards.py        pure card rules: Luhn, expiry, brand by IIN, the published test cards
    errors.py       every payment error (the hierarchy is drawn there)
    gateway.py      the PaymentGateway Protocol and its value types
    sandbox.py      SandboxGateway: the real embedded gateway, committing on its own
    models.py       sandbox_* tables (the gateway's) and payment_methods (the service's)
    service.py      card on file use cases: tokenize, set, get, require
"""
