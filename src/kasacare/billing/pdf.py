"""A document as a PDF (issue 14 item 2). The layout (`billing.pdf_layout`, fpdf2 with
fontTools and Pillow) is loaded on the first PDF, not at start: it weighs about 50 MB of
memory, which a node that never renders a PDF should not carry (the 1 GB body test keeps a
serving process under 200 MB RSS)."""

from __future__ import annotations

from pathlib import Path

from kasacare.billing.documents import DocumentView


def render_pdf(view: DocumentView, font_path: Path | None = None) -> bytes:
    from kasacare.billing.pdf_layout import render_pdf as render  # lazily: see above

    return render(view, font_path)
