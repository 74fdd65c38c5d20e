"""The Moneybird client against a local Moneybird (tests.fakes.moneybird) over HTTP: every call, paging, throttling,
and each fault mapped to its error and retry flag."""

import socket
import threading
import time
from datetime import date
from decimal import Decimal

import pytest

from accounting.integrations.errors import (
    AccountingAuthError,
    AccountingDuplicateError,
    AccountingRejectedError,
    AccountingRetryableError,
)
from accounting.integrations.moneybird import MoneybirdClient
from tests.fakes.moneybird import FakeMoneybird

STANDARD, REDUCED = "416830557384935001", "416830557384935002"
REVENUE = "416830557403809001"
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"


@pytest.fixture
def moneybird():
    server = FakeMoneybird().start()
    yield server
    server.stop()


def client(server, **kwargs):
    return MoneybirdClient(server.base_url, administration_id=server.administration_id,
                           token=kwargs.pop("token", server.token), **kwargs)


def a_contact(mb, customer_id="woo-nl-1017"):
    return mb.create_contact({"customer_id": customer_id, "firstname": "Anna", "lastname": "de Vries",
                              "address1": "Keizersgracht 12", "zipcode": "1015 CJ", "city": "Amsterdam",
                              "country": "NL", "email": "anna@example.nl"})


def an_invoice(contact_id, reference="2026-000123", day="2026-01-05"):
    return {"contact_id": contact_id, "reference": reference, "date": day, "due_date": day, "currency": "EUR",
            "prices_are_incl_tax": False, "source": "WooCommerce",
            "details_attributes": [
                {"description": "Photo mug", "price": "9.50", "amount": "3", "tax_rate_id": STANDARD,
                 "ledger_account_id": REVENUE},
                {"description": "Photo book", "price": "25.00", "amount": "1", "tax_rate_id": REDUCED},
            ]}


# -- contacts -------------------------------------------------------------------------------------------------


def test_a_contact_is_created_once_and_found_again_by_our_customer_id(moneybird):
    # Given an administration that does not know the customer
    mb = client(moneybird)
    assert mb.find_contact("woo-nl-1017") is None

    # When the contact is created with our customer id
    created = a_contact(mb)

    # Then it is found by that id, with what we sent
    found = mb.find_contact("woo-nl-1017")
    assert found["id"] == created["id"]
    assert (found["firstname"], found["lastname"], found["address1"], found["zipcode"], found["city"],
            found["country"], found["email"]) == ("Anna", "de Vries", "Keizersgracht 12", "1015 CJ", "Amsterdam",
                                                  "NL", "anna@example.nl")
    assert moneybird.requests == [
        ("GET", "contacts/customer_id/woo-nl-1017", {}),
        ("POST", "contacts", {}),
        ("GET", "contacts/customer_id/woo-nl-1017", {}),
    ]


def test_a_second_contact_with_the_same_customer_id_is_refused_with_moneybirds_reason(moneybird):
    mb = client(moneybird)
    a_contact(mb)

    with pytest.raises(AccountingRejectedError) as caught:
        a_contact(mb)

    assert type(caught.value) is AccountingRejectedError
    assert (str(caught.value), caught.value.status, caught.value.retryable) == (
        "Moneybird refused the contact woo-nl-1017: Customer id has already been taken", 422, False)
    assert caught.value.details == {"customer_id": ["has already been taken"]}
    assert len(moneybird.contacts) == 1


# -- settings: tax rates and ledger accounts -----------------------------------------------------------------


def test_tax_rates_are_read_page_by_page_and_only_active_sales_rates_by_default(moneybird):
    # Given a client reading 4 records a page
    mb = client(moneybird, per_page=4)

    # When the tax rates are asked for
    rates = mb.tax_rates()

    # Then all nine active sales rates come, over three pages that followed Moneybird's Link header
    assert [(r["name"], r["percentage"], r["country"]) for r in rates] == [
        ("21% btw", "21.0", None), ("9% btw", "9.0", None), ("0% btw", "0.0", None), ("Btw verlegd", "0.0", None),
        ("0% btw binnen EU (ICP)", "0.0", None), ("0% btw buiten EU", "0.0", None),
        ("21% btw België (OSS)", "21.0", "BE"), ("19% MwSt Deutschland (OSS)", "19.0", "DE"),
        ("20% TVA France (OSS)", "20.0", "FR"),
    ]
    sales = "tax_rate_type:sales_invoice,active:true"
    assert moneybird.requests == [
        ("GET", "tax_rates", {"filter": sales, "per_page": "4"}),
        ("GET", "tax_rates", {"filter": sales, "per_page": "4", "page": "2"}),
        ("GET", "tax_rates", {"filter": sales, "per_page": "4", "page": "3"}),
    ]


def test_all_tax_rates_without_a_filter(moneybird):
    rates = client(moneybird).tax_rates(filter=None)

    assert len(rates) == 11
    assert {r["name"] for r in rates if not r["active"] or r["tax_rate_type"] != "sales_invoice"} == {
        "21% btw inkoop", "6% btw (tot 2019)"}
    assert moneybird.requests == [("GET", "tax_rates", {"per_page": "100"})]


def test_ledger_accounts_come_in_one_list(moneybird):
    accounts = client(moneybird).ledger_accounts()

    assert [(a["account_id"], a["name"], a["account_type"]) for a in accounts] == [
        ("8000", "Omzet", "revenue"), ("8010", "Omzet verzendkosten", "revenue"),
        ("8100", "Omzet buitenland", "revenue"), ("4000", "Inkoop", "direct_costs")]


# -- external sales invoices and their PDF ------------------------------------------------------------------


def test_an_external_sales_invoice_is_booked_and_gets_its_pdf(moneybird):
    # Given a contact
    mb = client(moneybird)
    contact = a_contact(mb)

    # When an invoice is created and its PDF attached
    invoice = mb.create_external_sales_invoice(an_invoice(contact["id"]))
    answer = mb.attach_pdf(invoice["id"], "2026-000123.pdf", PDF)

    # Then Moneybird holds it with its lines and the totals it computed
    assert answer is None
    assert (invoice["reference"], invoice["contact_id"], invoice["date"], invoice["currency"]) == (
        "2026-000123", contact["id"], "2026-01-05", "EUR")
    assert [(d["description"], d["price"], d["amount"], d["tax_rate_id"]) for d in invoice["details"]] == [
        ("Photo mug", "9.50", "3", STANDARD), ("Photo book", "25.00", "1", REDUCED)]
    assert Decimal(invoice["total_price_excl_tax"]) == Decimal("53.50")
    assert Decimal(invoice["total_price_incl_tax"]) == Decimal("53.50") + Decimal("5.99") + Decimal("2.25")
    # and the PDF, as a file upload
    assert moneybird.attachments == {invoice["id"]: [("2026-000123.pdf", "application/pdf", PDF)]}
    assert moneybird.invoice("2026-000123")["attachments"][0]["filename"] == "2026-000123.pdf"


def test_a_second_invoice_with_the_same_reference_is_a_duplicate_error(moneybird):
    # Given an invoice Moneybird already has
    mb = client(moneybird)
    contact = a_contact(mb)
    mb.create_external_sales_invoice(an_invoice(contact["id"]))

    # When the same number is sent again
    with pytest.raises(AccountingDuplicateError) as caught:
        mb.create_external_sales_invoice(an_invoice(contact["id"]))

    # Then Moneybird's 422 says so, as a terminal error, and it keeps one invoice
    error = caught.value
    assert (str(error), error.status, error.retryable, error.outcome_unknown) == (
        "Moneybird refused invoice 2026-000123: Reference has already been taken", 422, False, False)
    assert error.details == {"reference": ["has already been taken"]}
    assert error.response["details"] == {"reference": [{"error": "taken"}]}
    assert len(moneybird.invoices) == 1


def test_an_invoice_moneybird_cannot_book_is_rejected_with_every_reason(moneybird):
    mb = client(moneybird)
    payload = an_invoice("416830558999999999")
    payload["details_attributes"][1]["tax_rate_id"] = "416830557384935010"  # a purchase rate

    with pytest.raises(AccountingRejectedError) as caught:
        mb.create_external_sales_invoice(payload)

    assert type(caught.value) is AccountingRejectedError
    assert str(caught.value) == ("Moneybird refused invoice 2026-000123: Contact id does not exist; "
                                 "Details tax rate id is not a valid sales tax rate")
    assert caught.value.retryable is False
    assert moneybird.invoices == {}


def test_an_external_sales_invoice_is_read_by_its_id_and_a_removed_one_is_none(moneybird):
    # Given an invoice Moneybird holds
    mb = client(moneybird)
    booked = mb.create_external_sales_invoice(an_invoice(a_contact(mb)["id"]))
    moneybird.requests.clear()

    # When it is read by Moneybird's id, and again after staff deleted it in Moneybird
    found = mb.get_external_sales_invoice(booked["id"])
    del moneybird.invoices[booked["id"]]
    gone = mb.get_external_sales_invoice(booked["id"])

    # Then the first answer is Moneybird's record, the second None; one GET each, counted by the client
    assert (found["reference"], found["total_price_incl_tax"]) == ("2026-000123", "61.74")
    assert gone is None
    assert moneybird.requests == [("GET", f"external_sales_invoices/{booked['id']}", {})] * 2
    assert mb.requests_sent == 4


def test_an_error_every_detail_has_is_said_once(moneybird):
    mb = client(moneybird)
    payload = an_invoice(a_contact(mb)["id"])
    for detail in payload["details_attributes"]:
        detail["tax_rate_id"] = "416830557384935010"  # a purchase rate on both lines

    with pytest.raises(AccountingRejectedError) as caught:
        mb.create_external_sales_invoice(payload)

    assert caught.value.details == {"details.tax_rate_id": ["is not a valid sales tax rate"] * 2}
    assert str(caught.value) == "Moneybird refused invoice 2026-000123: Details tax rate id is not a valid sales tax rate"


def test_each_thread_counts_the_requests_it_sent(moneybird):
    mb = client(moneybird)
    counts = {}

    def work(name, calls):
        for number in range(calls):
            mb.find_contact(f"{name}-{number}")
        counts[name] = mb.requests_sent

    threads = [threading.Thread(target=work, args=(name, calls)) for name, calls in (("a", 3), ("b", 5))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert counts == {"a": 3, "b": 5}
    assert mb.requests_sent == 0  # this thread sent none
    assert len(moneybird.requests) == 8


def test_a_pdf_for_an_invoice_moneybird_does_not_have_is_rejected(moneybird):
    with pytest.raises(AccountingRejectedError) as caught:
        client(moneybird).attach_pdf("416830558999999999", "2026-000123.pdf", PDF)

    assert (str(caught.value), caught.value.status, caught.value.retryable) == (
        "Moneybird has no such record (POST external_sales_invoices/416830558999999999/attachment): "
        "record not found", 404, False)


def test_find_external_sales_invoice_pages_through_the_invoices_of_that_day(moneybird):
    # Given five invoices on 5 January and one on the 6th, read two a page
    mb = client(moneybird, per_page=2)
    contact = a_contact(mb)
    for number in range(1, 6):
        mb.create_external_sales_invoice(an_invoice(contact["id"], reference=f"2026-00000{number}"))
    mb.create_external_sales_invoice(an_invoice(contact["id"], reference="2026-000006", day="2026-01-06"))
    moneybird.requests.clear()

    # When the fifth is looked for by its reference and date
    found = mb.find_external_sales_invoice("2026-000005", invoice_date=date(2026, 1, 5))

    # Then it is found on the third page of that day's invoices (documented filter: period + state)
    assert found["reference"] == "2026-000005"
    day = {"filter": "period:20260105..20260105,state:all", "per_page": "2"}
    assert moneybird.requests == [("GET", "external_sales_invoices", day),
                                  ("GET", "external_sales_invoices", {**day, "page": "2"}),
                                  ("GET", "external_sales_invoices", {**day, "page": "3"})]
    # and a number Moneybird does not have is None, the contact narrowing the search
    assert mb.find_external_sales_invoice("2026-000006", invoice_date=date(2026, 1, 5)) is None
    assert mb.find_external_sales_invoice("2026-000006", contact_id=contact["id"])["date"] == "2026-01-06"


def test_an_unknown_outcome_is_resolved_by_finding_the_invoice_not_by_sending_it_again(moneybird):
    # Given Moneybird that books the invoice but answers after the client stopped waiting
    moneybird.hold_after_create = 5
    mb = client(moneybird, timeout=(2, 0.3))
    contact = a_contact(mb)

    # When the invoice is created
    with pytest.raises(AccountingRetryableError) as caught:
        mb.create_external_sales_invoice(an_invoice(contact["id"]))

    # Then the error says the invoice may exist
    assert (caught.value.retryable, caught.value.outcome_unknown) == (True, True)
    assert str(caught.value) == "POST external_sales_invoices: Moneybird did not answer in time."
    # and looking it up finds it: nothing is sent twice
    found = mb.find_external_sales_invoice("2026-000123", invoice_date=date(2026, 1, 5), contact_id=contact["id"])
    assert found["id"] == moneybird.invoice("2026-000123")["id"]
    assert moneybird.count("POST", "external_sales_invoices") == 1
    assert len(moneybird.invoices) == 1


# -- throttling ----------------------------------------------------------------------------------------------


def test_past_moneybirds_request_limit_the_error_says_how_long_to_wait(moneybird):
    # Given a limit of 3 requests in 30 seconds
    moneybird.rate_limit, moneybird.rate_window = 3, 30
    mb = client(moneybird)
    for customer in ("a", "b", "c"):
        assert mb.find_contact(customer) is None

    # When a fourth request is made
    with pytest.raises(AccountingRetryableError) as caught:
        mb.find_contact("d")

    # Then it is retryable after Moneybird's Retry-After, nothing lost
    error = caught.value
    assert (error.status, error.retryable, error.retry_after, error.outcome_unknown) == (429, True, 30, False)
    assert str(error) == ("Moneybird's request limit was reached (GET contacts/customer_id/d): "
                          "try again in 30 seconds.")
    # and once the window has passed, the same call works
    moneybird.reset_rate_limit()
    assert mb.find_contact("d") is None


def test_a_retry_after_given_as_a_date_is_read_as_seconds(moneybird):
    moneybird.rate_limit, moneybird.rate_window, moneybird.retry_after_as_date = 1, 30, True
    mb = client(moneybird)
    mb.ledger_accounts()

    with pytest.raises(AccountingRetryableError) as caught:
        mb.ledger_accounts()

    assert caught.value.status == 429
    assert 28 <= caught.value.retry_after <= 31


# -- faults -------------------------------------------------------------------------------------------------


def test_a_server_error_is_retryable_and_on_a_creation_its_outcome_unknown(moneybird):
    mb = client(moneybird)
    contact = a_contact(mb)
    moneybird.fail_next(2, status=500, error="Internal server error")

    with pytest.raises(AccountingRetryableError) as on_read:
        mb.tax_rates()
    with pytest.raises(AccountingRetryableError) as on_create:
        mb.create_external_sales_invoice(an_invoice(contact["id"]))

    assert (on_read.value.status, on_read.value.outcome_unknown) == (500, False)
    assert (on_create.value.status, on_create.value.outcome_unknown) == (500, True)
    assert str(on_create.value) == ("POST external_sales_invoices: Moneybird had an error (HTTP 500): "
                                    "Internal server error")
    assert moneybird.invoices == {}


def test_an_html_page_instead_of_json_is_retryable(moneybird):
    moneybird.fail_next_with_html(status=503)

    with pytest.raises(AccountingRetryableError) as caught:
        client(moneybird).ledger_accounts()

    assert (caught.value.status, caught.value.retryable, caught.value.outcome_unknown) == (503, True, False)
    assert str(caught.value).startswith("GET ledger_accounts: HTTP 503 from Moneybird, not JSON (an error page?): "
                                        "<!DOCTYPE html><html><head><title>503 Service")


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_is_terminal_and_names_the_environment_variable(moneybird, status):
    moneybird.refuse_token_next(status=status)
    mb = client(moneybird, token_env="MONEYBIRD_TOKEN_FOTOCADEAU")

    with pytest.raises(AccountingAuthError) as caught:
        mb.tax_rates()

    assert (caught.value.status, caught.value.retryable) == (status, False)
    assert str(caught.value) == (
        f"Moneybird refused the API token (HTTP {status}): check the token in the environment variable "
        f"MONEYBIRD_TOKEN_FOTOCADEAU and that it may use administration {moneybird.administration_id}.")


def test_a_wrong_token_is_an_auth_error_and_no_token_sends_nothing(moneybird):
    with pytest.raises(AccountingAuthError) as wrong:
        client(moneybird, token="mb-revoked").find_contact("woo-nl-1017")
    with pytest.raises(AccountingAuthError) as missing:
        client(moneybird, token="").find_contact("woo-nl-1017")

    assert wrong.value.status == 401
    assert str(missing.value) == "No Moneybird API token: set the environment variable MONEYBIRD_API_TOKEN."
    assert moneybird.requests == []


def test_a_refused_connection_is_retryable_and_nothing_was_sent():
    # Given a port nobody listens on
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    mb = MoneybirdClient(f"http://127.0.0.1:{port}/api/v2", administration_id="1", token="t", timeout=(1, 1))

    started = time.monotonic()
    with pytest.raises(AccountingRetryableError) as caught:
        mb.create_external_sales_invoice(an_invoice("1"))

    assert (caught.value.retryable, caught.value.outcome_unknown) == (True, False)
    assert str(caught.value) == "POST external_sales_invoices: the connection to Moneybird failed."
    assert time.monotonic() - started < 1
