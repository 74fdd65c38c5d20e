import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone
from pytest_django.asserts import assertContains, assertNotContains

from fulfillment import tasks
from fulfillment.choices import EventSource, EventType, OrderType, SubmissionState, SubmitStatus
from fulfillment.models import Order, OrderEvent, Submission
from fulfillment.services.mirror import orders_upsert
from fulfillment.services.orders import order_change_status
from fulfillment.services.countdown import orders_submit_due
from fulfillment.services.submissions import order_submit
from fulfillment.services.webhooks import signature_for
from tests.factories import StoreFactory
from tests.fulfillment.production import canvas_line, mirrored, printful_provider, production_payload

T0 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


class Clock:
    """timezone.now() for the test: set, and moved on by hand."""

    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, **delta):
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch):
    clock = Clock(T0)
    monkeypatch.setattr(timezone, "now", clock)
    return clock


@pytest.fixture(autouse=True)
def empty_cache(db):
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def shop(db):
    return StoreFactory(slug="dasto", name="Dastomize", auto_submit_minutes=90)


def countdown(order):
    order.refresh_from_db()
    return order.countdown_due_at, order.countdown_paused_seconds


def countdown_events(order):
    return list(OrderEvent.objects.filter(order=order, type=EventType.COUNTDOWN).order_by("pk")
                .values_list("source", "message"))


def deliver(client, store, payload, capture, *, topic="order.updated"):
    """WooCommerce's webhook delivery of the order, applied as the worker would."""
    body = json.dumps(payload).encode()
    deliver.count += 1
    with capture(execute=True):
        response = client.post(
            f"/webhooks/woocommerce/{store.slug}/", data=body, content_type="application/json",
            headers={"X-WC-Webhook-Topic": topic, "X-WC-Webhook-Delivery-ID": f"d-{deliver.count}",
                     "X-WC-Webhook-Signature": signature_for(body, store.webhook_secret)})
    assert response.status_code == 200, response.content
    return Order.objects.get(store=store, woo_id=payload["id"])


deliver.count = 0


def webhook_payload(woo_id=17, *, status, minute, **kwargs):
    """The order as a webhook brings it, modified `minute` minutes after T0 (each delivery newer than the last)."""
    return production_payload(woo_id, status=status, created=T0 - timedelta(hours=1),
                              modified=T0 + timedelta(minutes=minute), **kwargs)


# -- starting ------------------------------------------------------------------------------------------------


def test_a_new_in_app_order_arriving_processing_by_webhook_starts_its_countdown(
        client, shop, clock, django_capture_on_commit_callbacks):
    # Given a shop that submits in-app orders 90 minutes after they reach processing
    # When WooCommerce sends a new paid order with a mug made in our editor
    order = deliver(client, shop, webhook_payload(status="processing", minute=0), django_capture_on_commit_callbacks,
                    topic="order.created")

    # Then its countdown runs until 13:30
    assert order.order_type == OrderType.IN_APP
    assert countdown(order) == (T0 + timedelta(minutes=90), None)
    assert countdown_events(order) == [(EventSource.WEBHOOK, "countdown started")]


def test_a_pending_order_paid_later_starts_its_countdown_when_the_webhook_says_processing(
        client, shop, clock, django_capture_on_commit_callbacks):
    order = deliver(client, shop, webhook_payload(status="pending", minute=0), django_capture_on_commit_callbacks,
                    topic="order.created")
    assert countdown(order) == (None, None)

    clock.advance(minutes=5)
    deliver(client, shop, webhook_payload(status="processing", minute=5), django_capture_on_commit_callbacks)

    assert countdown(order) == (T0 + timedelta(minutes=95), None)
    assert countdown_events(order) == [(EventSource.WEBHOOK, "countdown started")]


def test_staff_moving_an_order_to_processing_starts_its_countdown(shop, ops, clock):
    order = mirrored(shop, status="pending")

    order_change_status(order=order, status="processing", user=ops)

    assert countdown(order) == (T0 + timedelta(minutes=90), None)
    assert countdown_events(order) == [(EventSource.STAFF, "countdown started")]


def test_a_reconcile_that_finds_the_order_paid_starts_its_countdown(shop, clock):
    order = mirrored(shop, status="pending")

    orders_upsert(store=shop, payloads=[webhook_payload(status="processing", minute=3)], source=EventSource.RECONCILE)

    assert countdown(order) == (T0 + timedelta(minutes=90), None)
    assert countdown_events(order) == [(EventSource.RECONCILE, "countdown started")]


def test_an_import_never_starts_a_countdown(shop, clock):
    # Given history imported: a processing in-app order, and one that became processing since the last import
    orders_upsert(store=shop, payloads=[webhook_payload(17, status="processing", minute=0),
                                        webhook_payload(18, status="pending", minute=0)], source=EventSource.IMPORT)
    orders_upsert(store=shop, payloads=[webhook_payload(18, status="processing", minute=5)],
                  source=EventSource.IMPORT)

    # Then neither counts down
    assert list(Order.objects.order_by("woo_id").values_list("status", "countdown_due_at",
                                                             "countdown_paused_seconds")) == [
        ("processing", None, None), ("processing", None, None)]
    assert not OrderEvent.objects.filter(type=EventType.COUNTDOWN).exists()


def test_an_order_not_made_in_our_editor_never_counts_down(client, shop, clock, django_capture_on_commit_callbacks):
    order = deliver(client, shop, webhook_payload(status="processing", minute=0, lines=[canvas_line(172)]),
                    django_capture_on_commit_callbacks, topic="order.created")

    assert order.order_type == OrderType.OTHER
    assert countdown(order) == (None, None)
    assert countdown_events(order) == []


def test_a_shop_without_automatic_submission_never_counts_down(client, clock, django_capture_on_commit_callbacks):
    manual = StoreFactory(slug="manual", auto_submit_minutes=0)

    order = deliver(client, manual, webhook_payload(status="processing", minute=0),
                    django_capture_on_commit_callbacks, topic="order.created")

    assert countdown(order) == (None, None)
    assert countdown_events(order) == []


def test_a_processing_order_updated_again_keeps_its_countdown(client, shop, clock,
                                                              django_capture_on_commit_callbacks):
    order = deliver(client, shop, webhook_payload(status="processing", minute=0), django_capture_on_commit_callbacks,
                    topic="order.created")
    clock.advance(minutes=20)

    deliver(client, shop, webhook_payload(status="processing", minute=20, customer_note="Please hurry"),
            django_capture_on_commit_callbacks)

    assert countdown(order) == (T0 + timedelta(minutes=90), None)
    assert countdown_events(order) == [(EventSource.WEBHOOK, "countdown started")]


def test_a_submitted_order_back_in_processing_does_not_count_down_again(shop, ops, clock, printful):
    printful_provider(shop, printful)
    order = mirrored(shop, status="completed")
    Order.objects.filter(pk=order.pk).update(submit_status=SubmitStatus.SUBMITTED)

    order_change_status(order=order, status="processing", user=ops)

    assert countdown(order) == (None, None)
    assert countdown_events(order) == []


# -- pausing, resuming, stopping ------------------------------------------------------------------------------


def test_on_hold_pauses_the_countdown_and_processing_resumes_it_with_the_time_left(shop, ops, clock):
    # Given an order counting down since 12:00
    order = mirrored(shop, status="pending")
    order_change_status(order=order, status="processing", user=ops)

    # When operations put it on hold 40 minutes later
    clock.advance(minutes=40)
    order_change_status(order=order, status="on-hold", user=ops)

    # Then the countdown is paused with 50 minutes left
    assert countdown(order) == (None, 50 * 60)

    # When it goes back to processing two days later
    clock.advance(days=2)
    order_change_status(order=order, status="processing", user=ops)

    # Then it runs again with those 50 minutes
    assert countdown(order) == (T0 + timedelta(days=2, minutes=90), None)
    assert countdown_events(order) == [(EventSource.STAFF, "countdown started"),
                                       (EventSource.STAFF, "countdown paused"),
                                       (EventSource.STAFF, "countdown resumed")]


def test_on_hold_by_webhook_pauses_and_processing_by_webhook_resumes(client, shop, clock,
                                                                     django_capture_on_commit_callbacks):
    order = deliver(client, shop, webhook_payload(status="processing", minute=0), django_capture_on_commit_callbacks,
                    topic="order.created")
    clock.advance(minutes=30)
    deliver(client, shop, webhook_payload(status="on-hold", minute=30), django_capture_on_commit_callbacks)
    assert countdown(order) == (None, 60 * 60)

    clock.advance(minutes=15)
    deliver(client, shop, webhook_payload(status="processing", minute=45), django_capture_on_commit_callbacks)

    assert countdown(order) == (T0 + timedelta(minutes=105), None)
    assert countdown_events(order) == [(EventSource.WEBHOOK, "countdown started"),
                                       (EventSource.WEBHOOK, "countdown paused"),
                                       (EventSource.WEBHOOK, "countdown resumed")]


@pytest.mark.parametrize("status", ["cancelled", "refunded", "failed"])
def test_cancelled_refunded_or_failed_stops_the_countdown(client, shop, clock, status,
                                                          django_capture_on_commit_callbacks):
    order = deliver(client, shop, webhook_payload(status="processing", minute=0), django_capture_on_commit_callbacks,
                    topic="order.created")
    clock.advance(minutes=10)

    deliver(client, shop, webhook_payload(status=status, minute=10), django_capture_on_commit_callbacks)

    assert countdown(order) == (None, None)
    assert countdown_events(order) == [(EventSource.WEBHOOK, "countdown started"),
                                       (EventSource.WEBHOOK, "countdown stopped")]
    # and an order processing again later starts a fresh one
    clock.advance(minutes=10)
    deliver(client, shop, webhook_payload(status="processing", minute=20), django_capture_on_commit_callbacks)
    assert countdown(order) == (T0 + timedelta(minutes=110), None)


def test_a_paused_countdown_is_stopped_when_the_order_is_cancelled(shop, ops, clock):
    order = mirrored(shop, status="pending")
    order_change_status(order=order, status="processing", user=ops)
    order_change_status(order=order, status="on-hold", user=ops)

    order_change_status(order=order, status="cancelled", user=ops)

    assert countdown(order) == (None, None)
    assert countdown_events(order)[-1] == (EventSource.STAFF, "countdown stopped")


def test_submitting_by_hand_ends_the_countdown(shop, ops, clock, printful):
    printful_provider(shop, printful)
    order = mirrored(shop, status="pending")
    order_change_status(order=order, status="processing", user=ops)

    order_submit(order=order, user=ops)

    assert countdown(order) == (None, None)


# -- submitting due orders -----------------------------------------------------------------------------------


def counting(shop, woo_id, due_in_minutes, clock, **kwargs):
    order = mirrored(shop, woo_id, **kwargs)
    Order.objects.filter(pk=order.pk).update(countdown_due_at=clock.now + timedelta(minutes=due_in_minutes))
    return order


def test_due_orders_are_submitted_and_an_ineligible_one_says_why(shop, clock, printful,
                                                                 django_capture_on_commit_callbacks):
    # Given an order due now, one due whose mug file is not rendered, and one due in ten minutes
    printful_provider(shop, printful)
    due = counting(shop, 17, 0, clock)
    no_file = counting(shop, 18, -1, clock, with_file=False)
    later = counting(shop, 19, 10, clock)

    # When the countdowns are checked
    with django_capture_on_commit_callbacks(execute=True):
        submitted, refused = orders_submit_due()

    # Then the due order went to Printful, as the countdown's doing
    assert (submitted, refused) == (["17"], [("18", "no production file yet for Photo mug")])
    submission = Submission.objects.get()
    assert (submission.order, submission.state, submission.reason, submission.requested_by) == (
        due, SubmissionState.SUBMITTED, "automatic submission", None)
    assert list(OrderEvent.objects.filter(order=due, type=EventType.SUBMISSION_QUEUED)
                .values_list("source", "message")) == [(EventSource.COUNTDOWN, "Queued for Printful (dasto-17)")]
    assert countdown(due) == (None, None)
    assert due.submit_status == SubmitStatus.SUBMITTED
    # and the ineligible one shows Failed with why on the list, its countdown ended
    assert countdown(no_file) == (None, None)
    assert (no_file.submit_status, no_file.submit_error) == (
        SubmitStatus.FAILED, "Automatic submission impossible: no production file yet for Photo mug")
    assert countdown_events(no_file) == [
        (EventSource.COUNTDOWN, "automatic submission impossible: no production file yet for Photo mug")]
    # and the one not due yet is untouched
    assert countdown(later) == (T0 + timedelta(minutes=10), None)
    assert (later.submissions.count(), later.submit_status) == (0, SubmitStatus.NONE)
    assert printful.count("POST", "/orders") == 1


def test_a_due_order_already_submitted_only_ends_its_countdown(shop, clock, printful, ops,
                                                               django_capture_on_commit_callbacks):
    printful_provider(shop, printful)
    order = mirrored(shop)
    with django_capture_on_commit_callbacks(execute=True):
        order_submit(order=order, user=ops)
    Order.objects.filter(pk=order.pk).update(countdown_due_at=clock.now)

    with django_capture_on_commit_callbacks(execute=True):
        assert orders_submit_due() == ([], [])

    assert countdown(order) == (None, None)
    assert (Submission.objects.count(), printful.count("POST", "/orders")) == (1, 1)
    order.refresh_from_db()
    assert order.submit_status == SubmitStatus.SUBMITTED


def test_the_production_tick_submits_due_orders_and_retries_due_submissions(shop, clock, printful, ops,
                                                                           django_capture_on_commit_callbacks):
    # Given an order due now, and a submission waiting for its retry since a 500
    printful_provider(shop, printful)
    due = counting(shop, 17, 0, clock)
    retrying = mirrored(shop, 18)
    (submission,) = order_submit(order=retrying, user=ops)
    Submission.objects.filter(pk=submission.pk).update(attempts=1, next_attempt_at=clock.now - timedelta(seconds=1),
                                                       outcome_unknown=True)

    # When the every-minute schedule runs
    with django_capture_on_commit_callbacks(execute=True):
        outcome = tasks.production_tick()

    # Then both are at Printful, each once; the countdown's new submission already had its task, the tick queued
    # only the retry
    assert outcome == "1 submitted by countdown, 0 refused, 1 submissions run"
    assert sorted(Submission.objects.values_list("external_id", "state", "attempts")) == [
        ("dasto-17", SubmissionState.SUBMITTED, 1), ("dasto-18", SubmissionState.SUBMITTED, 2)]
    assert (printful.count("POST", "/orders"), printful.created) == (2, 2)
    assert countdown(due) == (None, None)


# -- what staff see ------------------------------------------------------------------------------------------


def test_the_list_and_the_order_page_show_the_time_left(client, shop, ops, clock):
    running = mirrored(shop, 17, status="pending")
    order_change_status(order=running, status="processing", user=ops)
    paused = mirrored(shop, 18, status="pending")
    order_change_status(order=paused, status="processing", user=ops)
    clock.advance(minutes=40)
    order_change_status(order=paused, status="on-hold", user=ops)
    clock.advance(minutes=15)
    client.force_login(ops)

    listing = client.get(reverse("admin:fulfillment_order_changelist"))
    running_page = client.get(reverse("admin:fulfillment_order_change", args=[running.pk]))
    paused_page = client.get(reverse("admin:fulfillment_order_change", args=[paused.pk]))

    assertContains(listing, '<span class="countdown-cell">⏱ 35 min</span>', html=True)
    assertContains(listing, '<span class="countdown-cell paused">⏸ 50 min</span>', html=True)
    assertContains(running_page, 'data-seconds="2100"')
    assertContains(running_page, "Automatic submission in 35 min (at 14:30 CET)")  # the shop's time (Amsterdam)
    assertContains(paused_page, 'data-seconds="3000"')
    assertContains(paused_page, "Automatic submission paused with 50 min left")
    assertNotContains(paused_page, "Automatic submission in")


def test_the_list_shows_hours_and_nothing_for_orders_without_countdown(client, shop, ops, clock):
    order = mirrored(shop, 17, status="pending")
    order_change_status(order=order, status="processing", user=ops)
    mirrored(shop, 18)
    client.force_login(ops)

    listing = client.get(reverse("admin:fulfillment_order_changelist"))

    assertContains(listing, "⏱", count=1)
    assertContains(listing, '<span class="countdown-cell">⏱ 1 h 30 min</span>', html=True)
    assertNotContains(listing, "⏸")


def test_a_due_order_whose_print_file_is_still_rendering_waits_instead_of_failing(shop, clock, monkeypatch):
    # Given an in-app order whose countdown is due, but whose production file is still being rendered
    order = mirrored(shop, 17)
    Order.objects.filter(pk=order.pk).update(countdown_due_at=T0)
    from fulfillment.services import submissions
    from fulfillment.services.production import ProductionPlan

    monkeypatch.setattr(submissions, "production_plan", lambda order, providers: ProductionPlan(
        problems=["the production file of Photo mug is being rendered (version 1)"], waiting=True))

    # When the every-minute task runs
    submitted, refused = orders_submit_due(now=T0)

    # Then nothing failed: the countdown looks again two minutes later
    order.refresh_from_db()
    assert (submitted, refused) == ([], [])
    assert (order.countdown_due_at, order.submit_status, order.submit_error) == (
        T0 + timedelta(minutes=2), SubmitStatus.NONE, "")
    assert not Submission.objects.exists()
