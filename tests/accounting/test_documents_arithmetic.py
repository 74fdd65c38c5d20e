"""The sums of an invoice's lines, and check(): what staff must fix before a document is issued.

The document builders at the top are shared by test_documents_ubl.py and test_documents_pdf.py: realistic
documents of a Dutch photo shop (NL 21 % and 9 %, OSS to France at 20 % and 5.5 %, reverse charge to an
Italian company, a credit note), their amounts as WooCommerce computes them: per line, rounded half up.
"""

from dataclasses import replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import pytest

from accounting.documents import Document, DocumentLine, Party, Totals, VatSubtotal, check, totals, vat_subtotals
from accounting.documents.arithmetic import decimal_text, plain

SELLER = Party(name="Fotocadeau B.V.", street="Keizersgracht 123", postcode="1015 CJ", city="Amsterdam",
               country="NL", vat_id="NL123456789B01", email="facturen@fotocadeau.nl")
DUTCH_BUYER = Party(name="Anna de Vries", street="Oudegracht 12", postcode="3511 AB", city="Utrecht", country="NL",
                    email="anna.devries@example.nl")
FRENCH_BUYER = Party(name="Léa Martin", street="12 rue de Rivoli", postcode="75004", city="Paris", country="FR",
                     email="lea.martin@example.fr")
ITALIAN_COMPANY = Party(name="Giulia Rossi", company="Stampa Rapida S.r.l.", street="Via Roma 10", postcode="20121",
                        city="Milano", country="IT", region="MI", vat_id="IT12345678901",
                        email="amministrazione@stamparapida.it")


def line(description, quantity, unit_price, net, rate, vat, *, category="S", kind="item", sku=""):
    return DocumentLine(description=description, quantity=Decimal(quantity), unit_price=Decimal(unit_price),
                        net_amount=Decimal(net), vat_rate=Decimal(rate), vat_category=category,
                        vat_amount=Decimal(vat), kind=kind, sku=sku)


def document(lines, *, buyer=DUTCH_BUYER, **fields):
    """A document whose breakdown and totals are the sums of its lines (fields may override anything)."""
    lines = tuple(lines)
    sums = totals(lines)
    values = dict(kind="invoice", number="2026-000123", issue_date=date(2026, 3, 14), supply_date=None,
                  currency="EUR", seller=SELLER, buyer=buyer, lines=lines, vat_subtotals=vat_subtotals(lines),
                  net_total=sums.net_total, vat_total=sums.vat_total, gross_total=sums.gross_total,
                  order_number="4711", language="nl")
    values.update(fields)
    return Document(**values)


def dutch_invoice(**fields):
    """NL 21 % and 9 % (a book), a fractional quantity, shipping and a fee."""
    return document([
        line("Photo book A4, 40 pages", "2", "28.9256", "57.85", "21", "12.15", sku="BOOK-A4-40"),
        line("Children's picture book", "1", "18.30", "18.30", "9", "1.65", sku="BOOK-KIDS"),
        line("Canvas fabric (per metre)", "2.5", "12.00", "30.00", "21", "6.30", sku="CANVAS-ROLL"),
        line("Shipping: PostNL", "1", "4.95", "4.95", "21", "1.04", kind="shipping"),
        line("Gift wrapping", "1", "2.48", "2.48", "21", "0.52", kind="fee"),
    ], **fields)


def oss_invoice(**fields):
    """A French consumer above the OSS threshold: France's 20 % and 5.5 % (books), as WooCommerce charged."""
    return document([
        line("Photo mug", "3", "7.9167", "23.75", "20", "4.75", sku="MUG-11"),
        line("Cookbook, printed", "1", "18.96", "18.96", "5.5", "1.04", sku="BOOK-COOK"),
        line("Shipping: Colissimo", "1", "5.79", "5.79", "20", "1.16", kind="shipping"),
    ], **{"buyer": FRENCH_BUYER, "number": "2026-000124", "order_number": "4712", "language": "fr", **fields})


def reverse_charge_invoice(language="it", **fields):
    """A company in another member state with a valid VAT id: 0 %, VAT reverse charged (AE)."""
    return document([
        line("Canvas print 60×40", "10", "24.50", "245.00", "0", "0.00", category="AE", sku="CANVAS-6040"),
        line("Shipping: DHL", "1", "12.00", "12.00", "0", "0.00", category="AE", kind="shipping"),
    ], **{"buyer": ITALIAN_COMPANY, "number": "2026-000125", "order_number": "4713", "language": language,
          "reverse_charge": True, **fields})


def credit_note(**fields):
    """The refund of one photo book, the children's book and the shipping of invoice 2026-000123."""
    return document([
        line("Photo book A4, 40 pages", "1", "28.92", "28.92", "21", "6.07", sku="BOOK-A4-40"),
        line("Children's picture book", "1", "18.30", "18.30", "9", "1.65", sku="BOOK-KIDS"),
        line("Shipping: PostNL", "1", "4.95", "4.95", "21", "1.04", kind="shipping"),
    ], **{"kind": "credit_note", "number": "2026-000131", "issue_date": date(2026, 3, 20),
          "corrects_number": "2026-000123", "corrects_issue_date": date(2026, 3, 14), **fields})


def fifty_line_invoice(**fields):
    """A big order: 50 lines at 21 % and 9 %, some by the metre, each rounded as WooCommerce rounds it."""
    products = [("Photo mug", "MUG-11", "7.8512", "21"),
                ("Photo book A4, 40 pages", "BOOK-A4-40", "28.8430", "21"),
                ("Children's picture book", "BOOK-KIDS", "18.3486", "9"),
                ("Canvas fabric", "CANVAS-ROLL", "12.00", "21"),
                ("Calendar 2027, A3", "CAL-2027", "16.4876", "21")]
    lines = []
    for index in range(50):
        name, sku, price, rate = products[index % len(products)]
        quantity = Decimal("1.5") if sku == "CANVAS-ROLL" else Decimal(1 + index % 4)
        net = (quantity * Decimal(price)).quantize(Decimal("0.01"), ROUND_HALF_UP)
        vat = (net * Decimal(rate) / 100).quantize(Decimal("0.01"), ROUND_HALF_UP)
        lines.append(line(f"{name} (design {index + 1})", quantity, price, net, rate, vat, sku=f"{sku}-{index + 1}"))
    return document(lines, **{"number": "2026-000200", "order_number": "4800", **fields})


def documents():
    return {"dutch invoice": dutch_invoice(), "OSS invoice": oss_invoice(), "reverse charge": reverse_charge_invoice(),
            "credit note": credit_note(), "50 lines": fifty_line_invoice()}


D = Decimal


# -- sums ---------------------------------------------------------------------------------------------------------

def test_the_vat_breakdown_sums_the_lines_per_category_and_rate_highest_rate_first():
    # Given a Dutch invoice with items, shipping and a fee at 21 % and a book at 9 %
    invoice = dutch_invoice()

    # When its breakdown is made from its lines
    breakdown = vat_subtotals(invoice.lines)

    # Then there is one row per rate, with the lines' own amounts added up (shipping and fee included)
    assert breakdown == (VatSubtotal(category="S", rate=D("21"), taxable_amount=D("95.28"), vat_amount=D("20.01")),
                         VatSubtotal(category="S", rate=D("9"), taxable_amount=D("18.30"), vat_amount=D("1.65")))


def test_the_totals_add_every_line_shipping_and_fees_included():
    assert totals(dutch_invoice().lines) == Totals(net_total=D("113.58"), vat_total=D("21.66"), gross_total=D("135.24"))
    assert totals(oss_invoice().lines) == Totals(net_total=D("48.50"), vat_total=D("6.95"), gross_total=D("55.45"))


def test_a_rate_written_with_or_without_decimals_is_one_row_and_categories_stay_apart():
    # Given 21 written two ways, and a reverse-charged line at 0 beside a zero-rated one
    lines = [line("Mug", "1", "10.00", "10.00", "21", "2.10"), line("Mug", "1", "10.00", "10.00", "21.00", "2.10"),
             line("Print", "1", "5.00", "5.00", "0", "0.00", category="AE"),
             line("Newspaper", "1", "3.00", "3.00", "0", "0.00", category="Z")]

    # Then 21 % is one row, and AE and Z at 0 % are two
    assert [(s.category, s.rate, s.taxable_amount) for s in vat_subtotals(lines)] == [
        ("S", D("21"), D("20.00")), ("AE", D("0"), D("5.00")), ("Z", D("0"), D("3.00"))]


def test_no_lines_make_no_breakdown_and_zero_totals():
    assert vat_subtotals([]) == ()
    assert totals([]) == Totals(D("0.00"), D("0.00"), D("0.00"))


@pytest.mark.parametrize("value, places, expected", [
    ("9.5", 2, "9.50"), ("28.9256", 2, "28.9256"), ("12.150", 2, "12.15"), ("12.155", 2, "12.155"),
    ("0", 2, "0.00"), ("2.50", 0, "2.5"), ("21.00", 0, "21"), ("1E+1", 0, "10"), ("-4.9", 2, "-4.90")])
def test_decimals_are_written_without_exponent_and_with_the_decimals_they_need(value, places, expected):
    assert decimal_text(Decimal(value), places) == expected
    if places == 0:
        assert plain(Decimal(value)) == expected


# -- check: documents that add up -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["dutch invoice", "OSS invoice", "reverse charge", "credit note", "50 lines"])
def test_a_document_that_adds_up_and_says_what_it_must_has_no_problem(name):
    assert check(documents()[name]) == []


def test_woocommerces_rounding_per_line_is_not_a_problem():
    # Given three lines of 0.50 at 9 %: WooCommerce rounds each line's 0.045 up to 0.05, 0.15 in all,
    # where 1.50 × 9 % rounded once would be 0.14; the customer paid 0.15 (EN 16931 allows it, BR-CO-17)
    invoice = document([line(f"Sticker {n}", "1", "0.50", "0.50", "9", "0.05") for n in (1, 2, 3)])

    # Then the document is not held back for it
    assert invoice.vat_total == D("0.15")
    assert check(invoice) == []


# -- check: documents that do not add up -----------------------------------------------------------------------

def test_a_gross_total_that_is_not_net_plus_vat_is_reported_to_the_cent():
    # Given an invoice whose total incl. VAT is one cent off
    invoice = dutch_invoice(gross_total=D("135.25"))

    # Then check says so, with the figures
    assert check(invoice) == ["The total incl. VAT is 135.25, but 113.58 + 21.66 is 135.24."]


def test_a_net_total_that_leaves_out_the_shipping_is_reported():
    invoice = dutch_invoice(net_total=D("108.63"), gross_total=D("130.29"))

    assert check(invoice) == ["The total excl. VAT is 108.63, but the lines add up to 113.58."]


def test_a_vat_breakdown_that_does_not_match_the_lines_is_reported():
    # Given an invoice whose 21 % row says 20.00 of VAT where its lines say 20.01 (the totals follow the row)
    invoice = dutch_invoice()
    wrong = (replace(invoice.vat_subtotals[0], vat_amount=D("20.00")), invoice.vat_subtotals[1])
    invoice = replace(invoice, vat_subtotals=wrong, vat_total=D("21.65"), gross_total=D("135.23"))

    # Then the row is reported against its lines
    assert check(invoice) == ["VAT 21% (S): the VAT is 20.00, but the lines add up to 20.01."]


def test_a_breakdown_row_without_lines_and_lines_without_a_row_are_reported():
    invoice = dutch_invoice()
    invoice = replace(invoice, vat_subtotals=(invoice.vat_subtotals[0],
                                              VatSubtotal("S", D("6"), D("18.30"), D("1.65"))))

    assert check(invoice) == ["VAT 6% (S) in the VAT breakdown matches no line.",
                              "The VAT breakdown has no row for VAT 9% (S) of the lines."]


def test_a_total_vat_that_is_not_the_breakdowns_is_reported():
    invoice = dutch_invoice(vat_total=D("21.67"), gross_total=D("135.25"))

    assert check(invoice) == ["The total VAT is 21.67, but the VAT breakdown adds up to 21.66."]


def test_amounts_with_more_than_two_decimals_are_reported():
    # Given a line amount of 57.845 (with a unit price of 5 decimals), so that every sum has 3 decimals too
    invoice = dutch_invoice()
    lines = (replace(invoice.lines[0], unit_price=D("28.92251"), net_amount=D("57.845")),) + invoice.lines[1:]
    invoice = document(lines)

    # Then each amount is named once, where it is
    assert check(invoice) == [
        "Line 1: the unit price 28.92251 has more than 4 decimals.",
        "Line 1: the amount excl. VAT 57.845 has more than 2 decimals.",
        "VAT 21% (S): 95.275 has more than 2 decimals.",
        "Total excl. VAT: 113.575 has more than 2 decimals.",
        "Total incl. VAT: 135.235 has more than 2 decimals.",
    ]


def test_a_line_amount_that_is_not_quantity_times_price_is_reported():
    invoice = document([line("Photo mug", "3", "9.50", "28.40", "21", "5.96")])

    assert check(invoice) == ["Line 1: 3 × 9.50 is 28.50, not 28.40."]


def test_a_line_taxed_at_another_rate_than_it_says_is_reported():
    # Given the children's book charged 21 % VAT (3.84) while its rate says 9 %
    invoice = dutch_invoice()
    lines = list(invoice.lines)
    lines[1] = replace(lines[1], vat_amount=D("3.84"))
    invoice = document(lines)

    assert check(invoice) == ["Line 2: the VAT 3.84 is not 9% of 18.30 (1.65)."]


# -- check: what an invoice must show ---------------------------------------------------------------------------

def test_missing_number_order_number_seller_vat_id_and_customer_address_are_reported():
    invoice = dutch_invoice(number=" ", order_number="", seller=replace(SELLER, vat_id=""),
                            buyer=replace(DUTCH_BUYER, street="", city=""))

    assert check(invoice) == ["The document has no number.", "The document has no order number.",
                              "Seller: VAT number missing.", "Customer: street missing.", "Customer: city missing."]


def test_a_credit_note_must_say_which_invoice_it_corrects():
    assert check(credit_note(corrects_number="", corrects_issue_date=None)) == [
        "The credit note does not say which invoice it corrects."]
    assert check(credit_note(corrects_issue_date=date(2026, 3, 21))) == [
        "The credit note is dated before the invoice it corrects."]


def test_reverse_charge_needs_the_customers_vat_number():
    invoice = reverse_charge_invoice(buyer=replace(ITALIAN_COMPANY, vat_id=""))

    assert check(invoice) == [
        "Line 1: the customer accounts for the VAT (AE), so their VAT number must be on the document.",
        "Line 2: the customer accounts for the VAT (AE), so their VAT number must be on the document."]


def test_reverse_charged_lines_and_the_documents_reverse_charge_mark_go_together():
    # A reverse-charged line on a document not marked so would print no legal wording
    assert check(reverse_charge_invoice(reverse_charge=False)) == [
        "Line 1 is reverse charged (AE), but the document is not marked reverse charge: the legal wording "
        "would be missing.",
        "Line 2 is reverse charged (AE), but the document is not marked reverse charge: the legal wording "
        "would be missing."]
    # and a document marked reverse charge cannot charge VAT on a line
    assert check(dutch_invoice(reverse_charge=True, buyer=ITALIAN_COMPANY))[:2] == [
        "The document is marked reverse charge, but line 1 is VAT category S at 21%.",
        "The document is marked reverse charge, but line 2 is VAT category S at 9%."]


def test_categories_and_rates_must_agree():
    invoice = document([line("Print", "1", "5.00", "5.00", "21", "1.05", category="AE"),
                        line("Mug", "1", "5.00", "5.00", "0", "0.00", category="S"),
                        line("Card", "1", "5.00", "5.00", "0", "0.00", category="X")],
                       buyer=ITALIAN_COMPANY, reverse_charge=True)

    assert check(invoice) == [
        "Line 1: VAT category AE has a rate and VAT of 0, not 21% and 1.05.",
        "Line 2: standard-rated VAT (S) needs a rate above 0.",
        "The document is marked reverse charge, but line 2 is VAT category S at 0%.",
        "Line 3: unknown VAT category X.",
    ]


def test_kind_currency_language_and_codes_are_checked():
    invoice = dutch_invoice(kind="receipt", currency="euro", language="de",
                            buyer=replace(DUTCH_BUYER, country="Netherlands"), seller=replace(SELLER, vat_id="123"))

    assert check(invoice) == [
        "Unknown document kind receipt: expected an invoice or a credit note.",
        "The currency euro is not a three-letter ISO 4217 code.",
        "The language de is not one of en, nl, fr, es, it.",
        "Seller: the VAT number 123 does not start with its country code.",
        "Customer: the country Netherlands is not a two-letter ISO 3166 code.",
    ]


def test_lines_must_be_there_with_a_description_and_a_positive_quantity():
    assert check(document([])) == ["The document has no lines."]
    assert check(document([line(" ", "0", "9.50", "0.00", "21", "0.00"),
                           line("Discount", "1", "-5.00", "-5.00", "21", "-1.05")])) == [
        "Line 1 has no description.",
        "Line 1: the quantity must be more than 0, not 0.",
        "Line 2: the unit price -5.00 is negative (a discount belongs in the item amounts).",
        "The total is negative: amounts on invoices and credit notes are positive.",
    ]
