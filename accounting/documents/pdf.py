"""An invoice or credit note as an A4 PDF (reportlab), in the document's language.

The labels go through gettext inside `translation.override(document.language)`, so the project's locale files
translate them, and numbers and dates are written the way that language writes them. The reverse-charge
wording is a legal statement (VAT Directive art. 226(11a)), not a label: it comes from the table below so that
it is never missing nor left in English. The same document always gives the same bytes (reportlab's invariant
mode: no creation time, no random id), so a PDF made again for an issued invoice can be compared with the first.
"""

from functools import partial
from io import BytesIO
from xml.sax.saxutils import escape

from django.utils import formats, translation
from django.utils.translation import pgettext
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import BaseDocTemplate, Frame, Image, PageTemplate, Paragraph, Spacer, Table, TableStyle

from accounting.documents.arithmetic import decimal_text

# The wording each language's tax authority expects on a reverse-charge invoice (invoicing.md).
REVERSE_CHARGE = {
    "en": "Reverse charge",
    "nl": "btw verlegd",
    "fr": "autoliquidation",
    "es": "inversión del sujeto pasivo",
    "it": "inversione contabile",
}
CURRENCY_SIGNS = {"EUR": "€", "GBP": "£", "USD": "$"}
SIGN_AFTER = ("fr", "es", "it")  # "12,50 €" there, "€ 12,50" in Dutch, "€12.50" in English
# Bitstream Vera ships inside reportlab (no system font needed) and covers the accents of our five languages.
FONT, BOLD = "DocumentSans", "DocumentSans-Bold"
pdfmetrics.registerFont(TTFont(FONT, "Vera.ttf"))
pdfmetrics.registerFont(TTFont(BOLD, "VeraBd.ttf"))

MARGIN = 18 * mm
WIDTH = A4[0] - 2 * MARGIN
LOGO_BOX = (50 * mm, 22 * mm)
GREY = colors.HexColor("#555555")
RULE = colors.HexColor("#bbbbbb")
TEXT = ParagraphStyle("text", fontName=FONT, fontSize=9, leading=12)
RIGHT = ParagraphStyle("right", parent=TEXT, alignment=TA_RIGHT)
HEAD = ParagraphStyle("head", parent=TEXT, fontName=BOLD, fontSize=8, leading=10)
HEAD_RIGHT = ParagraphStyle("head_right", parent=HEAD, alignment=TA_RIGHT)
TITLE = ParagraphStyle("title", parent=TEXT, fontName=BOLD, fontSize=18, leading=22)
SELLER_NAME = ParagraphStyle("seller_name", parent=TEXT, fontName=BOLD, fontSize=13, leading=16)
LEGAL = ParagraphStyle("legal", parent=TEXT, fontName=BOLD, fontSize=10, leading=13)
# Description, quantity, unit price excl. VAT, VAT rate, amount excl. VAT, VAT
LINE_COLUMNS = [WIDTH - 114 * mm, 20 * mm, 26 * mm, 16 * mm, 28 * mm, 24 * mm]


def to_pdf(document, *, logo_path=None):
    """The document as an A4 PDF, its labels in document.language; logo_path: an image file for the header."""
    with translation.override(document.language):
        buffer = BytesIO()
        pages = BaseDocTemplate(buffer, pagesize=A4, title=f"{_title(document)} {document.number}",
                                author=_display_name(document.seller), invariant=True)
        # No padding inside the frame: the tables and the paragraphs line up on the margin.
        frame = Frame(MARGIN, MARGIN + 8 * mm, WIDTH, A4[1] - 2 * MARGIN - 8 * mm, leftPadding=0, rightPadding=0,
                      topPadding=0, bottomPadding=0)
        footer = partial(_footer, document.seller)
        pages.addPageTemplates([PageTemplate(id="page", frames=[frame], onPage=footer)])
        pages.build(_story(document, logo_path))
        return buffer.getvalue()


def _footer(seller, canvas, pages):
    canvas.saveState()
    canvas.setFont(FONT, 7.5)
    canvas.setFillColor(GREY)
    canvas.drawString(MARGIN, MARGIN, " · ".join(
        part for part in (_display_name(seller), seller.vat_id, seller.email) if part))
    page = pgettext("invoice", "Page %(page)s") % {"page": canvas.getPageNumber()}
    canvas.drawRightString(A4[0] - MARGIN, MARGIN, page)
    canvas.restoreState()


def _story(document, logo_path):
    story = [_header(document, logo_path), Spacer(1, 10 * mm), _paragraph(_title(document), TITLE),
             Spacer(1, 4 * mm), _addressee_and_facts(document), Spacer(1, 8 * mm), _lines_table(document),
             Spacer(1, 6 * mm), _sums(document)]
    if document.reverse_charge:
        story += [Spacer(1, 5 * mm), _paragraph(_reverse_charge(document.language), LEGAL)]
    if document.paid:
        paid = pgettext("invoice", "Refunded") if document.kind == "credit_note" else pgettext("invoice", "Paid")
        story += [Spacer(1, 3 * mm), _paragraph(paid, TEXT)]
    if document.note.strip():
        story += [Spacer(1, 4 * mm), _paragraph(document.note, TEXT)]
    return story


def _paragraph(text, style):
    """Text as a Paragraph: escaped (reportlab reads markup), its line breaks kept."""
    return Paragraph("<br/>".join(escape(line) for line in text.splitlines()), style)


def _title(document):
    return pgettext("invoice", "Credit note") if document.kind == "credit_note" else pgettext("invoice", "Invoice")


def _reverse_charge(language):
    return REVERSE_CHARGE.get(language, REVERSE_CHARGE["en"])


def _display_name(party):
    return party.company or party.name


def _address_lines(party):
    lines = [party.company, party.name if party.name != party.company else "", party.street,
             " ".join(part for part in (party.postcode, party.city) if part), party.region, party.country]
    return [line for line in lines if line and line.strip()]


def _vat_number(party):
    return pgettext("invoice", "VAT number: %(vat_id)s") % {"vat_id": party.vat_id}


def _header(document, logo_path):
    seller = document.seller
    details = [line for line in _address_lines(seller) if line != _display_name(seller)]
    details += [_vat_number(seller)] if seller.vat_id else []
    details += [seller.email] if seller.email else []
    if logo_path:
        left, right = _logo(logo_path), [_paragraph(_display_name(seller), HEAD_RIGHT)]
    else:
        left, right = _paragraph(_display_name(seller), SELLER_NAME), []
    right.append(_paragraph("\n".join(details), RIGHT))
    table = Table([[left, right]], colWidths=[WIDTH / 2, WIDTH / 2])
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (0, 0), 0),
                               ("RIGHTPADDING", (-1, 0), (-1, 0), 0)]))
    return table


def _logo(logo_path):
    width, height = ImageReader(logo_path).getSize()
    scale = min(LOGO_BOX[0] / width, LOGO_BOX[1] / height)
    logo = Image(logo_path, width=width * scale, height=height * scale)
    logo.hAlign = "LEFT"
    return logo


def _addressee_and_facts(document):
    buyer = document.buyer
    addressee = [_paragraph(pgettext("invoice", "Customer"), HEAD), _paragraph("\n".join(_address_lines(buyer)), TEXT)]
    if buyer.vat_id:
        addressee.append(_paragraph(_vat_number(buyer), TEXT))
    if document.kind == "credit_note":
        facts = [(pgettext("invoice", "Credit note number"), document.number),
                 (pgettext("invoice", "Credit note date"), _date(document.issue_date))]
    else:
        facts = [(pgettext("invoice", "Invoice number"), document.number),
                 (pgettext("invoice", "Invoice date"), _date(document.issue_date))]
    if document.supply_date and document.supply_date != document.issue_date:
        facts.append((pgettext("invoice", "Date of supply"), _date(document.supply_date)))
    facts.append((pgettext("invoice", "Order number"), document.order_number))
    rows = [[_paragraph(label, HEAD), _paragraph(value, TEXT)] for label, value in facts]
    style = [("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
             ("TOPPADDING", (0, 0), (-1, -1), 1), ("BOTTOMPADDING", (0, 0), (-1, -1), 1)]
    if document.kind == "credit_note" and document.corrects_number:
        rows.append([_paragraph(_corrected_invoice(document), TEXT), ""])
        style.append(("SPAN", (0, -1), (-1, -1)))
    facts_table = Table(rows, colWidths=[38 * mm, WIDTH / 2 - 38 * mm])
    facts_table.setStyle(TableStyle(style))
    table = Table([[addressee, facts_table]], colWidths=[WIDTH / 2, WIDTH / 2])
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (0, 0), 0)]))
    return table


def _corrected_invoice(document):
    if document.corrects_issue_date:
        return pgettext("invoice", "Credit note for invoice %(number)s of %(date)s") % {
            "number": document.corrects_number, "date": _date(document.corrects_issue_date)}
    return pgettext("invoice", "Credit note for invoice %(number)s") % {"number": document.corrects_number}


def _lines_table(document):
    currency = document.currency
    heads = [pgettext("invoice", "Description"), pgettext("invoice", "Quantity"),
             pgettext("invoice", "Unit price excl. VAT"), pgettext("invoice", "VAT rate"),
             pgettext("invoice", "Amount excl. VAT"), pgettext("invoice", "VAT")]
    rows = [[_paragraph(heads[0], HEAD)] + [_paragraph(head, HEAD_RIGHT) for head in heads[1:]]]
    for line in document.lines:
        description = escape(line.description)
        if line.sku:
            description += f'<br/><font size="7" color="#555555">{escape(line.sku)}</font>'
        rows.append([Paragraph(description, TEXT), _number(line.quantity, places=0),
                     _money(line.unit_price, currency), _rate(line.vat_rate),
                     _money(line.net_amount, currency), _money(line.vat_amount, currency)])
    table = Table(rows, colWidths=LINE_COLUMNS, repeatRows=1)
    table.setStyle(TableStyle([
        ("FONTNAME", (0, 1), (-1, -1), FONT), ("FONTSIZE", (0, 1), (-1, -1), 9),
        ("ALIGN", (1, 1), (-1, -1), "RIGHT"), ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black), ("LINEBELOW", (0, 1), (-1, -1), 0.25, RULE),
        ("LEFTPADDING", (0, 0), (0, -1), 0), ("RIGHTPADDING", (-1, 0), (-1, -1), 0),
    ]))
    return table


def _sums(document):
    """The VAT per rate (left) beside the totals (right)."""
    currency = document.currency
    breakdown = [[_paragraph(pgettext("invoice", "VAT rate"), HEAD),
                  _paragraph(pgettext("invoice", "Taxable amount"), HEAD_RIGHT),
                  _paragraph(pgettext("invoice", "VAT"), HEAD_RIGHT)]]
    for subtotal in document.vat_subtotals:
        breakdown.append([_paragraph(_vat_label(subtotal, document.language), TEXT),
                          _money(subtotal.taxable_amount, currency), _money(subtotal.vat_amount, currency)])
    vat_table = Table(breakdown, colWidths=[40 * mm, 24 * mm, 20 * mm])
    vat_table.setStyle(TableStyle([
        ("FONTNAME", (0, 1), (-1, -1), FONT), ("FONTSIZE", (0, 1), (-1, -1), 9),
        ("ALIGN", (1, 1), (-1, -1), "RIGHT"), ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.black), ("LEFTPADDING", (0, 0), (0, -1), 0),
    ]))
    totals = [[pgettext("invoice", "Total excl. VAT"), _money(document.net_total, currency)],
              [pgettext("invoice", "Total VAT"), _money(document.vat_total, currency)],
              [pgettext("invoice", "Total incl. VAT"), _money(document.gross_total, currency)]]
    totals_table = Table(totals, colWidths=[44 * mm, 30 * mm])
    totals_table.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, -1), FONT), ("FONTSIZE", (0, 0), (-1, -1), 9),
        ("ALIGN", (1, 0), (1, -1), "RIGHT"), ("FONTNAME", (0, -1), (-1, -1), BOLD),
        ("FONTSIZE", (0, -1), (-1, -1), 10.5), ("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.black),
        ("RIGHTPADDING", (-1, 0), (-1, -1), 0),
    ]))
    table = Table([[vat_table, totals_table]], colWidths=[WIDTH - 76 * mm, 76 * mm])
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (0, 0), 0),
                               ("RIGHTPADDING", (-1, 0), (-1, 0), 0), ("ALIGN", (1, 0), (1, 0), "RIGHT")]))
    return table


def _vat_label(subtotal, language):
    """The rate of a VAT breakdown row, and why no VAT is charged where none is."""
    reason = {
        "AE": _reverse_charge(language),
        "Z": pgettext("invoice", "Zero rate"),
        "E": pgettext("invoice", "Exempt from VAT"),
        "K": pgettext("invoice", "Intra-Community supply"),
        "G": pgettext("invoice", "Export outside the EU"),
    }.get(subtotal.category)
    return f"{_rate(subtotal.rate)} – {reason}" if reason else _rate(subtotal.rate)


def _date(value):
    return formats.date_format(value, "DATE_FORMAT")


def _number(value, *, places):
    """A number the way the active language writes it: 1,234.5 in English, 1.234,5 in Dutch."""
    text = decimal_text(value, places)
    sign, text = ("-", text[1:]) if text.startswith("-") else ("", text)
    whole, dot, decimals = text.partition(".")
    thousands = formats.get_format("THOUSAND_SEPARATOR")
    groups = []
    while len(whole) > 3:
        whole, group = whole[:-3], whole[-3:]
        groups.insert(0, group)
    whole = thousands.join([whole] + groups)
    return sign + whole + (formats.get_format("DECIMAL_SEPARATOR") + decimals if decimals else "")


def _money(value, currency):
    number = _number(value, places=2)
    sign = CURRENCY_SIGNS.get(currency, currency)
    language = translation.get_language()
    if language in SIGN_AFTER:
        return f"{number}\xa0{sign}"
    if language == "en" and sign in CURRENCY_SIGNS.values():
        return f"{sign}{number}"
    return f"{sign}\xa0{number}"


def _rate(rate):
    return f"{_number(rate, places=0)}%"
