"""Our documents → Moneybird's JSON: contacts, external sales invoices and the choice of Moneybird's tax rates.

Prices go excluding VAT, one detail per document line, with the tax rate Moneybird keeps for the line's VAT
category and rate. Moneybird computes the VAT itself from that rate; the PDF attached to the invoice stays the
legal document. A credit note is an external sales invoice with negative prices whose lines say which invoice
they correct. Amounts are sent as strings: JSON numbers would go through float.
"""

from decimal import Decimal

from django.utils.translation import gettext as _

from accounting.integrations.errors import MissingTaxRateError
from fulfillment.money import quantize

SOURCE = "WooCommerce"

# Moneybird tells its 0 % rates apart only by their names (the administration's own, in Dutch or English): the words
# that mark a rate as one of these categories. A rate named for none of them is an ordinary rate (S or Z).
CATEGORY_WORDS = {
    "AE": ("verlegd", "reverse charge", "reverse-charge", "autoliquidation", "inversione contabile"),
    "K": ("binnen eu", "binnen de eu", "intra-eu", "intra eu", "intracommunautair", "icp"),
    "G": ("buiten eu", "buiten de eu", "export", "outside the eu", "outside eu"),
    "E": ("vrijgesteld", "exempt", "geen btw", "no vat"),
}


def contact_payload(party, customer_id):
    """A Party as a Moneybird contact that we find again by `customer_id` (our id of the customer)."""
    contact = {"customer_id": str(customer_id)}
    if party.company:
        contact["company_name"] = party.company
        contact["attention"] = party.name
    else:
        first, _space, last = party.name.strip().partition(" ")
        # One word is a surname to Moneybird's contact list, which sorts and shows by last name.
        contact["firstname"], contact["lastname"] = (first, last) if last else ("", first)
    contact.update({
        "address1": party.street,
        "zipcode": party.postcode,
        # Moneybird has no field for a region or state: it goes with the city, as it is written on a letter.
        "city": f"{party.city} {party.region}".strip() if party.region else party.city,
        "country": party.country,
        "email": party.email,
        "tax_number": party.vat_id,
    })
    return {key: value for key, value in contact.items() if value != ""}


def invoice_payload(document, *, contact_id, tax_rate_ids, ledger_account_id=None, source=SOURCE, source_url=""):
    """A Document as the body of an external sales invoice; tax_rate_ids: {(category, rate): Moneybird id}."""
    credit = document.kind == "credit_note"
    details = []
    for line in document.lines:
        key = (line.vat_category, Decimal(line.vat_rate))
        if key not in tax_rate_ids:
            raise MissingTaxRateError(category=line.vat_category, rate=line.vat_rate, country=document.buyer.country)
        amount, price, description = _quantity_and_price(line, document.currency)
        if credit:
            price = -price
            description = _("Credit note for invoice %(number)s: %(description)s") % {
                "number": document.corrects_number, "description": description}
        detail = {"description": description, "price": _money(price), "amount": amount,
                  "tax_rate_id": tax_rate_ids[key]}
        if ledger_account_id:
            detail["ledger_account_id"] = ledger_account_id
        details.append(detail)
    invoice = {
        "contact_id": contact_id,
        "reference": document.number,
        "date": document.issue_date.isoformat(),
        # A shop's invoice is paid at checkout: due the day it is issued.
        "due_date": document.issue_date.isoformat(),
        "currency": document.currency,
        "prices_are_incl_tax": False,
        "source": source,
        "details_attributes": details,
    }
    if source_url:
        invoice["source_url"] = source_url
    return invoice


def _quantity_and_price(line, currency):
    """(amount, unit price, description) whose product is the line's net amount to the cent.

    Moneybird multiplies price by amount; where WooCommerce's unit price (up to 4 decimals) times the quantity does
    not give its net amount, the line goes as one unit at the net amount with the quantity in the description, so
    Moneybird's totals equal the invoice's.
    """
    quantity = Decimal(line.quantity)
    unit_price = Decimal(line.unit_price)
    net = quantize(line.net_amount, currency)
    if quantity and quantize(unit_price * quantity, currency) == net:
        return _number(quantity), unit_price, line.description
    return "1", net, f"{_number(quantity)} × {line.description}"


def choose_tax_rates(document, tax_rates):
    """{(category, rate): Moneybird tax rate id} for every VAT category and rate of the document's lines.

    Among the active sales tax rates with the line's percentage: for reverse charge, intra-EU, export and exempt
    lines the rate whose name says so; for ordinary lines a rate named for none of those, preferring one of the
    customer's country (OSS rates carry a country), else one without a country or of the seller's. Raises
    MissingTaxRateError when nothing fits: a guess would book VAT in the wrong box of the return.
    """
    usable = [rate for rate in tax_rates if rate.get("active", True)
              and rate.get("tax_rate_type", "sales_invoice") == "sales_invoice"]
    chosen = {}
    for line in document.lines:
        key = (line.vat_category, Decimal(line.vat_rate))
        if key not in chosen:
            chosen[key] = _tax_rate_id(key, document, usable)
    return chosen


def _tax_rate_id(key, document, tax_rates):
    category, percentage = key
    buyer, seller = document.buyer.country.upper(), document.seller.country.upper()
    same_rate = [rate for rate in tax_rates if _percentage(rate) == percentage]
    if category in CATEGORY_WORDS:
        fitting = [rate for rate in same_rate if _named_for(rate, category)]
    else:
        ordinary = [rate for rate in same_rate if not any(_named_for(rate, other) for other in CATEGORY_WORDS)]
        fitting = ([rate for rate in ordinary if _country(rate) == buyer]
                   or [rate for rate in ordinary if _country(rate) in ("", seller)])
    if not fitting:
        raise MissingTaxRateError(category=category, rate=percentage, country=buyer)
    return fitting[0]["id"]


def _named_for(rate, category):
    name = " ".join(str(rate.get("name") or "").lower().split())
    return any(word in name for word in CATEGORY_WORDS[category])


def _percentage(rate):
    try:
        return Decimal(str(rate.get("percentage")))
    except ArithmeticError:
        return None


def _country(rate):
    return str(rate.get("country") or "").upper()


def _money(amount):
    return format(amount, "f")


def _number(value):
    """A quantity as Moneybird shows it: "3", "1.5" (no trailing zeros, never an exponent)."""
    text = format(Decimal(value), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
