"""The Moneybird invoice connector against a local Moneybird (tests.fakes.moneybird) over HTTP: contacts made once,
two requests an invoice once they are known, the request limit waited out, nothing booked twice after a lost answer
or a duplicate, faults as typed errors, credit notes negative, the PDF, and verify() in staff's words.

Documents come from the builders of test_documents_arithmetic (a Dutch invoice of 135.24, its credit note of 60.93).
"""

from decimal import Decimal

import pytest

from accounting.integrations.errors import (
    AccountingAuthError,
    AccountingDuplicateError,
    AccountingRejectedError,
    AccountingRetryableError,
    MissingTaxRateError,
)
from accounting.integrations.moneybird import MoneybirdClient
from accounting.invoice_connectors import Exported, InvoiceConnector, MoneybirdConnector, moneybird_connector
from tests.accounting.test_documents_arithmetic import credit_note, dutch_invoice, oss_invoice
from tests.fakes.moneybird import TAX_RATES, FakeMoneybird

RATE_ID = {name: rate_id for rate_id, name, *_ in TAX_RATES}
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
ANNA = "woo-nl-1017"


@pytest.fixture
def moneybird():
    server = FakeMoneybird().start()
    yield server
    server.stop()


def client(server, **kwargs):
    return MoneybirdClient(server.base_url, administration_id=server.administration_id, token=server.token,
                           **kwargs)


def connector(server, *, client_options=None, **kwargs):
    return MoneybirdConnector(client(server, **(client_options or {})), **kwargs)


def posts(server, path):
    return server.count("POST", path)


# -- contacts and the cost of an export ---------------------------------------------------------------------------


def test_a_new_customer_becomes_a_contact_once_and_their_next_invoice_costs_two_requests(moneybird):
    # Given a connector and a customer Moneybird does not know
    mb = connector(moneybird)

    # When two of their invoices are exported with their PDF
    first = mb.export(dutch_invoice(), customer_key=ANNA, pdf=PDF)
    second = mb.export(dutch_invoice(number="2026-000124"), customer_key=ANNA, pdf=PDF)

    # Then the first read the tax rates, looked for the contact and made it; the second only booked and attached
    assert moneybird.requests == [
        ("GET", "tax_rates", {"filter": "tax_rate_type:sales_invoice,active:true", "per_page": "100"}),
        ("GET", f"contacts/customer_id/{ANNA}", {}),
        ("POST", "contacts", {}),
        ("POST", "external_sales_invoices", {}),
        ("POST", f"external_sales_invoices/{first.external_id}/attachment", {}),
        ("POST", "external_sales_invoices", {}),
        ("POST", f"external_sales_invoices/{second.external_id}/attachment", {}),
    ]
    assert (first.requests, second.requests) == (5, 2)
    assert first == Exported(external_id=moneybird.invoice("2026-000123")["id"], total=Decimal("135.24"), requests=5)
    # one contact, both invoices booked on it, each with its PDF
    (contact,) = moneybird.contacts.values()
    assert (contact["customer_id"], contact["firstname"], contact["lastname"]) == (ANNA, "Anna", "de Vries")
    assert {i["reference"]: i["contact_id"] for i in moneybird.invoices.values()} == {
        "2026-000123": contact["id"], "2026-000124": contact["id"]}
    assert moneybird.attachments[second.external_id] == [("2026-000124.pdf", "application/pdf", PDF)]


def test_once_the_contacts_exist_every_export_costs_at_most_two_requests(moneybird):
    # Given three customers Moneybird already knows (made by an earlier process) and a fresh connector
    for key in ("woo-nl-1", "woo-nl-2", "woo-nl-3"):
        connector(moneybird).export(dutch_invoice(number=f"2025-{key}"), customer_key=key)
    mb = connector(moneybird)
    contacts_before = posts(moneybird, "contacts")

    # When twelve invoices of theirs are exported, half with a PDF
    costs = [mb.export(dutch_invoice(number=f"2026-{n:06d}"), customer_key=f"woo-nl-{n % 3 + 1}",
                       pdf=PDF if n % 2 else None).requests for n in range(12)]

    # Then each contact was looked up once (never made again), the tax rates read once, and every later export
    # cost the invoice and, with a PDF, its upload
    # first: tax rates, contact lookup, invoice; then a lookup each for the other two (the second with its PDF)
    assert costs[:3] == [3, 3, 2]
    assert costs[3:] == [2 if n % 2 else 1 for n in range(3, 12)]
    assert max(costs[3:]) <= 2
    assert posts(moneybird, "contacts") == contacts_before
    assert len(moneybird.invoices) == 3 + 12


def test_a_contact_made_by_another_worker_in_the_meantime_is_found_not_made_twice(moneybird):
    # Given two workers exporting for the same new customer: the other one makes the contact right after our lookup
    other = connector(moneybird)
    real_find = MoneybirdClient.find_contact
    lookups = []

    class Racing(MoneybirdClient):
        def find_contact(self, customer_id):
            found = real_find(self, customer_id)
            if not lookups:
                other.export(dutch_invoice(number="2026-000100"), customer_key=customer_id)
            lookups.append(found)
            return found

    mb = MoneybirdConnector(Racing(moneybird.base_url, administration_id=moneybird.administration_id,
                                   token=moneybird.token))

    # When our export makes the contact (Moneybird: customer id taken)
    exported = mb.export(dutch_invoice(), customer_key=ANNA)

    # Then it takes the contact the other worker made: one contact, both invoices on it
    (contact,) = moneybird.contacts.values()
    assert lookups == [None, contact]
    assert moneybird.invoices[exported.external_id]["contact_id"] == contact["id"]
    assert mb.contact_ids == {ANNA: contact["id"]}


# -- tax rates ------------------------------------------------------------------------------------------------------


def test_the_stores_mapping_of_tax_rates_wins_and_spares_reading_moneybirds(moneybird):
    # Given a store that maps its 21 % to the rate it keeps for them, and its 9 % too
    mapping = {("S", 21): RATE_ID["21% btw België (OSS)"], ("S", Decimal("9.00")): RATE_ID["9% btw"]}
    mb = connector(moneybird, tax_rate_overrides=mapping)

    # When a Dutch invoice at 21 % and 9 % is exported
    exported = mb.export(dutch_invoice(), customer_key=ANNA)

    # Then its lines carry the mapped rates and Moneybird's tax rates were never asked for
    booked = moneybird.invoices[exported.external_id]
    assert [d["tax_rate_id"] for d in booked["details"]] == [
        RATE_ID["21% btw België (OSS)"], RATE_ID["9% btw"], RATE_ID["21% btw België (OSS)"],
        RATE_ID["21% btw België (OSS)"], RATE_ID["21% btw België (OSS)"]]
    assert moneybird.count("GET", "tax_rates") == 0


def test_a_rate_the_mapping_leaves_out_is_chosen_from_moneybirds_read_once(moneybird):
    mb = connector(moneybird, tax_rate_overrides={("S", Decimal("9")): RATE_ID["9% btw"]})

    for number in ("2026-000123", "2026-000124"):
        mb.export(dutch_invoice(number=number), customer_key=ANNA)

    details = moneybird.invoice("2026-000124")["details"]
    assert [d["tax_rate_id"] for d in details] == [RATE_ID["21% btw"], RATE_ID["9% btw"]] + [RATE_ID["21% btw"]] * 3
    assert moneybird.count("GET", "tax_rates") == 1


def test_a_rate_moneybird_lacks_stops_the_export_before_anything_is_made(moneybird):
    # Given an OSS invoice to France with the French 5.5 % on books, which the administration does not have
    mb = connector(moneybird)

    with pytest.raises(MissingTaxRateError) as caught:
        mb.export(oss_invoice(), customer_key="woo-fr-4712", pdf=PDF)

    assert str(caught.value) == ("Moneybird has no active sales tax rate of 5.5% for a customer in FR. "
                                 "Add it in Moneybird (Settings → Tax rates), then export again.")
    assert (moneybird.contacts, moneybird.invoices) == ({}, {})


# -- the request limit ----------------------------------------------------------------------------------------------


def test_moneybirds_request_limit_is_waited_out_and_the_export_goes_through(moneybird):
    # Given Moneybird allowing 3 requests in 30 seconds, and a sleep that lets that window pass
    moneybird.rate_limit, moneybird.rate_window = 3, 30
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        moneybird.reset_rate_limit()

    mb = connector(moneybird, sleep=sleep)

    # When an export needs five requests
    exported = mb.export(dutch_invoice(), customer_key=ANNA, pdf=PDF)

    # Then the fourth was answered 429, waited for as Moneybird said, and sent again: booked once, with its PDF
    assert slept == [30]
    assert exported.requests == 6
    assert posts(moneybird, "external_sales_invoices") == 1
    assert moneybird.invoice("2026-000123")["attachments"][0]["filename"] == "2026-000123.pdf"


def test_a_wait_beyond_the_budget_is_left_to_the_task_and_nothing_is_booked(moneybird):
    # Given Moneybird allowing 3 requests in 25 seconds, a budget of 60 seconds and a clock that does not move
    moneybird.rate_limit, moneybird.rate_window = 3, 25
    slept = []
    mb = connector(moneybird, max_wait=60, sleep=slept.append)

    # When the export runs into the limit
    with pytest.raises(AccountingRetryableError) as caught:
        mb.export(dutch_invoice(), customer_key=ANNA)

    # Then it waited twice (50 s), a third wait would pass 60 s: the 429 goes to the caller, retryable, with its wait
    assert slept == [25, 25]
    assert (caught.value.status, caught.value.retryable, caught.value.retry_after) == (429, True, 25)
    assert moneybird.invoices == {}


# -- faults -------------------------------------------------------------------------------------------------------


def test_a_server_error_is_raised_retryable_and_the_retry_books_the_invoice_once(moneybird):
    # Given a connector that knows the customer, and Moneybird failing the next request
    mb = connector(moneybird)
    mb.export(dutch_invoice(number="2026-000122"), customer_key=ANNA)
    moneybird.fail_next(status=500, error="Internal server error")

    # When the invoice is exported
    with pytest.raises(AccountingRetryableError) as caught:
        mb.export(dutch_invoice(), customer_key=ANNA)

    # Then the 500 is raised, retryable and of unknown outcome; Moneybird does not have the invoice
    assert (caught.value.status, caught.value.retryable, caught.value.outcome_unknown) == (500, True, True)
    assert str(caught.value) == ("POST external_sales_invoices: Moneybird had an error (HTTP 500): "
                                 "Internal server error")
    assert moneybird.invoice("2026-000123") is None
    # and the task's retry (may_exist) looks first, finds nothing, books it: one invoice
    again = mb.export(dutch_invoice(), customer_key=ANNA, may_exist=True)
    assert (again.existing, again.requests) == (False, 2)
    assert [i["reference"] for i in moneybird.invoices.values()].count("2026-000123") == 1


def test_a_refused_token_is_an_auth_error_naming_the_environment_variable(moneybird, monkeypatch):
    monkeypatch.setenv("MONEYBIRD_TOKEN_FOTOCADEAU", "mb-revoked-token")
    mb = moneybird_connector(base_url=moneybird.base_url, administration_id=moneybird.administration_id,
                             token_env="MONEYBIRD_TOKEN_FOTOCADEAU")

    with pytest.raises(AccountingAuthError) as caught:
        mb.export(dutch_invoice(), customer_key=ANNA)

    assert (caught.value.status, caught.value.retryable) == (401, False)
    assert str(caught.value) == (
        "Moneybird refused the API token (HTTP 401): check the token in the environment variable "
        f"MONEYBIRD_TOKEN_FOTOCADEAU and that it may use administration {moneybird.administration_id}.")
    assert (moneybird.contacts, moneybird.invoices) == ({}, {})


def test_the_token_comes_from_the_named_environment_variable_and_without_it_nothing_is_sent(moneybird, monkeypatch):
    options = {"base_url": moneybird.base_url, "administration_id": moneybird.administration_id,
               "token_env": "MONEYBIRD_TOKEN_FOTOCADEAU", "ledger_account_id": "416830557403809001"}
    monkeypatch.delenv("MONEYBIRD_TOKEN_FOTOCADEAU", raising=False)
    with pytest.raises(AccountingAuthError) as caught:
        moneybird_connector(**options).export(dutch_invoice(), customer_key=ANNA)
    assert str(caught.value) == "No Moneybird API token: set the environment variable MONEYBIRD_TOKEN_FOTOCADEAU."
    assert moneybird.requests == []

    monkeypatch.setenv("MONEYBIRD_TOKEN_FOTOCADEAU", f"{moneybird.token}\n")  # pasted with its line end
    exported = moneybird_connector(**options).export(dutch_invoice(), customer_key=ANNA)
    assert {d["ledger_account_id"] for d in moneybird.invoices[exported.external_id]["details"]} == {
        "416830557403809001"}


def test_an_answer_lost_after_booking_is_found_by_the_retry_and_nothing_is_booked_twice(moneybird):
    # Given Moneybird that books the invoice but answers after the client stopped waiting
    mb = connector(moneybird, client_options={"timeout": (2, 0.3)})
    mb.export(dutch_invoice(number="2026-000122"), customer_key=ANNA)
    moneybird.hold_after_create = 5

    # When the export times out
    with pytest.raises(AccountingRetryableError) as caught:
        mb.export(dutch_invoice(), customer_key=ANNA, pdf=PDF)
    assert (caught.value.retryable, caught.value.outcome_unknown) == (True, True)

    # and the task's retry says it may exist
    again = mb.export(dutch_invoice(), customer_key=ANNA, pdf=PDF, may_exist=True)

    # Then it found the invoice by its number, created nothing and attached the PDF the first attempt never sent
    booked = moneybird.invoice("2026-000123")
    assert (again.external_id, again.existing, again.total) == (booked["id"], True, Decimal("135.24"))
    assert posts(moneybird, "external_sales_invoices") == 2  # 2026-000122 and the one attempt at 2026-000123
    assert [i["reference"] for i in moneybird.invoices.values()] == ["2026-000122", "2026-000123"]
    assert moneybird.attachments[booked["id"]] == [("2026-000123.pdf", "application/pdf", PDF)]
    assert again.requests == 2  # the day's list, the PDF


def test_a_duplicate_reference_returns_the_invoice_moneybird_already_has(moneybird):
    # Given an invoice booked by an earlier process, its PDF attached
    earlier = connector(moneybird).export(dutch_invoice(), customer_key=ANNA, pdf=PDF)

    # When a fresh connector exports it again without being told it may exist
    again = connector(moneybird).export(dutch_invoice(), customer_key=ANNA, pdf=PDF)

    # Then Moneybird's 422 (reference taken) leads to the invoice it has: same id, one invoice, one PDF
    assert (again.external_id, again.existing, again.total, again.attach_error) == (
        earlier.external_id, True, Decimal("135.24"), "")
    assert len(moneybird.invoices) == 1
    assert len(moneybird.attachments[earlier.external_id]) == 1
    contact_id = moneybird.invoices[earlier.external_id]["contact_id"]
    assert moneybird.requests[-2:] == [
        ("POST", "external_sales_invoices", {}),
        ("GET", "external_sales_invoices", {"filter": f"period:20260314..20260314,state:all,contact_id:{contact_id}",
                                            "per_page": "100"})]


def test_our_number_on_another_customers_invoice_is_a_duplicate_error_staff_can_act_on(moneybird):
    # Given Moneybird holding 2026-000123 for another customer (a numbering reset, an import)
    connector(moneybird).export(dutch_invoice(), customer_key="woo-nl-9999")

    with pytest.raises(AccountingDuplicateError) as caught:
        connector(moneybird).export(dutch_invoice(), customer_key=ANNA)

    assert str(caught.value) == ("Moneybird already has an invoice with the reference 2026-000123, but not for this "
                                 "customer on 2026-03-14: check that invoice in Moneybird before exporting again.")
    assert caught.value.details == {"reference": ["has already been taken"]}
    assert len(moneybird.invoices) == 1


@pytest.mark.parametrize("options, message", [
    ({"tax_rate_overrides": {("S", 21): RATE_ID["21% btw inkoop"], ("S", 9): RATE_ID["9% btw"]}},
     "Moneybird refused invoice 2026-000123: Details tax rate id is not a valid sales tax rate"),
    ({"ledger_account_id": "416830557403809999"},
     "Moneybird refused invoice 2026-000123: Details ledger account id does not exist"),
])
def test_an_invoice_moneybird_refuses_is_a_rejected_error_naming_the_field(moneybird, options, message):
    with pytest.raises(AccountingRejectedError) as caught:
        connector(moneybird, **options).export(dutch_invoice(), customer_key=ANNA, pdf=PDF)

    assert type(caught.value) is AccountingRejectedError
    assert (str(caught.value), caught.value.status, caught.value.retryable) == (message, 422, False)
    assert moneybird.invoices == {}


# -- credit notes and the PDF ------------------------------------------------------------------------------------


def test_a_credit_note_is_booked_negative_as_moneybird_has_it(moneybird):
    mb = connector(moneybird)
    mb.export(dutch_invoice(), customer_key=ANNA)

    exported = mb.export(credit_note(), customer_key=ANNA, pdf=PDF)

    booked = moneybird.invoice("2026-000131")
    assert exported.total == Decimal("-60.93") == Decimal(booked["total_price_incl_tax"])
    assert Decimal(booked["total_price_excl_tax"]) == Decimal("-52.17")
    assert [d["price"] for d in booked["details"]] == ["-28.92", "-18.30", "-4.95"]
    assert booked["details"][0]["description"] == "Credit note for invoice 2026-000123: Photo book A4, 40 pages"
    assert mb.verify(credit_note(), external_id=exported.external_id) == ""


def test_a_pdf_moneybird_does_not_take_leaves_the_invoice_booked_and_the_retry_attaches_it(moneybird):
    # Given Moneybird failing the next PDF upload
    mb = connector(moneybird)
    moneybird.fail_next(status=500, error="Internal server error", ending="attachment")

    # When the invoice is exported with its PDF
    exported = mb.export(dutch_invoice(), customer_key=ANNA, pdf=PDF)

    # Then the external id is kept and the failure said, not raised
    booked = moneybird.invoice("2026-000123")
    assert exported.external_id == booked["id"]
    assert exported.attach_error == (f"POST external_sales_invoices/{booked['id']}/attachment: Moneybird had an "
                                     "error (HTTP 500): Internal server error")
    assert booked["attachments"] == []
    # and exporting again (may_exist) attaches it to the same invoice
    again = mb.export(dutch_invoice(), customer_key=ANNA, pdf=PDF, may_exist=True)
    assert (again.external_id, again.existing, again.attach_error) == (booked["id"], True, "")
    assert len(moneybird.invoices) == 1
    assert moneybird.attachments[booked["id"]] == [("2026-000123.pdf", "application/pdf", PDF)]


# -- verify ---------------------------------------------------------------------------------------------------------


def test_verify_is_empty_when_moneybird_holds_the_invoice_with_its_total(moneybird):
    mb = connector(moneybird)
    exported = mb.export(dutch_invoice(), customer_key=ANNA)
    moneybird.requests.clear()

    assert mb.verify(dutch_invoice(), external_id=exported.external_id) == ""
    assert moneybird.requests == [("GET", f"external_sales_invoices/{exported.external_id}", {})]


def test_verify_says_how_the_totals_differ(moneybird):
    # Given an invoice whose total was changed in Moneybird (a line edited there)
    mb = connector(moneybird)
    exported = mb.export(dutch_invoice(), customer_key=ANNA)
    moneybird.invoices[exported.external_id]["total_price_incl_tax"] = "120.0"

    assert mb.verify(dutch_invoice(), external_id=exported.external_id) == "Moneybird has 120.00, the invoice 135.24"
    # and a credit note booked positive (by hand) is a difference too
    credit = mb.export(credit_note(), customer_key=ANNA)
    moneybird.invoices[credit.external_id]["total_price_incl_tax"] = "60.93"
    assert mb.verify(credit_note(), external_id=credit.external_id) == "Moneybird has 60.93, the credit note -60.93"


def test_verify_says_when_moneybird_no_longer_has_it_or_holds_another_number_or_currency(moneybird):
    mb = connector(moneybird)
    invoice = mb.export(dutch_invoice(), customer_key=ANNA)
    credit = mb.export(credit_note(), customer_key=ANNA)
    other = mb.export(dutch_invoice(number="2026-000124"), customer_key=ANNA)
    del moneybird.invoices[invoice.external_id], moneybird.invoices[credit.external_id]
    moneybird.invoices[other.external_id]["currency"] = "USD"

    assert mb.verify(dutch_invoice(), external_id=invoice.external_id) == "Moneybird no longer has invoice 2026-000123"
    assert mb.verify(credit_note(), external_id=credit.external_id) == (
        "Moneybird no longer has credit note 2026-000131")
    assert mb.verify(dutch_invoice(number="2026-000125"), external_id=other.external_id) == (
        f"Moneybird's record {other.external_id} has the reference 2026-000124, not 2026-000125")
    assert mb.verify(dutch_invoice(number="2026-000124"), external_id=other.external_id) == (
        "Moneybird has 135.24 USD, the invoice 135.24 EUR")


def test_verify_waits_out_the_request_limit_and_raises_other_faults(moneybird):
    mb = connector(moneybird, sleep=lambda seconds: moneybird.reset_rate_limit())
    exported = mb.export(dutch_invoice(), customer_key=ANNA)
    moneybird.rate_limit, moneybird.rate_window = len(moneybird.requests), 30  # the next request is over the limit

    assert mb.verify(dutch_invoice(), external_id=exported.external_id) == ""
    moneybird.fail_next(status=503, error="Service unavailable")
    with pytest.raises(AccountingRetryableError) as caught:
        mb.verify(dutch_invoice(), external_id=exported.external_id)
    assert (caught.value.status, caught.value.outcome_unknown) == (503, False)


def test_a_second_system_is_one_more_invoice_connector():
    assert issubclass(MoneybirdConnector, InvoiceConnector)
    with pytest.raises(TypeError):
        InvoiceConnector()

    class Elsewhere(InvoiceConnector):
        system = "e-Boekhouden"

        def export(self, document, *, customer_key, pdf=None, may_exist=False):
            return Exported(external_id="M-1", total=document.gross_total, requests=1)

        def verify(self, document, *, external_id):
            return ""

    assert Elsewhere().export(dutch_invoice(), customer_key="c") == Exported(
        external_id="M-1", total=Decimal("135.24"), requests=1)
