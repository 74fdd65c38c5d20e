"""An invoice or credit note as UBL 2.1, following Peppol BIS Billing 3.0 (EN 16931).

An invoice is an `Invoice` with InvoiceTypeCode 380, a credit note a `CreditNote` with CreditNoteTypeCode 381
that refers to the invoice it corrects (BillingReference); a credit note's amounts stay positive, as UBL wants.
The amounts are written exactly as the document holds them (WooCommerce's): run arithmetic.check first, this
module does not round anything away. Shipping and fees are lines of their own, not document-level charges:
WooCommerce taxes them per line like items, each at its own rate. Elements follow the order of the UBL 2.1
schema, which validation.validate_ubl checks.
"""

import re

from lxml import etree

from accounting.documents.arithmetic import ZERO, decimal_text, plain

NAMESPACES = {
    "invoice": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "credit_note": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
}
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
CUSTOMIZATION_ID = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PROFILE_ID = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
UNIT_CODE = "C62"  # UN/ECE Rec. 20 "one": pieces, and fractions of them (a quantity of 2.5)
# Categories whose VAT breakdown must give the reason VAT is not charged (BR-AE-10, BR-IC-10, BR-G-10, BR-E-10):
# the VATEX code (CEF code list) and the text. An exemption (E) has many possible legal grounds and no code here.
EXEMPTIONS = {
    "AE": ("VATEX-EU-AE", "Reverse charge"),
    "K": ("VATEX-EU-IC", "Intra-Community supply"),
    "G": ("VATEX-EU-G", "Export outside the EU"),
    "E": ("", "Exempt from VAT"),
}
# Characters XML 1.0 cannot carry (a control character pasted into a product name would break the file).
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def to_ubl(document):
    """The document as a UBL 2.1 Invoice or CreditNote (Peppol BIS Billing 3.0), UTF-8 bytes."""
    credit = document.kind == "credit_note"
    namespace = NAMESPACES["credit_note" if credit else "invoice"]
    root = etree.Element(f"{{{namespace}}}{'CreditNote' if credit else 'Invoice'}",
                         nsmap={None: namespace, "cac": CAC, "cbc": CBC})
    _basic(root, "CustomizationID", CUSTOMIZATION_ID)
    _basic(root, "ProfileID", PROFILE_ID)
    _basic(root, "ID", document.number)
    _basic(root, "IssueDate", document.issue_date.isoformat())
    _basic(root, "CreditNoteTypeCode" if credit else "InvoiceTypeCode", "381" if credit else "380")
    if document.note.strip():
        _basic(root, "Note", document.note)
    _basic(root, "DocumentCurrencyCode", document.currency)
    _basic(root, "BuyerReference", document.order_number)
    _basic(_aggregate(root, "OrderReference"), "ID", document.order_number)
    if credit and document.corrects_number:
        invoice = _aggregate(_aggregate(root, "BillingReference"), "InvoiceDocumentReference")
        _basic(invoice, "ID", document.corrects_number)
        if document.corrects_issue_date:
            _basic(invoice, "IssueDate", document.corrects_issue_date.isoformat())
    _party(_aggregate(root, "AccountingSupplierParty"), document.seller)
    _party(_aggregate(root, "AccountingCustomerParty"), document.buyer)
    _delivery(root, document)
    _tax_total(root, document)
    _monetary_total(root, document)
    for number, line in enumerate(document.lines, 1):
        _line(root, number, line, document, credit=credit)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _basic(parent, name, text, **attributes):
    element = etree.SubElement(parent, f"{{{CBC}}}{name}", attributes)
    element.text = NOT_XML.sub("", text)
    return element


def _aggregate(parent, name):
    return etree.SubElement(parent, f"{{{CAC}}}{name}")


def _amount(parent, name, value, currency):
    return _basic(parent, name, decimal_text(value), currencyID=currency)


def _party(parent, party):
    element = _aggregate(parent, "Party")
    display_name = party.company or party.name
    _basic(_aggregate(element, "PartyName"), "Name", display_name)
    address = _aggregate(element, "PostalAddress")
    for name, value in (("StreetName", party.street), ("CityName", party.city), ("PostalZone", party.postcode),
                        ("CountrySubentity", party.region)):
        if value.strip():
            _basic(address, name, value)
    _basic(_aggregate(address, "Country"), "IdentificationCode", party.country)
    if party.vat_id.strip():
        scheme = _aggregate(element, "PartyTaxScheme")
        _basic(scheme, "CompanyID", party.vat_id)
        _basic(_aggregate(scheme, "TaxScheme"), "ID", "VAT")
    _basic(_aggregate(element, "PartyLegalEntity"), "RegistrationName", display_name)
    person = party.name if party.company and party.name != party.company else ""
    if person or party.email.strip():
        contact = _aggregate(element, "Contact")
        if person:
            _basic(contact, "Name", person)
        if party.email.strip():
            _basic(contact, "ElectronicMail", party.email)


def _delivery(root, document):
    # An intra-Community supply must say when and to which country it was delivered (BR-IC-11, BR-IC-12).
    intra_community = any(line.vat_category == "K" for line in document.lines)
    if not (document.supply_date or intra_community):
        return
    delivery = _aggregate(root, "Delivery")
    _basic(delivery, "ActualDeliveryDate", (document.supply_date or document.issue_date).isoformat())
    if intra_community:
        location = _aggregate(_aggregate(delivery, "DeliveryLocation"), "Address")
        _basic(_aggregate(location, "Country"), "IdentificationCode", document.buyer.country)


def _tax_category(parent, name, category, rate, *, with_reason):
    element = _aggregate(parent, name)
    _basic(element, "ID", category)
    _basic(element, "Percent", plain(rate))
    if with_reason and category in EXEMPTIONS:
        code, reason = EXEMPTIONS[category]
        if code:
            _basic(element, "TaxExemptionReasonCode", code)
        _basic(element, "TaxExemptionReason", reason)
    _basic(_aggregate(element, "TaxScheme"), "ID", "VAT")


def _tax_total(root, document):
    total = _aggregate(root, "TaxTotal")
    _amount(total, "TaxAmount", document.vat_total, document.currency)
    for subtotal in document.vat_subtotals:
        element = _aggregate(total, "TaxSubtotal")
        _amount(element, "TaxableAmount", subtotal.taxable_amount, document.currency)
        _amount(element, "TaxAmount", subtotal.vat_amount, document.currency)
        _tax_category(element, "TaxCategory", subtotal.category, subtotal.rate, with_reason=True)


def _monetary_total(root, document):
    total = _aggregate(root, "LegalMonetaryTotal")
    currency = document.currency
    _amount(total, "LineExtensionAmount", document.net_total, currency)
    # No document-level allowances or charges: discounts are in the lines, shipping and fees are lines.
    _amount(total, "TaxExclusiveAmount", document.net_total, currency)
    _amount(total, "TaxInclusiveAmount", document.gross_total, currency)
    if document.paid:
        # The shop's customer paid at checkout (or got the refund): nothing is left to pay (BR-CO-16).
        _amount(total, "PrepaidAmount", document.gross_total, currency)
        _amount(total, "PayableAmount", ZERO, currency)
    else:
        _amount(total, "PayableAmount", document.gross_total, currency)


def _line(root, number, line, document, *, credit):
    element = _aggregate(root, "CreditNoteLine" if credit else "InvoiceLine")
    _basic(element, "ID", str(number))
    _basic(element, "CreditedQuantity" if credit else "InvoicedQuantity", plain(line.quantity), unitCode=UNIT_CODE)
    _amount(element, "LineExtensionAmount", line.net_amount, document.currency)
    item = _aggregate(element, "Item")
    _basic(item, "Name", line.description)
    if line.sku.strip():
        _basic(_aggregate(item, "SellersItemIdentification"), "ID", line.sku)
    _tax_category(item, "ClassifiedTaxCategory", line.vat_category, line.vat_rate, with_reason=False)
    _amount(_aggregate(element, "Price"), "PriceAmount", line.unit_price, document.currency)
