"""The reservations screen, the growing-order page, the order list's Dropship marker and the command for cron."""

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from fulfillment.choices import ReservationSync
from fulfillment.models import Reservation, Supplier
from fulfillment.services.orders import order_change_status
from tests.factories import UserFactory
from tests.fulfillment.dropship import SCARF, SNEAKER_40, SNEAKER_41, arrive, sync
from tests.fulfillment.production import staff
from tests.woo_payloads import line_item

LIST = "admin:fulfillment_reservation_changelist"


def growing_url(supplier):
    return reverse("admin:fulfillment_supplier_growing", args=[supplier.pk])


def some_orders(supplier, n, *, start=200):
    for woo_id in range(start, start + n):
        arrive(supplier, woo_id, lines=[line_item(woo_id * 10, sku=SCARF), line_item(woo_id * 10 + 1, sku=SNEAKER_40)])


def test_the_reservations_screen_shows_each_line_with_a_constant_number_of_queries(
        client, supplier, rewix, django_assert_max_num_queries):
    # Given 2 orders with 2 dropship lines each, reserved
    some_orders(supplier, 2)
    sync(supplier)
    client.force_login(staff("operations"))
    with django_assert_max_num_queries(12) as few:
        response = client.get(reverse(LIST))
    assert response.status_code == 200
    page = response.content.decode()
    # Then each row has the remote id, the shop's product id with a View link to the order, name and size, sync
    assert page.count('class="field-remote_id"') == 4 and "234230" in page and "Wool blend scarf" not in page
    order = Reservation.objects.filter(stock_id="234230").first().order
    assert reverse("admin:fulfillment_order_change", args=[order.pk]) in page and ">View<" in page
    assert 'class="sync-in_sync"' in page

    # And 30 more orders cost the page no more queries
    some_orders(supplier, 30, start=300)
    with django_assert_max_num_queries(len(few)):
        assert client.get(reverse(LIST)).status_code == 200


def test_a_failed_reservation_shows_its_reason_on_hover_and_filters_find_it(client, supplier, rewix):
    for woo_id in (211, 212):
        arrive(supplier, woo_id, lines=[line_item(woo_id * 10, sku=SNEAKER_41, quantity=2)])
    sync(supplier)
    client.force_login(staff("support"))

    page = client.get(reverse(LIST), {"sync__exact": "failed"}).content.decode()
    assert page.count('class="field-remote_id"') == 1
    assert 'title="Out of stock at BDroppy: 2 needed of 234226' in page
    assert client.get(reverse(LIST), {"q": "211"}).content.decode().count('class="field-remote_id"') == 1
    assert client.get(reverse(LIST), {"q": "234226"}).content.decode().count('class="field-remote_id"') == 2
    assert client.get(reverse(LIST), {"q": SNEAKER_41}).content.decode().count('class="field-remote_id"') == 2
    assert client.get(reverse(LIST), {"order_status": "processing"}).content.decode().count(
        'class="field-remote_id"') == 0


def test_support_sees_reservations_but_only_operations_retry_and_release(client, supplier, rewix):
    arrive(supplier, 221, lines=[line_item(2210, sku=SNEAKER_41, quantity=5)])
    sync(supplier)
    reservation = Reservation.objects.get()
    assert reservation.sync == ReservationSync.FAILED
    post = {"action": "retry_selected", "_selected_action": [reservation.pk]}

    client.force_login(staff("support"))
    assert client.get(reverse(LIST)).status_code == 200
    assert "retry_selected" not in client.get(reverse(LIST)).content.decode()
    client.post(reverse(LIST), post)
    assert Reservation.objects.get().sync == ReservationSync.FAILED
    client.force_login(staff("operations"))
    client.post(reverse(LIST), post)
    assert Reservation.objects.get().sync == ReservationSync.WAITING


def test_the_growing_order_page_flags_each_difference_and_the_align_action_fixes_it(client, supplier, rewix):
    # Given the shop needs 1 scarf and 1 sneaker, in sync; then someone locks 2 jackets at the supplier by hand
    # and the shop's order is cancelled there (nothing is needed any more, the scarf still reserved)
    some_orders(supplier, 1)
    sync(supplier)
    rewix.locks["234231"] = 2
    order = Reservation.objects.first().order
    Supplier.objects.filter(pk=supplier.pk).update(growing_snapshot={"234225": 1, "234230": 1, "234231": 2})
    arrive(supplier, 201, lines=[line_item(2010, sku=SNEAKER_40, quantity=3),
                                 line_item(2011, sku="LJ-JK3157-INDIGO-L", quantity=1)])
    client.force_login(staff("operations"))

    page = client.get(growing_url(supplier)).content.decode()
    assert "models differ from what the shop needs" in page
    assert "needed but not reserved" in page  # order 201's jacket L (234232); its 3 sneakers: a quantity
    assert "reserved but no longer needed" in page and "quantity different" in page
    assert "Do not pay the growing order until it agrees." in page

    # When operations press Align
    response = client.post(growing_url(supplier), {"action": "align"})

    # Then the supplier holds what the shop needs, the page says what it did and that nothing differs
    assert [rewix.locked(s) for s in ("234225", "234230", "234231", "234232")] == [4, 1, 0, 1]
    page = response.content.decode()
    assert "What the alignment did" in page and "234231: 2 → 0 reserved" in page
    assert "No difference: the growing order holds exactly what the shop's orders need — 6 items of 3 models" \
        in page
    assert order.pk


def test_with_no_difference_the_page_says_the_shop_can_pay_and_links_to_the_platform(
        client, supplier, rewix, django_assert_max_num_queries):
    Supplier.objects.filter(pk=supplier.pk).update(platform_url="https://supplier.example.com/cart")
    some_orders(supplier, 3)
    sync(supplier)
    client.force_login(staff("finance"))
    with django_assert_max_num_queries(12) as few:
        page = client.get(growing_url(supplier)).content.decode()
    assert "No difference" in page and "6 items of 2 models" in page
    assert 'href="https://supplier.example.com/cart"' in page
    assert "Align the growing order" not in page  # finance looks, does not act
    some_orders(supplier, 20, start=400)
    sync(supplier)
    with django_assert_max_num_queries(len(few)):
        client.get(growing_url(supplier))


def test_staff_without_the_reservation_permission_cannot_see_the_growing_order(client, supplier):
    client.force_login(UserFactory(is_staff=True, username="nobody"))
    assert client.get(growing_url(supplier)).status_code == 403


def test_the_order_list_marks_dropship_orders_and_a_failed_reservation_with_its_reason(client, supplier, rewix):
    arrive(supplier, 231, lines=[line_item(2310, sku=SNEAKER_41, quantity=2)])
    arrive(supplier, 232, lines=[line_item(2320, sku=SNEAKER_41, quantity=2)])
    sync(supplier)
    client.force_login(staff("operations"))
    page = client.get(reverse("admin:fulfillment_order_changelist")).content.decode()
    assert page.count('class="dropship"') == 1
    assert 'class="dropship dropship-failed" title="Out of stock at BDroppy' in page


def test_the_order_page_shows_each_dropship_line_s_reservation(client, supplier, rewix):
    order = arrive(supplier, 241, status="processing", lines=[line_item(2410, sku=SCARF), line_item(2411, sku="MUG")])
    sync(supplier)
    sync(supplier)
    client.force_login(staff("operations"))
    page = client.get(reverse("admin:fulfillment_order_change", args=[order.pk])).content.decode()
    assert page.count('class="reservation reservation-booked"') == 1
    assert "supplier&#x27;s order id" in page or "supplier's order id" in page
    assert Reservation.objects.get().remote_order_id in page


def test_the_command_prints_the_differences_in_a_dry_run_and_syncs_otherwise(supplier, rewix, capsys):
    arrive(supplier, 251)
    call_command("sync_supplier", "--dry-run", "--store", "fashion")
    out = capsys.readouterr().out
    assert "234225 GF-SN1830-WHITE-40 40: needed 1, reserved 0 — needed but not reserved" in out
    assert rewix.locked("234225") == 0

    call_command("sync_supplier")
    assert "1 models changed in the growing order" in capsys.readouterr().out
    assert rewix.locked("234225") == 1
    call_command("sync_supplier", "--dry-run")
    assert "no difference" in capsys.readouterr().out

    with pytest.raises(CommandError):
        call_command("sync_supplier", "--store", "nope")


def test_a_cancelled_order_s_lines_leave_the_growing_order_through_the_command(supplier, rewix):
    order = arrive(supplier, 261)
    call_command("sync_supplier")
    order_change_status(order=order, status="cancelled", user=UserFactory())
    call_command("sync_supplier")
    assert rewix.locked("234225") == 0


def test_the_dashboard_counts_failed_reservations_and_raises_the_alarm_of_a_growing_order_that_differs(
        client, supplier, rewix):
    from datetime import timedelta

    from django.core.cache import cache
    from django.utils import timezone

    arrive(supplier, 271, lines=[line_item(2710, sku=SNEAKER_41, quantity=5)])
    sync(supplier)  # short of stock: the growing order holds 3 of the 5 needed, the line failed
    client.force_login(staff("operations"))
    page = client.get(reverse("admin:index")).content.decode()
    assert "failed reservations" in page
    assert "minutes the growing order has differed from the shop" not in page

    Supplier.objects.filter(pk=supplier.pk).update(differs_since=timezone.now() - timedelta(minutes=90))
    cache.clear()
    page = client.get(reverse("admin:index")).content.decode()
    assert "minutes the growing order has differed from the shop" in page
    assert reverse("admin:fulfillment_supplier_growing", args=[supplier.pk]) in page


def test_operations_sync_a_supplier_now_from_the_suppliers_list(client, supplier, rewix):
    arrive(supplier, 281)
    client.force_login(staff("operations"))
    response = client.post(reverse("admin:fulfillment_supplier_changelist"),
                           {"action": "sync_selected", "_selected_action": [supplier.pk]}, follow=True)
    assert "1 models changed in the growing order" in response.content.decode()
    assert rewix.locked("234225") == 1


def test_more_suppliers_cost_the_reservations_screen_no_more_queries(client, supplier, rewix,
                                                                     django_assert_max_num_queries):
    some_orders(supplier, 2)
    sync(supplier)
    client.force_login(staff("operations"))
    with django_assert_max_num_queries(12) as few:
        client.get(reverse(LIST))
    for n in range(3):
        Supplier.objects.create(store=supplier.store, name=f"Other {n}", base_url=rewix.url, api_user="k",
                                credentials_env="REWIX_TEST_PASSWORD")
    with django_assert_max_num_queries(len(few)):
        page = client.get(reverse(LIST)).content.decode()
    assert "Other 2" in page
