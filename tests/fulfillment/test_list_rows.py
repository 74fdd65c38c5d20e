"""The order list draws its rows itself (fulfillment/templatetags/list_rows.py): the same markup as Django's
result_list, cell for cell, for every column, link and filter; in a popup Django's own tag draws them."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.admin.templatetags.admin_list import results

from fulfillment.choices import SubmitStatus
from fulfillment.templatetags.list_rows import fast_result_list
from tests.factories import OrderFactory, StoreFactory

LIST = "/admin/fulfillment/order/"


@pytest.fixture
def orders(db):
    eu, uk = StoreFactory(slug="eu", name="Photo gifts <EU> & co"), StoreFactory(slug="uk", currency="GBP")
    start = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
    made = [
        OrderFactory(store=eu, created_at=start, customer_name="Zoë <b>O'Brien</b> & Sons", city="Gent",
                     country="BE", item_count=3, payment_method_title="iDEAL"),
        OrderFactory(store=uk, status="on-hold", currency="GBP", created_at=start + timedelta(hours=1),
                     submit_status=SubmitStatus.FAILED, submit_error='Provider said: <script>alert("x")</script>'),
        OrderFactory(store=eu, status="completed", submit_status=SubmitStatus.SUBMITTED, order_type="mixed",
                     created_at=start + timedelta(hours=2), city="", country=""),
        OrderFactory(store=uk, status="awaiting-artwork", created_at=start + timedelta(hours=3),
                     countdown_due_at=datetime(2030, 1, 1, tzinfo=UTC)),
    ]
    return made


def djangos_rows(cl):
    return ["".join(str(cell) for cell in row) for row in results(cl)]


def our_rows(cl):
    return ["".join(row) for row in fast_result_list(cl)["results"]]


def assert_rows_are_djangos(response):
    """The page's rows are Django's result_list markup cell for cell, each on the page; returns the page."""
    assert response.status_code == 200
    cl = response.context["cl"]
    assert cl.result_list, "the case must show rows"
    ours = our_rows(cl)
    assert ours == djangos_rows(cl)
    page = response.content.decode()
    for row in ours:
        assert f"<tr>{row}</tr>" in page
    return page


@pytest.mark.parametrize("query", ["", "?status=processing", "?q=Zo%C3%AB&o=-2", "?store__id__exact={store}&p=1"])
def test_rows_are_djangos_markup_cell_for_cell(admin_client, orders, query):
    response = admin_client.get(LIST + query.format(store=orders[0].store_id))
    page = assert_rows_are_djangos(response)
    assert "<script>alert" not in page


def test_every_column_and_the_changed_filters_are_in_the_rows(admin_client, orders):
    response = admin_client.get(LIST + "?status=on-hold")
    row = our_rows(response.context["cl"])[0]
    failed = orders[1]
    assert f'/admin/fulfillment/order/{failed.pk}/change/?_changelist_filters=status%3Don-hold' in row
    for column in ("action-checkbox", "field-order_number", "field-status_column", "field-customer",
                   "field-total_payment", "field-items_column", "field-type_column", "field-submit_column",
                   "field-countdown_column", "field-store nowrap"):
        assert f'class="{column}"' in row
    assert "&lt;script&gt;" in row  # the provider's reason, escaped in the cell's title


def test_a_popup_list_is_drawn_by_djangos_own_tag(admin_client, orders):
    response = admin_client.get(LIST + "?_popup=1&_to_field=id")
    assert response.status_code == 200
    cl = response.context["cl"]
    assert fast_result_list(cl)["results"] and all(not isinstance(row, list) or hasattr(row, "form")
                                                     for row in fast_result_list(cl)["results"])


# -- the reservations and invoices lists draw their rows with the same tag -------------------------------------

@pytest.fixture
def reservations(orders):
    from fulfillment.choices import ReservationSync
    from fulfillment.models import Reservation, Supplier

    supplier = Supplier.objects.create(store=orders[0].store, name="BDroppy <B>", base_url="https://supplier.example",
                                       api_user="key", credentials_env="NO_SUCH_PASSWORD")
    syncs = [ReservationSync.IN_SYNC, ReservationSync.RETRYING, ReservationSync.FAILED]
    return [Reservation.objects.create(order=order, supplier=supplier, stock_id=str(234_000 + i), sku=f"SCARF-{i}",
                                       woo_product_id=5000 + i, name="Wool <b>blend</b> scarf", size="M", quantity=1,
                                       sync=syncs[i % 3], attempts=i, sync_error='Out of "stock"' if i % 3 == 2 else "")
            for i, order in enumerate(orders)]


@pytest.fixture
def invoices(orders):
    from datetime import date
    from decimal import Decimal

    from accounting.models import Invoice, InvoiceSeries

    series = InvoiceSeries.objects.create(store=orders[0].store, name="Invoices", prefix="EU-")
    made = []
    for i, order in enumerate(orders):
        made.append(Invoice.objects.create(
            store=orders[0].store, order=order, kind="invoice" if i % 2 == 0 else "credit_note", cause="order",
            series=series, year=2026, sequence=i + 1, number=f"EU-2026-{i + 1:06d}", issue_date=date(2026, 11, 20),
            currency="EUR", net_total=Decimal("33.06"), vat_total=Decimal("6.94"), gross_total=Decimal("40.00"),
            buyer_name=order.customer_name, buyer_country=order.country, document={"lines": []},
            export_state=["open", "exported", "failed"][i % 3], export_error="Moneybird: <422>" if i % 3 == 2 else "",
            check_error="differs by 1.00" if i == 1 else "", corrects=made[0] if i == 1 else None))
    return made


@pytest.mark.parametrize("url", ["/admin/fulfillment/reservation/", "/admin/fulfillment/reservation/?sync__exact=failed",
                                 "/admin/accounting/invoice/", "/admin/accounting/invoice/?kind__exact=credit_note"])
def test_reservations_and_invoices_rows_are_djangos_markup_cell_for_cell(admin_client, reservations, invoices, url):
    response = admin_client.get(url)
    page = assert_rows_are_djangos(response)
    assert "<b>blend</b>" not in page and "<422>" not in page


def test_the_select_box_is_djangos_widget_markup(admin_client, reservations):
    # FastActionCheckbox draws Django's CheckboxInput without its template, for any of these lists
    from django.contrib import admin
    from django.contrib.admin import ModelAdmin

    from fulfillment.models import Reservation

    reservation = reservations[0]
    ours = admin.site._registry[Reservation].action_checkbox(reservation)
    assert str(ours) == str(ModelAdmin.action_checkbox(admin.site._registry[Reservation], reservation))
