"""The PDF layout of a document (issue 14 item 2; loaded by `billing.pdf`), with fpdf2: one
A4 page (more if the lines need them) with the seller, the customer, the lines (net, rate,
tax, amount), the totals, how it was paid and the tax mention. Pure: a `DocumentView` in,
the PDF's bytes out."""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from kasacare.billing.documents import DocumentView
from kasacare.kit.money import format_money

_CORE_FONT = "helvetica"
_TTF = "document"


class _Document(FPDF):
    def __init__(self, font_path: Path | None) -> None:
        super().__init__(format="A4")
        self.unicode = font_path is not None
        if font_path is not None:
            self.add_font(_TTF, "", str(font_path))
            self.add_font(_TTF, "B", str(font_path))
            self.family = _TTF
        else:
            # The core fonts' Windows-1252 has £, € and •: the prices and cards need no more.
            self.core_fonts_encoding = "windows-1252"
            self.family = _CORE_FONT
        self.set_margins(18, 18, 18)
        self.set_auto_page_break(auto=True, margin=18)

    def text_of(self, text: str) -> str:
        """Characters the core font lacks become "?" (a TrueType font shows them all)."""
        if self.unicode:
            return text
        return text.encode("cp1252", "replace").decode("cp1252")

    def font(self, size: float, bold: bool = False) -> None:
        self.set_font(self.family, "B" if bold else "", size)

    def line_of(self, text: str, size: float = 10, bold: bool = False, height: float = 5) -> None:
        self.font(size, bold)
        self.multi_cell(0, height, self.text_of(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def render_pdf(view: DocumentView, font_path: Path | None = None) -> bytes:
    pdf = _Document(font_path)
    pdf.set_title(f"{view.title} {view.number}")
    pdf.set_author(view.seller.name)
    pdf.add_page()
    pdf.line_of(f"{view.title} {view.number}", size=18, bold=True, height=9)
    pdf.line_of(f"Issued {view.issued:%-d %b %Y} · {view.state}")
    if view.corrects:
        pdf.line_of(f"Corrects invoice {view.corrects}")
    pdf.ln(4)
    top = pdf.get_y()
    half = (pdf.w - pdf.l_margin - pdf.r_margin) / 2
    seller = [view.seller.name, *view.seller.address]
    if view.seller.tax_id:
        seller.append(f"VAT / tax ID: {view.seller.tax_id}")
    customer = list(view.customer)
    if view.customer_vat:
        customer.append(f"VAT number: {view.customer_vat}")
    for column, (heading, rows) in enumerate((("From", seller), ("Bill to", customer))):
        pdf.set_xy(pdf.l_margin + column * half, top)
        pdf.font(9, bold=True)
        pdf.cell(half, 5, heading, new_x=XPos.LEFT, new_y=YPos.NEXT)
        pdf.font(10)
        for row in rows:
            pdf.multi_cell(half - 4, 5, pdf.text_of(row), new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_xy(pdf.l_margin, max(pdf.get_y(), top + 5 * (max(len(seller), len(customer)) + 1)))
    pdf.ln(6)
    tax_name = view.tax.name if view.tax else "Tax"
    pdf.font(9)
    with pdf.table(
        col_widths=(78, 24, 18, 24, 26),
        text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT"),
        first_row_as_headings=True,
        line_height=5,
    ) as table:
        table.row(["Description", "Net", "Rate", tax_name, "Amount"])
        for line in view.lines:
            description = line.description + (f"\n{line.period}" if line.period else "")
            table.row(
                [
                    pdf.text_of(description),
                    format_money(line.net),
                    f"{line.rate}%" if line.rate is not None else "\u2013",
                    format_money(line.tax),
                    format_money(line.gross),
                ]
            )
    pdf.ln(4)
    tax_label = view.tax.label() if view.tax else "Tax"
    for label, amount, bold in (
        ("Net", view.net_total, False),
        (tax_label, view.tax_total, False),
        ("Total", view.total, True),
    ):
        pdf.font(10, bold)
        pdf.cell(140, 6, pdf.text_of(label), align="R")
        pdf.cell(30, 6, format_money(amount), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    if view.payment:
        pdf.line_of(view.payment)
    if view.tax is not None and view.tax.mention:
        pdf.line_of(view.tax.mention, size=9)
    elif view.tax is not None and view.tax.inclusive and view.tax.ratio:
        pdf.line_of(f"Prices include {view.tax.name} at {view.tax.rate}%.", size=9)
    return bytes(pdf.output())
