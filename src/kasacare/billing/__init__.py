"""Billing: invoices, credit notes, the credit balance, card charges and the refund outbox."""
