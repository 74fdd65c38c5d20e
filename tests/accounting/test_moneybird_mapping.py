"""Our invoices and credit notes as Moneybird external sales invoices: payloads, the choice of Moneybird's tax rates,
and the totals a local Moneybird (tests.fakes.moneybird) books from them."""

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from accounting.documents.model import Document, DocumentLine, Party, VatSubtotal
from accounting.integrations.errors import MissingTaxRateError
from accounting.integrations.moneybird import MoneybirdClient, choose_tax_rates, contact_payload, invoice_payload
from tests.fakes.moneybird import TAX_RATES, FakeMoneybird

RATE_ID = {name: rate_id for rate_id, name, *_ in TAX_RATES}
SELLER = Party(name="Fotocadeau Nederland B.V.", street="Keizersgracht 123", postcode="1015 CJ", city="Amsterdam",
               country="NL", company="Fotocadeau Nederland B.V.", vat_id="NL854091798B01",
               email="administratie@fotocadeau.example")
ANNA = Party(name="Anna de Vries", street="Lindengracht 4, 2e etage", postcode="1015 KB", city="Amsterdam",
             country="NL", email="anna@example.nl")
ATELIER = Party(name="Lotte Peeters", street="Korenmarkt 1", postcode="9000", city="Gent", country="BE",
                company="NV Atelier Gent", vat_id="BE0403170701", email="boekhouding@atelier.example")


def line(description, quantity, unit_price, net, rate, vat, category="S", kind="item", sku=""):
    return DocumentLine(description=description, quantity=Decimal(quantity), unit_price=Decimal(unit_price),
                        net_amount=Decimal(net), vat_rate=Decimal(rate), vat_category=category,
                        vat_amount=Decimal(vat), kind=kind, sku=sku)


def document(lines, *, buyer=ANNA, kind="invoice", number="2026-000123", **extra):
    subtotals = {}
    for item in lines:
        taxable, vat = subtotals.get((item.vat_category, item.vat_rate), (Decimal(0), Decimal(0)))
        subtotals[(item.vat_category, item.vat_rate)] = (taxable + item.net_amount, vat + item.vat_amount)
    net = sum((item.net_amount for item in lines), Decimal(0))
    vat = sum((item.vat_amount for item in lines), Decimal(0))
    return Document(kind=kind, number=number, issue_date=date(2026, 1, 5), supply_date=None, currency="EUR",
                    seller=SELLER, buyer=buyer, lines=tuple(lines),
                    vat_subtotals=tuple(VatSubtotal(c, r, t, v) for (c, r), (t, v) in subtotals.items()),
                    net_total=net, vat_total=vat, gross_total=net + vat, order_number="1017", **extra)


MUG = line("Photo mug", "3", "9.50", "28.50", "21.00", "5.99", sku="MUG-11")
BOOK = line("Photo book A4", "1", "25.00", "25.00", "9.00", "2.25", sku="BOOK-A4")
SHIPPING = line("Shipping: PostNL", "1", "5.00", "5.00", "21.00", "1.05", kind="shipping")
INVOICE = document([MUG, BOOK, SHIPPING])
CREDIT_NOTE = document([line("Photo mug", "1", "9.50", "9.50", "21.00", "2.00", sku="MUG-11")],
                       kind="credit_note", number="2026-C00007", corrects_number="2026-000123",
                       corrects_issue_date=date(2026, 1, 5))
DOMESTIC = {("S", Decimal("21")): RATE_ID["21% btw"], ("S", Decimal("9")): RATE_ID["9% btw"]}


@pytest.fixture
def moneybird():
    server = FakeMoneybird().start()
    yield server
    server.stop()


def sales_rates():
    """Moneybird's active sales tax rates, as MoneybirdClient.tax_rates() returns them."""
    return [{"id": i, "name": name, "percentage": pct, "tax_rate_type": kind, "country": country, "active": active}
            for i, name, pct, kind, country, active in TAX_RATES if active and kind == "sales_invoice"]


# -- contacts ---------------------------------------------------------------------------------------------------


def test_a_consumer_becomes_a_contact_with_first_and_last_name():
    assert contact_payload(ANNA, "woo-nl-1017") == {
        "customer_id": "woo-nl-1017", "firstname": "Anna", "lastname": "de Vries",
        "address1": "Lindengracht 4, 2e etage", "zipcode": "1015 KB", "city": "Amsterdam", "country": "NL",
        "email": "anna@example.nl"}


def test_a_company_becomes_a_contact_with_its_vat_number_and_the_person_as_attention():
    assert contact_payload(ATELIER, "woo-be-88") == {
        "customer_id": "woo-be-88", "company_name": "NV Atelier Gent", "attention": "Lotte Peeters",
        "address1": "Korenmarkt 1", "zipcode": "9000", "city": "Gent", "country": "BE",
        "email": "boekhouding@atelier.example", "tax_number": "BE0403170701"}


def test_a_one_word_name_is_a_last_name_and_a_region_goes_with_the_city():
    party = Party(name="Madonna", street="1 Main St", postcode="90210", city="Beverly Hills", country="US",
                  region="CA")
    assert contact_payload(party, 7) == {"customer_id": "7", "lastname": "Madonna", "address1": "1 Main St",
                                         "zipcode": "90210", "city": "Beverly Hills CA", "country": "US"}


# -- invoices and credit notes ----------------------------------------------------------------------------


def test_an_invoice_has_one_detail_per_line_with_prices_excluding_vat_and_each_rates_id():
    payload = invoice_payload(INVOICE, contact_id="416830558000000002", tax_rate_ids=DOMESTIC,
                              ledger_account_id="416830557403809001", source_url="https://shop.example/?p=1017")

    assert payload == {
        "contact_id": "416830558000000002", "reference": "2026-000123", "date": "2026-01-05",
        "due_date": "2026-01-05", "currency": "EUR", "prices_are_incl_tax": False, "source": "WooCommerce",
        "source_url": "https://shop.example/?p=1017",
        "details_attributes": [
            {"description": "Photo mug", "price": "9.50", "amount": "3", "tax_rate_id": RATE_ID["21% btw"],
             "ledger_account_id": "416830557403809001"},
            {"description": "Photo book A4", "price": "25.00", "amount": "1", "tax_rate_id": RATE_ID["9% btw"],
             "ledger_account_id": "416830557403809001"},
            {"description": "Shipping: PostNL", "price": "5.00", "amount": "1", "tax_rate_id": RATE_ID["21% btw"],
             "ledger_account_id": "416830557403809001"},
        ]}


def test_a_credit_note_has_negative_prices_and_names_the_invoice_it_corrects():
    payload = invoice_payload(CREDIT_NOTE, contact_id="416830558000000002", tax_rate_ids=DOMESTIC)

    assert payload["reference"] == "2026-C00007"
    assert payload["details_attributes"] == [
        {"description": "Credit note for invoice 2026-000123: Photo mug", "price": "-9.50", "amount": "1",
         "tax_rate_id": RATE_ID["21% btw"]}]
    assert "source_url" not in payload


def test_a_line_whose_unit_price_does_not_give_its_net_amount_goes_as_one_unit_at_the_net_amount():
    # WooCommerce spread a coupon: 3 × 6.6667 is 20.00, yet the line's net amount is 19.99
    canvas = line("Canvas 30×40", "3", "6.6667", "19.99", "21.00", "4.20")
    fabric = line("Fabric per m²", "1.50", "12.3456", "18.52", "21.00", "3.89")

    details = invoice_payload(document([canvas, fabric]), contact_id="1", tax_rate_ids=DOMESTIC)["details_attributes"]

    assert [(d["description"], d["amount"], d["price"]) for d in details] == [
        ("3 × Canvas 30×40", "1", "19.99"), ("Fabric per m²", "1.5", "12.3456")]


def test_a_line_without_a_tax_rate_id_is_a_missing_tax_rate_error():
    with pytest.raises(MissingTaxRateError) as caught:
        invoice_payload(INVOICE, contact_id="1", tax_rate_ids={("S", Decimal("21")): RATE_ID["21% btw"]})

    assert (caught.value.category, caught.value.rate, caught.value.country) == ("S", Decimal("9.00"), "NL")
    assert str(caught.value) == ("Moneybird has no active sales tax rate of 9% for a customer in NL. "
                                 "Add it in Moneybird (Settings → Tax rates), then export again.")


# -- choosing Moneybird's tax rates ------------------------------------------------------------------------------


def test_domestic_rates_are_the_administrations_own_21_and_9_percent():
    assert choose_tax_rates(INVOICE, sales_rates()) == DOMESTIC


def test_a_consumer_in_another_member_state_gets_that_countrys_oss_rate():
    belgian = replace(ANNA, city="Gent", postcode="9000", country="BE")
    french = replace(ANNA, city="Lyon", postcode="69002", country="FR")

    assert choose_tax_rates(document([MUG], buyer=belgian), sales_rates()) == {
        ("S", Decimal("21")): RATE_ID["21% btw België (OSS)"]}
    assert choose_tax_rates(document([line("Photo mug", "1", "9.50", "9.50", "20.00", "1.90")], buyer=french),
                            sales_rates()) == {("S", Decimal("20")): RATE_ID["20% TVA France (OSS)"]}


def test_zero_rated_lines_get_the_rate_their_category_names():
    lines = [line("Photo mug", "1", "9.50", "9.50", "0", "0", category="AE"),
             line("Canvas", "1", "20.00", "20.00", "0", "0", category="K"),
             line("Gift card", "1", "10.00", "10.00", "0", "0", category="Z")]
    chosen = choose_tax_rates(document(lines, buyer=ATELIER, reverse_charge=True), sales_rates())

    assert chosen == {("AE", Decimal("0")): RATE_ID["Btw verlegd"],
                      ("K", Decimal("0")): RATE_ID["0% btw binnen EU (ICP)"],
                      ("Z", Decimal("0")): RATE_ID["0% btw"]}


def test_an_export_outside_the_eu_gets_the_export_rate():
    american = Party(name="Jane Doe", street="1 Main St", postcode="10001", city="New York", country="US",
                     region="NY")
    exported = document([line("Photo mug", "1", "9.50", "9.50", "0", "0", category="G")], buyer=american)

    assert choose_tax_rates(exported, sales_rates()) == {("G", Decimal("0")): RATE_ID["0% btw buiten EU"]}


@pytest.mark.parametrize("buyer_country, rate, category, message", [
    ("DE", "7.00", "S", "Moneybird has no active sales tax rate of 7% for a customer in DE."),
    # the 6 % rate exists, but is no longer active
    ("NL", "6.00", "S", "Moneybird has no active sales tax rate of 6% for a customer in NL."),
    ("BE", "0", "E", "Moneybird has no active sales tax rate of 0% (exempt) for a customer in BE."),
])
def test_no_matching_tax_rate_is_a_clear_error_not_a_guess(buyer_country, rate, category, message):
    buyer = replace(ANNA, country=buyer_country)
    book = line("Photo book", "1", "25.00", "25.00", rate, "0", category=category)

    with pytest.raises(MissingTaxRateError) as caught:
        choose_tax_rates(document([book], buyer=buyer), sales_rates())

    assert str(caught.value) == f"{message} Add it in Moneybird (Settings → Tax rates), then export again."
    assert caught.value.retryable is False


# -- booked in Moneybird --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("booked, sign", [(INVOICE, 1), (CREDIT_NOTE, -1)])
def test_moneybird_books_the_documents_totals_to_the_cent(moneybird, booked, sign):
    # Given Moneybird's tax rates and a contact for the buyer
    mb = MoneybirdClient(moneybird.base_url, administration_id=moneybird.administration_id, token=moneybird.token)
    contact = mb.create_contact(contact_payload(booked.buyer, "woo-nl-1017"))
    rates = choose_tax_rates(booked, mb.tax_rates())

    # When the document is booked
    invoice = mb.create_external_sales_invoice(invoice_payload(booked, contact_id=contact["id"], tax_rate_ids=rates))

    # Then Moneybird's totals are the document's (negative for a credit note)
    assert Decimal(invoice["total_price_excl_tax"]) == sign * booked.net_total
    assert Decimal(invoice["total_price_incl_tax"]) == sign * booked.gross_total
    assert invoice["reference"] == booked.number
