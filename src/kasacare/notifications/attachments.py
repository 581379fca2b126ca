"""The PDF a receipt, refund or credit mail carries (issue 14 item 3): the document the
notification tells of, rendered as the app and the API serve it (`billing.pdf`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from kasacare.accounts.models import Account
from kasacare.billing import documents
from kasacare.billing import service as billing
from kasacare.billing.pdf import render_pdf
from kasacare.config import Settings
from kasacare.notifications.models import Kind, Notification

#: The kinds that tell of a document: its id's key in the data.
DOCUMENTS = {
    Kind.PAYMENT_RECEIVED: "invoice_id",
    Kind.REFUND_ISSUED: "credit_note_id",
    Kind.CREDIT_ADDED: "credit_note_id",
}


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content: bytes


def document_pdf(
    session: Session, settings: Settings, notification: Notification
) -> Attachment | None:
    """The PDF of the notification's document, or None when it tells of none."""
    key = DOCUMENTS.get(notification.kind)
    value = notification.data.get(key) if key else None
    if not value:
        return None
    account = session.get(Account, notification.account_id)
    assert account is not None, "a notification's account outlives it (cascade)"
    document_id = uuid.UUID(str(value))
    if key == "invoice_id":
        invoice = billing.invoice(session, account, document_id)
        view = documents.invoice_view(settings, account, invoice)
    else:
        note = billing.credit_note(session, account, document_id)
        view = documents.credit_note_view(session, settings, account, note)
    return Attachment(f"{view.number}.pdf", render_pdf(view, settings.pdf_font_path))
