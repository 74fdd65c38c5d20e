"""The pages of invoices: the order page's panel (list, problems, Issue, Correct), My Account's invoices, downloads."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounting.choices import DocumentKind, InvoiceCause
from accounting.documents.validation import validate_ubl
from accounting.models import Invoice, InvoiceProblem
from accounting.services.invoices import invoice_correct, invoice_issue
from tests.accounting.test_invoices import mirror, two_rate_order
from tests.factories import UserFactory
from tests.projects.factories import CustomerFactory

pytestmark = pytest.mark.django_db
YEAR = datetime.now(UTC).year


def staff(role):
    user = UserFactory(username=role)
    user.groups.add(Group.objects.get(name=role))
    return user


def shop_order(store, woo_id, capture, *, status="processing", customer_id=0, email=None, **extra):
    payload = two_rate_order(woo_id, status=status, customer_id=customer_id, **extra)
    if email:
        payload["billing"]["email"] = email
    [order] = mirror(store, payload, capture=capture)
    return order


def documents(order):
    return list(Invoice.objects.filter(order=order).order_by("pk"))


def order_url(order):
    return reverse("admin:fulfillment_order_change", args=[order.pk])


def issue_url(order):
    return reverse("admin:accounting_order_invoice_issue", args=[order.pk])


def correct_url(order):
    return reverse("admin:accounting_order_invoice_correct", args=[order.pk])


def messages_of(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def finance(db):
    return staff("finance")


@pytest.fixture
def support(db):
    return staff("support")


# -- the order page --------------------------------------------------------------------------------------------

def test_finance_sees_the_orders_documents_with_their_files_and_may_correct(
        client, finance, invoice_shop, django_capture_on_commit_callbacks):
    order = shop_order(invoice_shop, 901, django_capture_on_commit_callbacks)
    [invoice] = documents(order)
    client.force_login(finance)

    html = client.get(order_url(order)).content.decode()

    assert 'id="invoices-panel"' in html
    assert f'data-number="{invoice.number}"' in html and f"{YEAR}-000001" in html
    assert invoice.issue_date.strftime("%Y-%m-%d") in html and "41.15 EUR" in html
    assert "in force" in html and ">Open" in html  # the export state: the store exports nothing yet
    assert reverse("accounting:staff_invoice_pdf", args=[invoice.pk]) in html
    assert reverse("accounting:staff_invoice_ubl", args=[invoice.pk]) in html
    assert f'href="{correct_url(order)}"' in html and "Correct invoice…" in html
    assert 'id="invoice-issue-form"' not in html  # one is in force
    assert 'id="invoice-problems"' not in html


def test_the_reason_an_order_is_not_invoiced_is_in_a_warning_and_finance_may_issue(
        client, finance, invoice_shop, django_capture_on_commit_callbacks):
    # A total the lines do not add up to: the invoice is refused with its reason
    order = shop_order(invoice_shop, 902, django_capture_on_commit_callbacks, total="42.15")
    reason = InvoiceProblem.objects.get(order=order, key="invoice").reason
    client.force_login(finance)

    html = client.get(order_url(order)).content.decode()

    assert 'id="invoice-problems"' in html and "Not issued" in html
    assert reason.replace("'", "&#x27;") in html
    assert 'id="no-invoices"' in html and 'id="invoice-issue-form"' in html
    assert f'action="{issue_url(order)}"' in html
    assert 'id="invoice-correct-link"' not in html


def test_support_sees_the_documents_but_no_buttons_and_may_not_post(
        client, support, invoice_shop, django_capture_on_commit_callbacks):
    invoiced = shop_order(invoice_shop, 903, django_capture_on_commit_callbacks)
    waiting = shop_order(invoice_shop, 904, django_capture_on_commit_callbacks, status="on-hold")
    [invoice] = documents(invoiced)
    client.force_login(support)

    html = client.get(order_url(invoiced)).content.decode()
    assert f'data-number="{invoice.number}"' in html
    assert reverse("accounting:staff_invoice_pdf", args=[invoice.pk]) in html
    assert "Correct invoice…" not in html and 'id="invoice-issue-form"' not in html
    assert 'id="invoice-issue-form"' not in client.get(order_url(waiting)).content.decode()

    # Posting anyway is refused, and nothing is issued
    assert client.post(issue_url(waiting)).status_code == 403
    assert client.get(correct_url(invoiced)).status_code == 403
    assert client.post(correct_url(invoiced), {"invoice": invoice.pk}).status_code == 403
    assert documents(waiting) == [] and documents(invoiced) == [invoice]
    invoice.refresh_from_db()
    assert not invoice.credited


def test_staff_without_the_invoices_permission_see_no_panel(client, invoice_shop, django_capture_on_commit_callbacks):
    order = shop_order(invoice_shop, 905, django_capture_on_commit_callbacks)
    user = UserFactory(username="orders-only")
    user.user_permissions.add(Permission.objects.get(content_type__app_label="fulfillment", codename="view_order"))
    client.force_login(user)

    html = client.get(order_url(order)).content.decode()

    assert 'id="invoices-panel"' not in html
    assert reverse("accounting:staff_invoice_pdf", args=[documents(order)[0].pk]) not in html


def test_finance_issue_the_invoice_by_hand_from_the_page_once(
        client, finance, invoice_shop, django_capture_on_commit_callbacks):
    order = shop_order(invoice_shop, 910, django_capture_on_commit_callbacks, status="on-hold")
    client.force_login(finance)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(issue_url(order))

    assert response.status_code == 302 and response["Location"] == order_url(order)
    [invoice] = documents(order)
    assert (invoice.kind, invoice.cause, invoice.created_by, invoice.number) == (
        DocumentKind.INVOICE, InvoiceCause.MANUAL, finance, f"{YEAR}-000001")
    assert messages_of(response) == [f"Issued: {invoice.number} (41.15 EUR)."]

    # A second press (the page open in two tabs) says why, and issues nothing
    response = client.post(issue_url(order))
    assert response.status_code == 302
    message = messages_of(response)[-1]
    assert f"already has invoice {invoice.number}" in message
    assert documents(order) == [invoice]
    # A GET only goes back to the page
    assert client.get(issue_url(order))["Location"] == order_url(order)


def test_an_invoice_that_cannot_be_issued_says_why_and_burns_no_number(
        client, finance, invoice_shop, django_capture_on_commit_callbacks):
    order = shop_order(invoice_shop, 911, django_capture_on_commit_callbacks, status="on-hold", total="42.15")
    client.force_login(finance)

    response = client.post(issue_url(order))

    assert response["Location"] == order_url(order)
    [message] = messages_of(response)
    assert message.startswith("No invoice issued:") and "42.15" in message
    assert documents(order) == []
    assert "42.15" in InvoiceProblem.objects.get(order=order, key="invoice").reason


def test_finance_correct_an_invoice_after_a_confirmation_that_says_what_happens(
        client, finance, invoice_shop, django_capture_on_commit_callbacks):
    order = shop_order(invoice_shop, 920, django_capture_on_commit_callbacks)
    [first] = documents(order)
    client.force_login(finance)

    # The confirmation names the invoice, the amount credited, both series, and that it is both or neither
    response = client.get(correct_url(order))
    assert response.status_code == 200
    html = response.content.decode()
    assert f"Invoice {first.number} of order #{order.number}" in html
    assert "A credit note in the series “Credit notes” for 41.15 EUR" in html
    assert "A new invoice in the series “Invoices”" in html
    assert "Both are issued, or neither" in html
    assert f'name="invoice" value="{first.pk}"' in html
    assert documents(order) == [first]  # looking issues nothing

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(correct_url(order), {"invoice": first.pk})

    assert response["Location"] == order_url(order)
    first_again, credit, new = documents(order)
    assert first_again.credited
    assert (credit.kind, credit.cause, credit.corrects, credit.gross_total, credit.number) == (
        DocumentKind.CREDIT_NOTE, InvoiceCause.CORRECTION, first, Decimal("41.15"), f"CN{YEAR}-000001")
    assert (new.kind, new.cause, new.credited, new.number) == (
        DocumentKind.INVOICE, InvoiceCause.CORRECTION, False, f"{YEAR}-000002")
    assert messages_of(response) == [f"Invoice {first.number} corrected: credit note {credit.number} (41.15 EUR) "
                                     f"and new invoice {new.number} (41.15 EUR)."]

    # The page lists the three, the first one credited, the new one correctable
    html = client.get(order_url(order)).content.decode()
    for document in (first, credit, new):
        assert f'data-number="{document.number}"' in html
    assert f"for {first.number}" in html and "credited in full" in html and "−41.15 EUR" in html


def test_a_confirmation_of_an_invoice_corrected_meanwhile_issues_nothing(
        client, finance, invoice_shop, django_capture_on_commit_callbacks):
    order = shop_order(invoice_shop, 921, django_capture_on_commit_callbacks)
    [first] = documents(order)
    client.force_login(finance)
    client.get(correct_url(order))
    invoice_correct(invoice=first, user=finance)  # in another tab

    response = client.post(correct_url(order), {"invoice": first.pk})

    assert response["Location"] == order_url(order)
    assert "changed since the confirmation" in messages_of(response)[0]
    assert len(documents(order)) == 3


def test_an_order_without_an_invoice_has_nothing_to_correct(
        client, finance, invoice_shop, django_capture_on_commit_callbacks):
    order = shop_order(invoice_shop, 922, django_capture_on_commit_callbacks, status="on-hold")
    client.force_login(finance)

    response = client.post(correct_url(order), {"invoice": "1"})

    assert response["Location"] == order_url(order)
    assert messages_of(response) == [f"Order #{order.number} has no invoice to correct."]
    assert documents(order) == []


def test_the_order_page_costs_the_same_queries_with_no_or_three_documents(
        client, finance, invoice_shop, django_capture_on_commit_callbacks, django_assert_max_num_queries):
    # Two orders alike, on hold: one never invoiced, one invoiced by hand and corrected (three documents)
    bare = shop_order(invoice_shop, 930, django_capture_on_commit_callbacks, status="on-hold")
    busy = shop_order(invoice_shop, 931, django_capture_on_commit_callbacks, status="on-hold")
    with django_capture_on_commit_callbacks(execute=True):
        [invoice] = invoice_issue(order=busy, user=finance).issued
        invoice_correct(invoice=invoice, user=finance)
    assert (len(documents(bare)), len(documents(busy))) == (0, 3)
    client.force_login(finance)
    client.get(order_url(bare))  # the session and permissions, once

    counts = {}
    for name, order in (("bare", bare), ("busy", busy)):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(order_url(order)).status_code == 200
        counts[name] = len(queries)
        panel = [q["sql"] for q in queries.captured_queries if "accounting_invoice" in q["sql"]]
        assert len(panel) == 2, panel  # the documents and the problems, nothing per document

    assert counts["bare"] == counts["busy"]
    with django_assert_max_num_queries(counts["bare"]):
        client.get(order_url(busy))


# -- staff downloads -------------------------------------------------------------------------------------------

def test_staff_download_files_with_the_view_permission_only(
        client, finance, support, invoice_shop, django_capture_on_commit_callbacks):
    order = shop_order(invoice_shop, 940, django_capture_on_commit_callbacks)
    [invoice] = documents(order)
    pdf = reverse("accounting:staff_invoice_pdf", args=[invoice.pk])
    ubl = reverse("accounting:staff_invoice_ubl", args=[invoice.pk])

    for user in (finance, support):
        client.force_login(user)
        response = client.get(pdf)
        assert response.status_code == 200 and response.content.startswith(b"%PDF")
        assert response["Content-Type"] == "application/pdf"
        assert response["Content-Disposition"] == f'attachment; filename="{invoice.number}.pdf"'
        response = client.get(ubl)
        assert response.status_code == 200 and validate_ubl(response.content) == []

    # Staff without the permission: refused; a customer or nobody: to the staff login
    client.force_login(UserFactory(username="no-role"))
    assert client.get(pdf).status_code == 403 and client.get(ubl).status_code == 403
    client.force_login(CustomerFactory(username="ana@example.com", profile__store=invoice_shop))
    assert client.get(pdf)["Location"].startswith(reverse("admin:login"))
    client.logout()
    assert client.get(ubl)["Location"].startswith(reverse("admin:login"))
    assert client.get(reverse("accounting:staff_invoice_pdf", args=[invoice.pk + 100])).status_code == 302


# -- My Account ------------------------------------------------------------------------------------------------

def customer(store, email, *, woo_id=None, confirmed=True):
    user = CustomerFactory(username=email, profile__store=store, profile__woo_id=woo_id)
    if confirmed:
        user.customer_profile.email_confirmed_at = timezone.now()
        user.customer_profile.save(update_fields=["email_confirmed_at"])
    return user


@pytest.fixture
def ana(invoice_shop):
    """A customer of the shop, linked to WooCommerce customer 77."""
    return customer(invoice_shop, "ana@example.com", woo_id=77)


@pytest.fixture
def orders_of_two(invoice_shop, django_capture_on_commit_callbacks):
    """Ana's order 950 (customer 77), invoiced; Bruno's order 951 (customer 88), invoiced and corrected."""
    ana_order = shop_order(invoice_shop, 950, django_capture_on_commit_callbacks, customer_id=77,
                           email="ana@example.com")
    bruno_order = shop_order(invoice_shop, 951, django_capture_on_commit_callbacks, customer_id=88,
                             email="bruno@example.com")
    invoice_correct(invoice=documents(bruno_order)[0], user=None)
    return ana_order, bruno_order


def test_a_customer_lists_and_downloads_their_own_invoices(client, ana, orders_of_two):
    ana_order, bruno_order = orders_of_two
    [mine] = documents(ana_order)
    client.force_login(ana)

    response = client.get(reverse("accounting:invoices"))

    assert response.status_code == 200
    html = response.content.decode()
    assert list(response.context["documents"]) == [mine]
    assert f'data-number="{mine.number}"' in html and f"#{ana_order.number}" in html and "41.15 EUR" in html
    for other in documents(bruno_order):
        assert f'data-number="{other.number}"' not in html
    response = client.get(reverse("accounting:invoice_pdf", args=[mine.pk]))
    assert response.status_code == 200 and response.content.startswith(b"%PDF")
    assert response["Content-Disposition"] == f'attachment; filename="{mine.number}.pdf"'
    response = client.get(reverse("accounting:invoice_ubl", args=[mine.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/xml"
    assert validate_ubl(response.content) == []


def test_another_customers_invoice_or_credit_note_is_not_found(client, ana, orders_of_two):
    _ana_order, bruno_order = orders_of_two
    bruno_invoice, bruno_credit, _new = documents(bruno_order)
    assert bruno_credit.kind == DocumentKind.CREDIT_NOTE
    client.force_login(ana)

    for document in (bruno_invoice, bruno_credit):
        for name in ("accounting:invoice_pdf", "accounting:invoice_ubl"):
            assert client.get(reverse(name, args=[document.pk])).status_code == 404
    assert client.get(reverse("accounting:invoice_pdf", args=[bruno_credit.pk + 1000])).status_code == 404


def test_the_customer_gets_their_credit_notes_too(client, ana, orders_of_two):
    ana_order, _bruno_order = orders_of_two
    invoice_correct(invoice=documents(ana_order)[0], user=None)
    _first, credit, _new = documents(ana_order)
    client.force_login(ana)

    html = client.get(reverse("accounting:invoices")).content.decode()
    assert len(client.get(reverse("accounting:invoices")).context["documents"]) == 3
    assert f'data-number="{credit.number}"' in html and "−41.15 EUR" in html and "Credit note" in html
    response = client.get(reverse("accounting:invoice_ubl", args=[credit.pk]))
    assert response.status_code == 200 and b"CreditNote" in response.content
    assert validate_ubl(response.content) == []


def test_a_guest_order_is_the_customers_by_their_confirmed_address_only(
        client, invoice_shop, django_capture_on_commit_callbacks):
    guest = shop_order(invoice_shop, 960, django_capture_on_commit_callbacks, email="carla@example.com")
    # Someone registered in the shop typed Carla's address at the checkout: not Carla's
    typed = shop_order(invoice_shop, 961, django_capture_on_commit_callbacks, customer_id=99,
                       email="carla@example.com")
    [guest_invoice], [typed_invoice] = documents(guest), documents(typed)

    client.force_login(customer(invoice_shop, "carla@example.com"))
    assert list(client.get(reverse("accounting:invoices")).context["documents"]) == [guest_invoice]
    assert client.get(reverse("accounting:invoice_pdf", args=[guest_invoice.pk])).status_code == 200
    assert client.get(reverse("accounting:invoice_pdf", args=[typed_invoice.pk])).status_code == 404

    # An address not confirmed could be anyone's
    client.force_login(customer(invoice_shop, "dario@example.com", confirmed=False))
    dario_order = shop_order(invoice_shop, 962, django_capture_on_commit_callbacks, email="dario@example.com")
    [dario_invoice] = documents(dario_order)
    assert list(client.get(reverse("accounting:invoices")).context["documents"]) == []
    assert client.get(reverse("accounting:invoice_pdf", args=[dario_invoice.pk])).status_code == 404


def test_a_customer_of_another_store_sees_nothing_of_this_one(client, orders_of_two):
    from tests.factories import StoreFactory

    ana_order, _bruno = orders_of_two
    elsewhere = customer(StoreFactory(slug="elsewhere"), "ana.elsewhere@example.com", woo_id=77)
    client.force_login(elsewhere)

    assert list(client.get(reverse("accounting:invoices")).context["documents"]) == []
    assert client.get(reverse("accounting:invoice_pdf", args=[documents(ana_order)[0].pk])).status_code == 404


def test_staff_without_a_customer_account_have_no_invoices_in_my_account(client, finance, orders_of_two):
    ana_order, _bruno = orders_of_two
    client.force_login(finance)

    assert list(client.get(reverse("accounting:invoices")).context["documents"]) == []
    assert client.get(reverse("accounting:invoice_pdf", args=[documents(ana_order)[0].pk])).status_code == 404


def test_anonymous_visitors_are_sent_to_the_login(client, orders_of_two):
    ana_order, _bruno = orders_of_two
    login = reverse("account:login")
    for url in (reverse("accounting:invoices"),
                reverse("accounting:invoice_pdf", args=[documents(ana_order)[0].pk]),
                reverse("accounting:invoice_ubl", args=[documents(ana_order)[0].pk])):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"] == f"{login}?next={url}"


def test_my_account_links_to_the_invoices_and_an_empty_list_says_so(client, ana):
    client.force_login(ana)

    projects_page = client.get(reverse("account:projects")).content.decode()
    assert f'href="{reverse("accounting:invoices")}"' in projects_page

    html = client.get(reverse("accounting:invoices")).content.decode()
    assert 'id="no-invoices"' in html and "My projects" in html  # in My Account's frame
