from datetime import UTC, date, datetime, timedelta

import pytest

from fulfillment import tasks
from fulfillment.choices import EventSource, EventType, PushKind, PushState, SubmissionState, SubmitStatus
from fulfillment.models import Order, OrderEvent, Shipment, StorePush, Submission
from fulfillment.services.provider_tracking import shipments_poll
from fulfillment.services.submissions import order_submit, submission_execute
from tests.fulfillment.production import mirrored, printful_provider

MUGS, CANVAS = 171, 172
TOKEN = "whk-6c1d0e9a4b7f"
DHL_LINK = "https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html?piececode=00340434161234567890"
NOTE = ("Your order has shipped with DHL DHL Paket. Tracking number: 00340434161234567890. "
        f"Follow it here: {DHL_LINK}")
T0 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def shop(woo_store):
    woo_store.has_shipment_tracking = True
    woo_store.save(update_fields=["has_shipment_tracking"])
    return woo_store


@pytest.fixture
def provider(shop, printful):
    return printful_provider(shop, printful, webhook_token=TOKEN)


def submitted(shop, woo, provider, woo_id=17):
    """An order of the shop that Printful has."""
    order = mirrored(shop, woo_id, woo=woo)
    (submission,) = order_submit(order=order, user=None)
    submission_execute(submission_id=submission.pk, now=T0)
    submission.refresh_from_db()
    assert submission.state == SubmissionState.SUBMITTED
    return order, submission


def post_event(client, provider, payload, capture, token=TOKEN):
    with capture(execute=True):
        return client.post(f"/webhooks/providers/{provider.pk}/{token}/", data=payload,
                           content_type="application/json")


def shop_requests(woo):
    return [(method, path) for method, path, _ in woo.requests]


# -- the webhook ---------------------------------------------------------------------------------------------


def test_a_shipped_package_is_recorded_told_to_the_shop_and_completes_the_order(
        client, shop, woo, provider, printful, django_capture_on_commit_callbacks):
    # Given an order Printful made, shipped whole in one parcel
    order, submission = submitted(shop, woo, provider)
    shipment = printful.add_shipment("woo-17")

    # When Printful's package_shipped webhook arrives
    response = post_event(client, provider, printful.package_shipped("woo-17", shipment),
                          django_capture_on_commit_callbacks)

    # Then the parcel is recorded as the provider's, with every line in it
    assert (response.status_code, response.json()) == (200, {"result": "shipment recorded"})
    recorded = Shipment.objects.get()
    assert (recorded.order, recorded.carrier, recorded.tracking_number, recorded.tracking_link, recorded.shipped_on,
            recorded.lines, recorded.created_by) == (
        order, "DHL DHL Paket", "00340434161234567890", DHL_LINK, date(2026, 11, 20),
        [{"line_id": MUGS, "quantity": 3}, {"line_id": CANVAS, "quantity": 1}], None)
    assert list(OrderEvent.objects.filter(order=order, type=EventType.SHIPPED).values_list("source", "message")) == [
        (EventSource.PROVIDER, "DHL DHL Paket 00340434161234567890")]
    # and the shop got the tracking item, the customer's note and the completed status
    assert shop_requests(woo) == [("POST", "orders/17/shipment-trackings"), ("POST", "orders/17/notes"),
                                  ("PUT", "orders/17")]
    assert [(t["tracking_provider"], t["tracking_number"], t["tracking_link"], t["date_shipped"])
            for t in woo.trackings[17]] == [("DHL DHL Paket", "00340434161234567890", DHL_LINK, "2026-11-20")]
    assert [(n["note"], n["customer_note"]) for n in woo.notes[17]] == [(NOTE, True)]
    assert woo.orders[17]["status"] == "completed"
    assert sorted(StorePush.objects.values_list("kind", "state")) == [
        (PushKind.NOTE, PushState.SENT), (PushKind.STATUS, PushState.SENT), (PushKind.TRACKING, PushState.SENT)]
    order.refresh_from_db()
    assert order.status == "completed"


def test_a_first_parcel_of_two_does_not_complete_the_order(client, shop, woo, provider, printful,
                                                           django_capture_on_commit_callbacks):
    # Given a shop without the Shipment Tracking extension, and Printful shipping the mugs first
    shop.has_shipment_tracking = False
    shop.save(update_fields=["has_shipment_tracking"])
    order, _ = submitted(shop, woo, provider)
    shipment = printful.add_shipment("woo-17", lines={MUGS: 2})

    # When its package_shipped webhook arrives
    post_event(client, provider, printful.package_shipped("woo-17", shipment), django_capture_on_commit_callbacks)

    # Then the parcel holds what Printful shipped; the customer gets a note, and the order stays processing
    assert list(Shipment.objects.values_list("lines", flat=True)) == [[{"line_id": MUGS, "quantity": 2}]]
    order.refresh_from_db()
    assert order.status == "processing"
    assert shop_requests(woo) == [("POST", "orders/17/notes")]
    assert list(StorePush.objects.values_list("kind", flat=True)) == [PushKind.NOTE]
    assert woo.trackings == {}


def test_the_same_webhook_again_changes_nothing(client, shop, woo, provider, printful,
                                                django_capture_on_commit_callbacks):
    # Given a parcel already recorded from Printful's webhook
    submitted(shop, woo, provider)
    payload = printful.package_shipped("woo-17", printful.add_shipment("woo-17"))
    post_event(client, provider, payload, django_capture_on_commit_callbacks)
    before = (list(woo.requests), StorePush.objects.count(), OrderEvent.objects.count())

    # When Printful sends it again (its retries)
    response = post_event(client, provider, {**payload, "retries": 1}, django_capture_on_commit_callbacks)

    # Then nothing is recorded, pushed or written again
    assert (response.status_code, response.json()) == (200, {"result": "shipment already known"})
    assert Shipment.objects.count() == 1
    assert (list(woo.requests), StorePush.objects.count(), OrderEvent.objects.count()) == before


@pytest.mark.parametrize("token", ["whk-wrong", "x" * len(TOKEN)])
def test_a_wrong_token_is_refused_and_nothing_is_recorded(client, shop, woo, provider, printful, token,
                                                          django_capture_on_commit_callbacks):
    order, submission = submitted(shop, woo, provider)
    payload = printful.package_shipped("woo-17", printful.add_shipment("woo-17"))
    events_before = OrderEvent.objects.count()

    response = post_event(client, provider, payload, django_capture_on_commit_callbacks, token=token)

    assert (response.status_code, response.json()) == (404, {"error": "unknown provider or wrong token"})
    assert (Shipment.objects.count(), StorePush.objects.count(), OrderEvent.objects.count()) == (0, 0, events_before)
    assert woo.requests == []


def test_a_provider_without_a_token_has_no_webhook(client, shop, woo, printful, django_capture_on_commit_callbacks):
    provider = printful_provider(shop, printful, webhook_token="")
    submitted(shop, woo, provider)
    payload = printful.package_shipped("woo-17", printful.add_shipment("woo-17"))

    response = client.post(f"/webhooks/providers/{provider.pk}/anything/", data=payload,
                           content_type="application/json")
    unknown = client.post(f"/webhooks/providers/{provider.pk + 100}/{TOKEN}/", data=payload,
                          content_type="application/json")

    assert (response.status_code, unknown.status_code) == (404, 404)
    assert Shipment.objects.count() == 0


def test_a_body_that_is_not_json_is_refused(client, shop, provider):
    response = client.post(f"/webhooks/providers/{provider.pk}/{TOKEN}/", data="type=package_shipped",
                           content_type="application/x-www-form-urlencoded")

    assert (response.status_code, response.json()) == (400, {"error": "the body is not JSON"})


def test_an_event_for_an_order_we_did_not_send_is_ignored(client, shop, woo, provider, printful,
                                                          django_capture_on_commit_callbacks):
    submitted(shop, woo, provider)
    payload = printful.package_shipped("woo-17", printful.add_shipment("woo-17"))
    payload["data"]["order"]["external_id"] = "woo-99"

    response = post_event(client, provider, payload, django_capture_on_commit_callbacks)

    assert (response.status_code, response.json()) == (200, {"result": "ignored: no submission woo-99"})
    assert Shipment.objects.count() == 0


def test_other_printful_events_are_ignored(client, shop, woo, provider, printful,
                                           django_capture_on_commit_callbacks):
    order, submission = submitted(shop, woo, provider)
    payload = printful.order_failed("woo-17")
    payload["type"] = "order_put_hold"

    response = post_event(client, provider, payload, django_capture_on_commit_callbacks)

    assert response.json() == {"result": "ignored: event order_put_hold"}
    submission.refresh_from_db()
    assert submission.state == SubmissionState.SUBMITTED


def test_an_order_printful_failed_fails_the_submission_with_its_reason(client, shop, woo, provider, printful,
                                                                       django_capture_on_commit_callbacks):
    # Given an order Printful accepted
    order, submission = submitted(shop, woo, provider)

    # When Printful reports that it failed
    payload = printful.order_failed("woo-17", reason="The print file could not be downloaded")
    response = post_event(client, provider, payload, django_capture_on_commit_callbacks)

    # Then the submission is failed with Printful's reason, shown once with the provider's name
    assert response.json() == {"result": "submission failed"}
    submission.refresh_from_db()
    assert (submission.state, submission.failure_reason) == (
        SubmissionState.FAILED, "The print file could not be downloaded")
    order.refresh_from_db()
    assert (order.submit_status, order.submit_error) == (
        SubmitStatus.FAILED, "Printful: The print file could not be downloaded")
    assert list(OrderEvent.objects.filter(order=order, type=EventType.SUBMISSION_FAILED)
                .values_list("source", "message")) == [
        (EventSource.PROVIDER, "Printful: The print file could not be downloaded")]

    # When the same event comes again
    post_event(client, provider, payload, django_capture_on_commit_callbacks)

    # Then nothing more is written
    assert OrderEvent.objects.filter(order=order, type=EventType.SUBMISSION_FAILED).count() == 1


def test_an_order_printful_cancelled_cancels_the_submission(client, shop, woo, provider, printful,
                                                            django_capture_on_commit_callbacks):
    order, submission = submitted(shop, woo, provider)

    response = post_event(client, provider, printful.order_canceled("woo-17"), django_capture_on_commit_callbacks)

    assert response.json() == {"result": "submission cancelled"}
    submission.refresh_from_db()
    assert submission.state == SubmissionState.CANCELLED
    order.refresh_from_db()
    assert (order.submit_status, order.submit_error) == (SubmitStatus.NONE, "")
    assert OrderEvent.objects.filter(order=order, type=EventType.SUBMISSION_CANCELLED).count() == 1


def test_a_retry_after_printful_failed_the_order_is_not_taken_for_a_success(client, shop, woo, provider, printful,
                                                                            django_capture_on_commit_callbacks):
    # Given an order Printful failed (its file could not be downloaded)
    order, submission = submitted(shop, woo, provider)
    post_event(client, provider, printful.order_failed("woo-17"), django_capture_on_commit_callbacks)

    # When staff retry the submission
    with django_capture_on_commit_callbacks(execute=True):
        order_submit(order=order, user=None)

    # Then Printful's failed order is not reported as submitted: staff must fix it at Printful or cancel it
    submission.refresh_from_db()
    assert submission.state == SubmissionState.FAILED
    assert submission.failure_reason == (
        "Already at the provider as failed (order 90000001): fix it there, or cancel it here and submit again.")
    assert (printful.created, printful.count("POST", "/orders")) == (1, 2)
    order.refresh_from_db()
    assert (order.submit_status, order.submit_error) == (
        SubmitStatus.FAILED, "Printful: Already at the provider as failed (order 90000001): fix it there, or cancel "
                             "it here and submit again.")


def test_an_order_fixed_at_printful_is_submitted_when_retried(client, shop, woo, provider, printful,
                                                              django_capture_on_commit_callbacks):
    # Given an order Printful failed, and fixed there since (its file uploaded again)
    order, submission = submitted(shop, woo, provider)
    post_event(client, provider, printful.order_failed("woo-17"), django_capture_on_commit_callbacks)
    printful.set_status("woo-17", "pending")

    # When staff retry it
    with django_capture_on_commit_callbacks(execute=True):
        order_submit(order=order, user=None)

    # Then Printful's order is taken as ours again, and no second one is made
    submission.refresh_from_db()
    assert (submission.state, submission.remote_id, submission.failure_reason) == (
        SubmissionState.SUBMITTED, "90000001", "")
    assert printful.created == 1
    order.refresh_from_db()
    assert (order.submit_status, order.submit_error) == (SubmitStatus.SUBMITTED, "")


# -- polling providers without a webhook ---------------------------------------------------------------------


def test_shipments_of_providers_without_webhook_are_polled(shop, woo, printful,
                                                          django_capture_on_commit_callbacks):
    # Given a provider without webhook whose order has shipped, and another order not shipped yet
    provider = printful_provider(shop, printful, webhook_token="")
    order, _ = submitted(shop, woo, provider, 17)
    submitted(shop, woo, provider, 18)
    printful.add_shipment("woo-17")
    printful.requests.clear()

    # When the poll runs
    with django_capture_on_commit_callbacks(execute=True):
        outcome = tasks.poll_provider_shipments()

    # Then each recent order is looked up once and the parcel is recorded as if it came by webhook
    assert outcome == "1 shipments recorded"
    assert sorted(p for m, p, _ in printful.requests) == ["/orders/@woo-17", "/orders/@woo-18"]
    assert list(Shipment.objects.values_list("order__woo_id", "tracking_number")) == [(17, "00340434161234567890")]
    order.refresh_from_db()
    assert order.status == "completed"
    assert woo.orders[17]["status"] == "completed"

    # When it runs again
    printful.requests.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert shipments_poll() == 0

    # Then the completed order is not asked about any more, and nothing is recorded twice
    assert [p for m, p, _ in printful.requests] == ["/orders/@woo-18"]
    assert Shipment.objects.count() == 1


def test_providers_with_a_webhook_are_not_polled(shop, woo, provider, printful):
    submitted(shop, woo, provider)
    printful.add_shipment("woo-17")
    printful.requests.clear()

    assert shipments_poll() == 0

    assert (printful.requests, Shipment.objects.count()) == ([], 0)


def test_old_submissions_are_not_polled(shop, woo, printful):
    provider = printful_provider(shop, printful, webhook_token="")
    submitted(shop, woo, provider)
    Submission.objects.update(submitted_at=T0)
    printful.requests.clear()

    assert shipments_poll(now=T0 + timedelta(days=61)) == 0

    assert printful.requests == []


def test_a_provider_failing_during_the_poll_is_skipped(shop, woo, printful):
    provider = printful_provider(shop, printful, webhook_token="")
    submitted(shop, woo, provider, 17)
    submitted(shop, woo, provider, 18)
    printful.add_shipment("woo-18")
    printful.fail_next(status=500)

    assert shipments_poll() == 1

    assert list(Shipment.objects.values_list("order__woo_id", flat=True)) == [18]
    assert Order.objects.get(woo_id=17).status == "processing"
