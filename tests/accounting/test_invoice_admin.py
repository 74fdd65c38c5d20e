"""The Invoices list, the VAT summary and the orders without an invoice, as finance and support see them."""

import csv
from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from accounting.choices import ExportState
from accounting.models import Invoice, InvoiceRule
from accounting.services import invoices as invoice_service
from accounting.services.invoices import invoice_correct
from tests.accounting.test_invoices import mirror, two_rate_order
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
LIST = "admin:accounting_invoice_changelist"


def staff(role):
    user = UserFactory(username=role, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def invoiced(invoice_shop, django_capture_on_commit_callbacks):
    """Two Dutch invoices and a Belgian one (21 % + 9 %), the first corrected (a credit note and a new invoice)."""
    orders = mirror(invoice_shop, two_rate_order(11), two_rate_order(12),
                    {**two_rate_order(13), "billing": {**two_rate_order(13)["billing"], "country": "BE"}},
                    capture=django_capture_on_commit_callbacks)
    invoice_correct(invoice=Invoice.objects.get(order=orders[0]), user=None)
    return orders


def test_finance_sees_every_document_with_its_files_and_export_state(client, invoiced,
                                                                      django_assert_max_num_queries):
    client.force_login(staff("finance"))
    Invoice.objects.filter(number__endswith="000002").update(check_error="Moneybird has 40.15, the invoice 41.15")

    with django_assert_max_num_queries(13):
        response = client.get(reverse(LIST))

    page = response.content.decode()
    assert response.status_code == 200
    assert page.count("/pdf/") == Invoice.objects.count() == 5
    assert "differs" in page and "Moneybird has 40.15" in page
    assert "VAT summary" in page and "Orders without invoice" in page


def test_the_list_costs_the_same_queries_for_many_documents(client, invoice_shop, django_capture_on_commit_callbacks,
                                                           django_assert_max_num_queries):
    mirror(invoice_shop, *[two_rate_order(100 + i) for i in range(40)], capture=django_capture_on_commit_callbacks)
    client.force_login(staff("finance"))
    with django_assert_max_num_queries(13):
        assert client.get(reverse(LIST)).status_code == 200


def test_search_is_by_exact_invoice_or_order_number(client, invoiced):
    client.force_login(staff("support"))
    invoice = Invoice.objects.get(order=invoiced[1])

    by_number = client.get(reverse(LIST), {"q": invoice.number}).context["cl"].result_list
    by_order = client.get(reverse(LIST), {"q": invoiced[1].number}).context["cl"].result_list
    partial = client.get(reverse(LIST), {"q": invoice.number[:-1]}).context["cl"].result_list

    assert list(by_number) == list(by_order) == [invoice] and list(partial) == []


def test_nobody_changes_or_deletes_an_issued_document(client, invoiced):
    invoice = Invoice.objects.first()
    client.force_login(UserFactory(is_superuser=True, is_staff=True))
    page = client.get(reverse("admin:accounting_invoice_change", args=[invoice.pk]))
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert client.post(reverse("admin:accounting_invoice_delete", args=[invoice.pk])).status_code == 403
    assert client.get(reverse("admin:accounting_invoice_add")).status_code == 403
    assert Invoice.objects.get(pk=invoice.pk).document == invoice.document


def test_support_may_look_but_not_export_nor_read_the_vat_return(client, invoiced):
    client.force_login(staff("support"))
    response = client.get(reverse(LIST))
    assert response.status_code == 200 and "export_now" not in response.content.decode()
    refused = client.post(reverse(LIST), {"action": "export_now",
                                          "_selected_action": [Invoice.objects.first().pk]})
    assert Invoice.objects.filter(export_state=ExportState.EXPORTED).count() == 0
    assert refused.status_code in (200, 302, 403)
    assert client.get(reverse("admin:accounting_invoice_vat_summary")).status_code == 403


def test_the_vat_summary_nets_credit_notes_per_country_and_rate_and_downloads_as_csv(client, invoiced):
    client.force_login(staff("finance"))
    period = {"since": date(2000, 1, 1).isoformat(), "until": date(2100, 1, 1).isoformat()}

    page = client.get(reverse("admin:accounting_invoice_vat_summary"), period)
    download = client.get(reverse("admin:accounting_invoice_vat_summary"), {**period, "format": "csv"})

    rows = list(csv.DictReader(StringIO(b"".join(download.streaming_content).decode())))
    assert page.status_code == 200 and download["Content-Type"].startswith("text/csv")
    # NL: three invoices (the first, its replacement, order 12) minus one credit note = two invoices' worth
    assert [(r["country"], r["vat_rate"], r["taxable_amount"], r["vat_amount"], r["invoices"], r["credit_notes"])
            for r in rows] == [
        ("BE", "21", "25.00", "5.25", "1", "0"), ("BE", "9", "10.00", "0.90", "1", "0"),
        ("NL", "21", "50.00", "10.50", "3", "1"), ("NL", "9", "20.00", "1.80", "3", "1")]
    assert "105.00" in page.content.decode()  # the period's taxable total (EUR)


def test_orders_without_an_invoice_are_listed_with_the_reason_and_finance_may_issue_them(
        client, invoice_shop, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr(invoice_service, "enqueue", lambda *args, **kwargs: None)  # no worker came by
    waiting, broken, on_hold = mirror(invoice_shop, two_rate_order(21), two_rate_order(22, total="99.00"),
                                      two_rate_order(23, status="on-hold"), capture=django_capture_on_commit_callbacks)
    invoice_service.invoices_issue_due(order_id=broken.pk)
    client.force_login(staff("finance"))
    url = reverse("admin:accounting_invoice_without")

    page = client.get(url).content.decode()
    assert "#21" in page and "#22" in page and "#23" not in page and "99.00" in page

    client.post(url, {"order": [waiting.pk]})
    assert Invoice.objects.filter(order=waiting).count() == 1
    assert "#21" not in client.get(url).content.decode()
    assert InvoiceRule.objects.count() == 1
    assert Decimal(Invoice.objects.get(order=waiting).gross_total) == Decimal("41.15")
