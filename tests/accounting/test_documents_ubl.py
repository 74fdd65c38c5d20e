"""UBL 2.1 invoices and credit notes (Peppol BIS Billing 3.0): valid against the OASIS schema, and adding up.

The EN 16931 business rules that can be checked offline are written out below (`en16931_problems`), reading
the XML back as a receiver would, some stricter than the official ones (BR-CO-17 to the cent). CEN's official
rules run on the same documents in test_documents_schematron.py.
"""

from dataclasses import replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import pytest
from lxml import etree

from accounting.documents.ubl import to_ubl
from accounting.documents.validation import validate_ubl
from tests.accounting.test_documents_arithmetic import (
    ITALIAN_COMPANY,
    credit_note,
    document,
    documents,
    dutch_invoice,
    line,
    oss_invoice,
    reverse_charge_invoice,
)

NS = {"cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
      "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"}
INVOICE = "{urn:oasis:names:specification:ubl:schema:xsd:Invoice-2}Invoice"
CREDIT_NOTE = "{urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2}CreditNote"
CUSTOMIZATION_ID = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PROFILE_ID = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
SUPPLIER = "cac:AccountingSupplierParty/cac:Party"
CUSTOMER = "cac:AccountingCustomerParty/cac:Party"
D = Decimal


def texts(node, path):
    return [element.text for element in node.xpath(path, namespaces=NS)]


def text(node, path):
    found = texts(node, path)
    return found[0] if found else None


def amount(node, path, default=None):
    found = text(node, path)
    return Decimal(found) if found is not None else default


def en16931_problems(xml, *, rounded_per_line=False):
    """The EN 16931 / Peppol BIS 3.0 rules that need no code lists, each as "RULE: what is wrong".

    BR-CO-17 is held to the cent: the breakdown's VAT is its taxable amount × rate, rounded once. A document
    whose VAT WooCommerce rounded line by line (rounded_per_line) may differ by the half cent each line can add;
    the official schematron allows a whole currency unit.
    """
    root = etree.fromstring(xml)
    credit = root.tag == CREDIT_NOTE
    line_tag, quantity_tag = ("cac:CreditNoteLine", "cbc:CreditedQuantity") if credit else \
        ("cac:InvoiceLine", "cbc:InvoicedQuantity")
    problems = []
    mandatory = [("BR-01", "cbc:CustomizationID"), ("PEPPOL-EN16931-R001", "cbc:ProfileID"), ("BR-02", "cbc:ID"),
                 ("BR-03", "cbc:IssueDate"), ("BR-04", "cbc:CreditNoteTypeCode" if credit else "cbc:InvoiceTypeCode"),
                 ("BR-05", "cbc:DocumentCurrencyCode"),
                 ("BR-06", f"{SUPPLIER}/cac:PartyLegalEntity/cbc:RegistrationName"),
                 ("BR-07", f"{CUSTOMER}/cac:PartyLegalEntity/cbc:RegistrationName"),
                 ("BR-08", f"{SUPPLIER}/cac:PostalAddress"),
                 ("BR-09", f"{SUPPLIER}/cac:PostalAddress/cac:Country/cbc:IdentificationCode"),
                 ("BR-10", f"{CUSTOMER}/cac:PostalAddress"),
                 ("BR-11", f"{CUSTOMER}/cac:PostalAddress/cac:Country/cbc:IdentificationCode"),
                 ("BR-12", "cac:LegalMonetaryTotal/cbc:LineExtensionAmount"),
                 ("BR-13", "cac:LegalMonetaryTotal/cbc:TaxExclusiveAmount"),
                 ("BR-14", "cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount"),
                 ("BR-15", "cac:LegalMonetaryTotal/cbc:PayableAmount"), ("BR-16", line_tag),
                 ("BR-CO-18", "cac:TaxTotal/cac:TaxSubtotal")]
    if credit:
        mandatory.append(("BR-55 (art. 219)", "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID"))
    for rule, path in mandatory:
        found = root.xpath(path, namespaces=NS)
        if not found or (len(found[0]) == 0 and not (found[0].text or "").strip()):
            problems.append(f"{rule}: {path} is missing")
    if not (text(root, "cbc:BuyerReference") or text(root, "cac:OrderReference/cbc:ID")):
        problems.append("PEPPOL-EN16931-R003: neither a buyer reference nor an order reference")

    # Lines (BR-21 … BR-27, BR-CO-04) and their sum (BR-CO-10)
    lines = root.xpath(line_tag, namespaces=NS)
    line_groups, line_counts = {}, {}
    for element in lines:
        number = text(element, "cbc:ID")
        for rule, path in [("BR-21", "cbc:ID"), ("BR-22", quantity_tag), ("BR-24", "cbc:LineExtensionAmount"),
                           ("BR-25", "cac:Item/cbc:Name"), ("BR-26", "cac:Price/cbc:PriceAmount"),
                           ("BR-CO-04", "cac:Item/cac:ClassifiedTaxCategory/cbc:ID")]:
            if not text(element, path):
                problems.append(f"{rule}: line {number} has no {path}")
        if not element.xpath(f"{quantity_tag}/@unitCode", namespaces=NS):
            problems.append(f"BR-23: line {number} has no unit code")
        if amount(element, "cac:Price/cbc:PriceAmount", D(0)) < 0:
            problems.append(f"BR-27: line {number} has a negative price")
        key = (text(element, "cac:Item/cac:ClassifiedTaxCategory/cbc:ID"),
               amount(element, "cac:Item/cac:ClassifiedTaxCategory/cbc:Percent", D(0)))
        if key[0] == "S" and key[1] <= 0:
            problems.append(f"BR-S-05: line {number} is standard rated at {key[1]}")
        if key[0] == "AE" and key[1] != 0:
            problems.append(f"BR-AE-05: line {number} is reverse charged at {key[1]}")
        line_groups[key] = line_groups.get(key, D(0)) + amount(element, "cbc:LineExtensionAmount", D(0))
        line_counts[key] = line_counts.get(key, 0) + 1
    line_sum = sum(line_groups.values(), D(0))
    totals = root.xpath("cac:LegalMonetaryTotal", namespaces=NS)[0]
    line_extension = amount(totals, "cbc:LineExtensionAmount", D(0))
    if line_sum != line_extension:
        problems.append(f"BR-CO-10: the lines add up to {line_sum}, LineExtensionAmount is {line_extension}")

    # Document totals (BR-CO-13, BR-CO-15, BR-CO-16)
    tax_exclusive = amount(totals, "cbc:TaxExclusiveAmount", D(0))
    expected = line_extension - amount(totals, "cbc:AllowanceTotalAmount", D(0)) + amount(
        totals, "cbc:ChargeTotalAmount", D(0))
    if tax_exclusive != expected:
        problems.append(f"BR-CO-13: TaxExclusiveAmount is {tax_exclusive}, not {expected}")
    tax_total = amount(root, "cac:TaxTotal/cbc:TaxAmount", D(0))
    tax_inclusive = amount(totals, "cbc:TaxInclusiveAmount", D(0))
    if tax_inclusive != tax_exclusive + tax_total:
        problems.append(f"BR-CO-15: TaxInclusiveAmount is {tax_inclusive}, not {tax_exclusive} + {tax_total}")
    payable = amount(totals, "cbc:PayableAmount", D(0))
    expected = tax_inclusive - amount(totals, "cbc:PrepaidAmount", D(0)) + amount(
        totals, "cbc:PayableRoundingAmount", D(0))
    if payable != expected:
        problems.append(f"BR-CO-16: PayableAmount is {payable}, not {expected}")

    # VAT breakdown (BR-CO-14, BR-CO-17, BR-S-08, BR-AE-08/09/10, BR-AE-02)
    subtotals = root.xpath("cac:TaxTotal/cac:TaxSubtotal", namespaces=NS)
    subtotal_sum = sum((amount(s, "cbc:TaxAmount", D(0)) for s in subtotals), D(0))
    if subtotal_sum != tax_total:
        problems.append(f"BR-CO-14: the VAT breakdown adds up to {subtotal_sum}, the total VAT is {tax_total}")
    seen = set()
    for subtotal in subtotals:
        category = text(subtotal, "cac:TaxCategory/cbc:ID")
        rate = amount(subtotal, "cac:TaxCategory/cbc:Percent", D(0))
        taxable, vat = amount(subtotal, "cbc:TaxableAmount", D(0)), amount(subtotal, "cbc:TaxAmount", D(0))
        seen.add((category, rate))
        expected = (taxable * rate / 100).quantize(D("0.01"), ROUND_HALF_UP)
        slack = D("0.005") * (line_counts.get((category, rate), 0) + 1) if rounded_per_line else D(0)
        if abs(vat - expected) > slack:
            problems.append(f"BR-CO-17: {category} {rate}: VAT {vat}, not {taxable} × {rate} % = {expected}")
        if taxable != line_groups.get((category, rate)):
            problems.append(f"BR-{category}-08: {category} {rate}: taxable {taxable}, lines "
                            f"{line_groups.get((category, rate))}")
        if category == "AE":
            if rate != 0 or vat != 0:
                problems.append(f"BR-AE-06/09: reverse charge at {rate} with VAT {vat}")
            if not (text(subtotal, "cac:TaxCategory/cbc:TaxExemptionReason")
                    or text(subtotal, "cac:TaxCategory/cbc:TaxExemptionReasonCode")):
                problems.append("BR-AE-10: reverse charge without an exemption reason")
            for party, rule in ((SUPPLIER, "seller"), (CUSTOMER, "buyer")):
                if not text(root, f"{party}/cac:PartyTaxScheme/cbc:CompanyID"):
                    problems.append(f"BR-AE-02: reverse charge without the {rule}'s VAT identifier")
    for key in line_groups:
        if key not in seen:
            problems.append(f"BR-{key[0]}-01: lines of {key[0]} {key[1]} have no VAT breakdown")

    # At most 2 decimals in every amount but prices (BR-DEC-*)
    for element in root.iter():
        if element.get("currencyID") and etree.QName(element).localname not in ("PriceAmount", "BaseAmount"):
            if Decimal(element.text).as_tuple().exponent < -2:
                problems.append(f"BR-DEC: {etree.QName(element).localname} {element.text} has more than 2 decimals")
    return problems


def parsed(document):
    return etree.fromstring(to_ubl(document))


# -- every document: schema-valid and adding up ----------------------------------------------------------------

@pytest.mark.parametrize("name", ["dutch invoice", "OSS invoice", "reverse charge", "credit note"])
def test_the_ubl_is_valid_against_the_oasis_schema_and_keeps_the_en16931_rules(name):
    # Given one of the shop's documents
    document = documents()[name]

    # When it is written as UBL
    xml = to_ubl(document)

    # Then the UBL 2.1 schema accepts it and the offline business rules hold when the XML is read back
    assert xml.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert validate_ubl(xml) == []
    assert en16931_problems(xml) == []


def test_fifty_lines_rounded_line_by_line_are_valid_and_differ_only_by_that_rounding():
    # Given 50 lines whose VAT WooCommerce rounded one by one (21 %: 306.80, where 1460.86 × 21 % is 306.78)
    xml = to_ubl(documents()["50 lines"])

    # Then the schema accepts it, every sum holds, and the breakdown's VAT is what the lines charged
    assert validate_ubl(xml) == []
    assert en16931_problems(xml, rounded_per_line=True) == []
    assert [problem.split(":")[0] for problem in en16931_problems(xml)] == ["BR-CO-17", "BR-CO-17"]


@pytest.mark.parametrize("tamper, rules", [
    (lambda xml: xml.replace(b'<cbc:LineExtensionAmount currencyID="EUR">57.85<',
                             b'<cbc:LineExtensionAmount currencyID="EUR">57.86<'), ["BR-CO-10", "BR-S-08"]),
    (lambda xml: xml.replace(b'<cbc:TaxAmount currencyID="EUR">20.01<', b'<cbc:TaxAmount currencyID="EUR">20.02<'),
     ["BR-CO-14", "BR-CO-17"]),
    (lambda xml: xml.replace(b'<cbc:TaxInclusiveAmount currencyID="EUR">135.24<',
                             b'<cbc:TaxInclusiveAmount currencyID="EUR">135.240<'), ["BR-DEC"]),
    (lambda xml: xml.replace(b'<cbc:TaxInclusiveAmount currencyID="EUR">135.24<',
                             b'<cbc:TaxInclusiveAmount currencyID="EUR">135.241<'), ["BR-CO-15", "BR-CO-16", "BR-DEC"]),
    (lambda xml: xml.replace(b"<cbc:BuyerReference>4711</cbc:BuyerReference>", b"").replace(
        b"<cbc:ID>4711</cbc:ID>", b"<cbc:ID></cbc:ID>"), ["PEPPOL-EN16931-R003"]),
    (lambda xml: xml.replace(b"<cbc:Name>Gift wrapping</cbc:Name>", b""), ["BR-25"]),
])
def test_the_rule_checks_above_catch_a_document_that_does_not_add_up(tamper, rules):
    # A check that read nothing would pass every document: tamper with a good one and see it fail
    xml = to_ubl(dutch_invoice())
    assert en16931_problems(xml) == []

    found = {problem.split(":")[0] for problem in en16931_problems(tamper(xml))}

    assert sorted(found) == sorted(rules)


# -- what is in it -----------------------------------------------------------------------------------------------

def test_an_invoice_carries_peppols_identifiers_the_order_and_both_parties():
    root = parsed(dutch_invoice())

    assert root.tag == INVOICE
    assert (text(root, "cbc:CustomizationID"), text(root, "cbc:ProfileID")) == (CUSTOMIZATION_ID, PROFILE_ID)
    assert (text(root, "cbc:ID"), text(root, "cbc:IssueDate"), text(root, "cbc:InvoiceTypeCode"),
            text(root, "cbc:DocumentCurrencyCode")) == ("2026-000123", "2026-03-14", "380", "EUR")
    assert (text(root, "cbc:BuyerReference"), text(root, "cac:OrderReference/cbc:ID")) == ("4711", "4711")
    assert root.xpath("cac:BillingReference", namespaces=NS) == []
    assert [text(root, f"{SUPPLIER}/{path}") for path in (
        "cac:PartyName/cbc:Name", "cac:PostalAddress/cbc:StreetName", "cac:PostalAddress/cbc:CityName",
        "cac:PostalAddress/cbc:PostalZone", "cac:PostalAddress/cac:Country/cbc:IdentificationCode",
        "cac:PartyTaxScheme/cbc:CompanyID", "cac:PartyTaxScheme/cac:TaxScheme/cbc:ID",
        "cac:PartyLegalEntity/cbc:RegistrationName", "cac:Contact/cbc:ElectronicMail")] == [
        "Fotocadeau B.V.", "Keizersgracht 123", "Amsterdam", "1015 CJ", "NL", "NL123456789B01", "VAT",
        "Fotocadeau B.V.", "facturen@fotocadeau.nl"]
    # a consumer has no VAT number: no PartyTaxScheme, but a legal entity with their name
    assert root.xpath(f"{CUSTOMER}/cac:PartyTaxScheme", namespaces=NS) == []
    assert text(root, f"{CUSTOMER}/cac:PartyLegalEntity/cbc:RegistrationName") == "Anna de Vries"
    assert text(root, f"{CUSTOMER}/cac:PostalAddress/cbc:StreetName") == "Oudegracht 12"


def test_each_vat_rate_is_one_tax_subtotal_and_the_totals_are_the_documents():
    root = parsed(dutch_invoice())

    assert text(root, "cac:TaxTotal/cbc:TaxAmount") == "21.66"
    assert [(text(s, "cac:TaxCategory/cbc:ID"), text(s, "cac:TaxCategory/cbc:Percent"), text(s, "cbc:TaxableAmount"),
             text(s, "cbc:TaxAmount")) for s in root.xpath("cac:TaxTotal/cac:TaxSubtotal", namespaces=NS)] == [
        ("S", "21", "95.28", "20.01"), ("S", "9", "18.30", "1.65")]
    assert root.xpath("//cbc:TaxExemptionReason", namespaces=NS) == []
    assert texts(root, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cac:TaxScheme/cbc:ID") == ["VAT", "VAT"]
    assert [(etree.QName(e).localname, e.text) for e in root.xpath("cac:LegalMonetaryTotal/*", namespaces=NS)] == [
        ("LineExtensionAmount", "113.58"), ("TaxExclusiveAmount", "113.58"), ("TaxInclusiveAmount", "135.24"),
        ("PrepaidAmount", "135.24"), ("PayableAmount", "0.00")]
    assert set(root.xpath("//@currencyID")) == {"EUR"}


def test_lines_have_unit_code_c62_fractional_quantities_and_shipping_and_fees_as_lines():
    root = parsed(dutch_invoice())
    lines = root.xpath("cac:InvoiceLine", namespaces=NS)

    assert texts(root, "cac:InvoiceLine/cbc:ID") == ["1", "2", "3", "4", "5"]
    assert texts(root, "cac:InvoiceLine/cbc:InvoicedQuantity") == ["2", "1", "2.5", "1", "1"]
    assert root.xpath("cac:InvoiceLine/cbc:InvoicedQuantity/@unitCode", namespaces=NS) == ["C62"] * 5
    assert texts(root, "cac:InvoiceLine/cac:Item/cbc:Name") == [
        "Photo book A4, 40 pages", "Children's picture book", "Canvas fabric (per metre)", "Shipping: PostNL",
        "Gift wrapping"]
    assert texts(root, "cac:InvoiceLine/cbc:LineExtensionAmount") == ["57.85", "18.30", "30.00", "4.95", "2.48"]
    assert texts(root, "cac:InvoiceLine/cac:Price/cbc:PriceAmount") == ["28.9256", "18.30", "12.00", "4.95", "2.48"]
    assert [(text(e, "cac:Item/cac:ClassifiedTaxCategory/cbc:ID"),
             text(e, "cac:Item/cac:ClassifiedTaxCategory/cbc:Percent")) for e in lines] == [
        ("S", "21"), ("S", "9"), ("S", "21"), ("S", "21"), ("S", "21")]
    assert texts(root, "cac:InvoiceLine/cac:Item/cac:SellersItemIdentification/cbc:ID") == [
        "BOOK-A4-40", "BOOK-KIDS", "CANVAS-ROLL"]


def test_an_oss_invoice_charges_the_customers_countrys_rates():
    root = parsed(oss_invoice())

    assert text(root, f"{CUSTOMER}/cac:PostalAddress/cac:Country/cbc:IdentificationCode") == "FR"
    assert [(text(s, "cac:TaxCategory/cbc:Percent"), text(s, "cbc:TaxableAmount"), text(s, "cbc:TaxAmount"))
            for s in root.xpath("cac:TaxTotal/cac:TaxSubtotal", namespaces=NS)] == [
        ("20", "29.54", "5.91"), ("5.5", "18.96", "1.04")]
    assert text(root, "cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount") == "55.45"


def test_a_reverse_charge_invoice_says_why_no_vat_is_charged_and_names_both_vat_numbers():
    root = parsed(reverse_charge_invoice())

    subtotal = root.xpath("cac:TaxTotal/cac:TaxSubtotal", namespaces=NS)
    assert len(subtotal) == 1
    category = subtotal[0].xpath("cac:TaxCategory/cbc:*", namespaces=NS)
    assert [(etree.QName(e).localname, e.text) for e in category] == [
        ("ID", "AE"), ("Percent", "0"), ("TaxExemptionReasonCode", "VATEX-EU-AE"),
        ("TaxExemptionReason", "Reverse charge")]
    assert (text(subtotal[0], "cbc:TaxableAmount"), text(subtotal[0], "cbc:TaxAmount")) == ("257.00", "0.00")
    assert text(root, "cac:TaxTotal/cbc:TaxAmount") == "0.00"
    assert text(root, f"{CUSTOMER}/cac:PartyTaxScheme/cbc:CompanyID") == "IT12345678901"
    assert text(root, f"{CUSTOMER}/cac:PartyName/cbc:Name") == "Stampa Rapida S.r.l."
    assert text(root, f"{CUSTOMER}/cac:Contact/cbc:Name") == "Giulia Rossi"
    assert text(root, f"{CUSTOMER}/cac:PostalAddress/cbc:CountrySubentity") == "MI"
    # the lines name their category; the reason is said once, in the breakdown
    assert texts(root, "cac:InvoiceLine/cac:Item/cac:ClassifiedTaxCategory/cbc:ID") == ["AE", "AE"]
    assert root.xpath("cac:InvoiceLine//cbc:TaxExemptionReason", namespaces=NS) == []


def test_a_credit_note_is_a_ubl_credit_note_referring_to_its_invoice_with_positive_amounts():
    root = parsed(credit_note())

    assert root.tag == CREDIT_NOTE
    assert (text(root, "cbc:ID"), text(root, "cbc:CreditNoteTypeCode")) == ("2026-000131", "381")
    assert root.xpath("cbc:InvoiceTypeCode", namespaces=NS) == []
    assert (text(root, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID"),
            text(root, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:IssueDate")) == (
        "2026-000123", "2026-03-14")
    assert texts(root, "cac:CreditNoteLine/cbc:CreditedQuantity") == ["1", "1", "1"]
    assert texts(root, "cac:CreditNoteLine/cbc:LineExtensionAmount") == ["28.92", "18.30", "4.95"]
    assert [(text(s, "cac:TaxCategory/cbc:Percent"), text(s, "cbc:TaxableAmount"), text(s, "cbc:TaxAmount"))
            for s in root.xpath("cac:TaxTotal/cac:TaxSubtotal", namespaces=NS)] == [
        ("21", "33.87", "7.11"), ("9", "18.30", "1.65")]
    assert text(root, "cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount") == "60.93"


def test_an_unpaid_invoice_leaves_its_total_payable_and_a_supply_date_is_the_delivery_date():
    root = parsed(dutch_invoice(paid=False, supply_date=date(2026, 3, 12), note="Bank transfer within 14 days"))

    assert text(root, "cac:LegalMonetaryTotal/cbc:PayableAmount") == "135.24"
    assert root.xpath("cac:LegalMonetaryTotal/cbc:PrepaidAmount", namespaces=NS) == []
    assert text(root, "cac:Delivery/cbc:ActualDeliveryDate") == "2026-03-12"
    assert text(root, "cbc:Note") == "Bank transfer within 14 days"
    assert validate_ubl(to_ubl(dutch_invoice(paid=False, supply_date=date(2026, 3, 12), note="x"))) == []


def test_an_intra_community_supply_gives_its_reason_delivery_date_and_country():
    # Given goods sent to a company in another member state, exempt as an intra-Community supply (K)
    invoice = document([line("Canvas print 60×40", "10", "24.50", "245.00", "0", "0.00", category="K")],
                       buyer=ITALIAN_COMPANY, reverse_charge=True)

    root = parsed(invoice)

    assert texts(root, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:TaxExemptionReasonCode") == ["VATEX-EU-IC"]
    assert text(root, "cac:Delivery/cbc:ActualDeliveryDate") == "2026-03-14"
    assert text(root, "cac:Delivery/cac:DeliveryLocation/cac:Address/cac:Country/cbc:IdentificationCode") == "IT"
    assert validate_ubl(to_ubl(invoice)) == []
    assert en16931_problems(to_ubl(invoice)) == []


def test_markup_and_control_characters_in_names_stay_valid_xml():
    # Given a product name typed with XML's special characters and a pasted control character
    invoice = dutch_invoice()
    name = 'Mug "Ik & jij" <3'
    invoice = replace(invoice, lines=(replace(invoice.lines[0], description=name + "\x0b"),) + invoice.lines[1:],
                      buyer=replace(invoice.buyer, company="De Vries & Zn."))

    xml = to_ubl(invoice)

    assert validate_ubl(xml) == []
    assert texts(etree.fromstring(xml), "cac:InvoiceLine/cac:Item/cbc:Name")[0] == name
    assert text(etree.fromstring(xml), f"{CUSTOMER}/cac:PartyName/cbc:Name") == "De Vries & Zn."


# -- validate_ubl --------------------------------------------------------------------------------------------------

def test_the_schema_names_what_is_missing_or_malformed_with_its_line():
    xml = to_ubl(dutch_invoice())

    missing_date = validate_ubl(xml.replace(b"<cbc:IssueDate>2026-03-14</cbc:IssueDate>", b""))
    assert missing_date == ["Line 7: Element 'cbc:InvoiceTypeCode': This element is not expected. "
                            "Expected is one of ( cbc:CopyIndicator, cbc:UUID, cbc:IssueDate )."]
    bad_amount = validate_ubl(xml.replace(b">113.58<", b">113,58<", 1))
    assert len(bad_amount) == 1 and "cbc:LineExtensionAmount" in bad_amount[0] and "'113,58'" in bad_amount[0]
    credit = to_ubl(credit_note())
    assert validate_ubl(credit.replace(b"CreditedQuantity", b"InvoicedQuantity")) != []


def test_a_file_that_is_not_xml_or_not_an_invoice_is_told_apart():
    assert validate_ubl(b"<Invoice><cbc:ID>")[0].startswith("The file is not well-formed XML: ")
    assert validate_ubl(b'<Order xmlns="urn:oasis:names:specification:ubl:schema:xsd:Order-2"/>') == [
        "The file is not a UBL invoice or credit note: its root element is "
        "{urn:oasis:names:specification:ubl:schema:xsd:Order-2}Order."]
    assert validate_ubl(to_ubl(dutch_invoice()).decode()) == []


def test_a_file_cannot_make_the_validator_read_a_local_file(tmp_path):
    # Given an invoice whose number is an external entity pointing at a secret on this machine
    secret = tmp_path / "secret.txt"
    secret.write_text("the-secret-token")
    xml = to_ubl(dutch_invoice()).replace(b"<?xml version='1.0' encoding='UTF-8'?>", (
        f"<?xml version='1.0' encoding='UTF-8'?><!DOCTYPE Invoice [<!ENTITY secret SYSTEM \"{secret.as_uri()}\">]>"
    ).encode()).replace(b"<cbc:ID>2026-000123</cbc:ID>", b"<cbc:ID>&secret;</cbc:ID>")

    # When it is validated
    errors = validate_ubl(xml)

    # Then the file is refused for its DTD, and the secret was never read
    assert errors == ["The file declares a document type (DTD), which a UBL invoice never has."]
    assert "the-secret-token" not in " ".join(errors)


def test_the_buyers_vat_number_is_written_only_when_there_is_one():
    root = parsed(dutch_invoice(buyer=replace(ITALIAN_COMPANY, vat_id="")))

    assert root.xpath(f"{CUSTOMER}/cac:PartyTaxScheme", namespaces=NS) == []
    assert text(root, f"{CUSTOMER}/cac:PartyLegalEntity/cbc:RegistrationName") == "Stampa Rapida S.r.l."
