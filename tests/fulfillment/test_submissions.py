import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.urls import reverse
from pytest_django.asserts import assertContains, assertNotContains

from fulfillment.choices import EventSource, EventType, SubmissionState, SubmitStatus
from fulfillment.models import Order, OrderEvent, Submission
from fulfillment.services import submissions as submissions_module
from fulfillment.services.submissions import (
    AlreadySubmitted,
    NotEligible,
    SubmissionError,
    order_reprint,
    order_submit,
    orders_bulk_submit,
    submission_cancel,
    submission_execute,
    submission_retry,
    submissions_due,
)
from tests.factories import ProviderFactory, UserFactory
from tests.fulfillment.production import mirrored, print_file, printful_provider, staff

MUGS, CANVAS = 171, 172
PRODUCTION_EVENTS = (EventType.SUBMISSION_QUEUED, EventType.SUBMITTED, EventType.SUBMISSION_FAILED,
                     EventType.SUBMISSION_CANCELLED, EventType.COUNTDOWN)
T0 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def empty_cache(db):
    cache.clear()
    yield
    cache.clear()



@pytest.fixture
def ops(db):
    return UserFactory(username="olga")


@pytest.fixture
def no_jitter(monkeypatch):
    monkeypatch.setattr(submissions_module.random, "random", lambda: 0.0)


def production_events(order):
    return list(OrderEvent.objects.filter(order=order, type__in=PRODUCTION_EVENTS).order_by("pk")
                .values_list("type", "source", "user__username", "message"))


def queued(order, user=None):
    """Queue an order without running its task (the test runs submission_execute itself)."""
    (submission,) = order_submit(order=order, user=user)
    return submission


def messages_of(response):
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def action_url(order, action):
    return reverse("admin:fulfillment_order_action", args=[order.pk, action])


def page_url(order):
    return reverse("admin:fulfillment_order_change", args=[order.pk])


def list_url():
    return reverse("admin:fulfillment_order_changelist")


# -- eligibility ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["processing", "completed"])
def test_paid_orders_are_queued(shop, pf, ops, status, django_capture_on_commit_callbacks):
    # Given a paid order with a personalised mug (its file rendered) and a canvas
    order = mirrored(shop, status=status)

    # When operations submit it
    with django_capture_on_commit_callbacks() as callbacks:
        created = order_submit(order=order, user=ops)

    # Then one submission is queued for the provider, under our external id, with one task after the commit
    submission = Submission.objects.get()
    assert created == [submission]
    assert (submission.order, submission.provider, submission.state, submission.external_id, submission.attempts,
            submission.requested_by, submission.remote_id) == (
        order, pf, SubmissionState.QUEUED, "dasto-17", 0, ops, "")
    assert len(callbacks) == 1
    assert production_events(order) == [
        (EventType.SUBMISSION_QUEUED, EventSource.STAFF, "olga", "Queued for Printful (dasto-17)")]


@pytest.mark.parametrize(("status", "label"), [
    ("pending", "Pending payment"), ("on-hold", "On hold"), ("cancelled", "Cancelled"), ("refunded", "Refunded"),
    ("failed", "Failed"), ("checkout-draft", "Draft"),
])
def test_unpaid_orders_are_not_eligible(shop, pf, ops, status, label, django_capture_on_commit_callbacks):
    order = mirrored(shop, status=status)

    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(NotEligible) as caught:
        order_submit(order=order, user=ops)

    assert str(caught.value) == f"status {label} is not a paid status"
    assert (Submission.objects.count(), callbacks, production_events(order)) == (0, [], [])


def test_an_order_with_a_line_no_provider_makes_is_not_eligible(shop, printful, ops):
    # Given a provider of mugs only
    printful_provider(shop, printful, skus="MUG-*")
    order = mirrored(shop)

    with pytest.raises(NotEligible) as caught:
        order_submit(order=order, user=ops)

    assert str(caught.value) == "no provider makes CANVAS-3040 (Canvas print)"
    assert (Submission.objects.count(), production_events(order)) == (0, [])


def test_an_order_of_a_store_without_providers_is_not_eligible(shop, ops):
    order = mirrored(shop)

    with pytest.raises(NotEligible) as caught:
        order_submit(order=order, user=ops)

    assert str(caught.value) == "no provider makes MUG-11 (Photo mug); no provider makes CANVAS-3040 (Canvas print)"
    assert Submission.objects.count() == 0


def test_an_inactive_provider_makes_nothing(shop, printful, ops):
    printful_provider(shop, printful, active=False)
    order = mirrored(shop)

    with pytest.raises(NotEligible) as caught:
        order_submit(order=order, user=ops)

    assert str(caught.value) == "no provider makes MUG-11 (Photo mug); no provider makes CANVAS-3040 (Canvas print)"


def test_a_personalised_line_needs_its_production_file(shop, pf, ops):
    # Given a mug made in our editor whose print file is not rendered yet
    order = mirrored(shop, with_file=False)

    with pytest.raises(NotEligible) as caught:
        order_submit(order=order, user=ops)

    assert str(caught.value) == "no production file yet for Photo mug"
    assert (Submission.objects.count(), production_events(order)) == (0, [])


def test_a_trashed_order_is_not_eligible(shop, pf, ops):
    order = mirrored(shop)
    Order.objects.filter(pk=order.pk).update(trashed=True)

    with pytest.raises(NotEligible) as caught:
        order_submit(order=order, user=ops)

    assert str(caught.value) == "the order is in the trash in WooCommerce"
    assert Submission.objects.count() == 0


def test_the_provider_with_the_lowest_priority_number_makes_a_line(shop, printful, ops):
    printful_provider(shop, printful, name="Printful EU", priority=50)
    printful_provider(shop, printful, name="Printful US", priority=10)

    (submission,) = order_submit(order=mirrored(shop), user=ops)

    assert submission.provider.name == "Printful US"


def test_each_provider_gets_its_own_submission_with_its_lines(shop, printful, ops, tmp_path,
                                                              django_capture_on_commit_callbacks):
    # Given mugs made by Printful and canvases printed in house
    printful_provider(shop, printful, skus="MUG-*")
    ProviderFactory(store=shop, name="Print room", kind="file_drop", skus="CANVAS-*", folder=str(tmp_path))
    order = mirrored(shop)

    # When the order is submitted and its tasks run
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        created = order_submit(order=order, user=ops)

    # Then each provider has one submission, sent with only its own lines
    assert len(created) == 2 and len(callbacks) == 2
    assert sorted(Submission.objects.values_list("provider__name", "state", "external_id", "remote_id")) == [
        ("Print room", SubmissionState.SUBMITTED, "dasto-17", "dasto-17"),
        ("Printful", SubmissionState.SUBMITTED, "dasto-17", "90000001"),
    ]
    assert [i["external_id"] for i in printful.order("dasto-17")["items"]] == ["171"]
    with zipfile.ZipFile(tmp_path / "dasto-17.zip") as archive:
        assert archive.namelist() == ["packing_slip.html", "order.json"]
        assert b"CANVAS-3040" in archive.read("order.json") and b"MUG-11" not in archive.read("order.json")
    order.refresh_from_db()
    assert (order.submit_status, order.submit_error) == (SubmitStatus.SUBMITTED, "")


def test_an_order_is_submitted_once_per_provider(shop, pf, ops, django_capture_on_commit_callbacks):
    # Given an order submitted to Printful on 10 November
    order = mirrored(shop)
    with django_capture_on_commit_callbacks(execute=True):
        order_submit(order=order, user=ops)
    Submission.objects.update(submitted_at=T0)

    # When someone submits it again
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(AlreadySubmitted) as caught:
        order_submit(order=order, user=ops)

    # Then they are told when it went, and nothing else is queued or sent
    assert str(caught.value) == "Printful: submitted 2026-11-10 12:00"
    assert callbacks == []
    assert Submission.objects.count() == 1
    assert order.submissions.get().remote_id == "90000001"


def test_an_order_still_queued_is_not_queued_twice(shop, pf, ops):
    order = mirrored(shop)
    queued(order, ops)
    Submission.objects.update(created_at=T0)

    with pytest.raises(AlreadySubmitted) as caught:
        order_submit(order=order, user=ops)

    assert str(caught.value) == "Printful: queued 2026-11-10 12:00"
    assert Submission.objects.count() == 1


def test_the_database_refuses_a_second_live_submission(shop, pf, ops):
    order = mirrored(shop)
    queued(order, ops)

    with pytest.raises(IntegrityError), transaction.atomic():
        Submission.objects.create(order=order, provider=pf, external_id="dasto-17-2")

    assert Submission.objects.count() == 1


# -- bulk submit ---------------------------------------------------------------------------------------------


def test_bulk_submit_says_what_was_queued_skipped_and_refused(shop, pf, ops, printful,
                                                              django_capture_on_commit_callbacks):
    # Given two paid orders, one already submitted, one on hold and one whose mug file is not rendered
    fresh = [mirrored(shop, 17), mirrored(shop, 18)]
    done = mirrored(shop, 19)
    with django_capture_on_commit_callbacks(execute=True):
        order_submit(order=done, user=ops)
    Submission.objects.update(submitted_at=T0)
    on_hold, no_file = mirrored(shop, 20, status="on-hold"), mirrored(shop, 21, with_file=False)

    # When they are bulk submitted
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        result = orders_bulk_submit(orders=[*fresh, done, on_hold, no_file], user=ops)

    # Then the summary names each order with why, and only the eligible ones went out, each once (in one task)
    assert result.queued == ["17", "18"]
    assert result.already == [("19", "Printful: submitted 2026-11-10 12:00")]
    assert result.not_eligible == [("20", "status On hold is not a paid status"),
                                   ("21", "no production file yet for Photo mug")]
    assert len(callbacks) == 1
    assert sorted(Submission.objects.values_list("external_id", "state")) == [
        ("dasto-17", "submitted"), ("dasto-18", "submitted"), ("dasto-19", "submitted")]
    assert (sorted(printful.by_external_id), printful.count("POST", "/orders")) == (
        ["dasto-17", "dasto-18", "dasto-19"], 3)
    assert (Submission.objects.filter(order__in=[on_hold, no_file]).count(),
            production_events(on_hold), production_events(no_file)) == (0, [], [])


# -- executing -----------------------------------------------------------------------------------------------


def test_a_queued_submission_is_sent_and_recorded(shop, pf, ops, printful):
    # Given a queued submission
    order = mirrored(shop)
    submission = queued(order, ops)

    # When a worker runs it
    submission_execute(submission_id=submission.pk, now=T0)

    # Then Printful has the order and so do we: its id, one attempt, its answer, and the list's column
    submission.refresh_from_db()
    assert (submission.state, submission.remote_id, submission.attempts, submission.claimed_at,
            submission.outcome_unknown, submission.failure_reason) == (
        SubmissionState.SUBMITTED, "90000001", 1, T0, False, "")
    assert submission.submitted_at is not None
    assert submission.provider_response == printful.order("dasto-17")
    assert printful.requests == [("POST", "/orders", {"confirm": "true"})]
    order.refresh_from_db()
    assert (order.submit_status, order.submit_error) == (SubmitStatus.SUBMITTED, "")
    assert production_events(order) == [
        (EventType.SUBMISSION_QUEUED, EventSource.STAFF, "olga", "Queued for Printful (dasto-17)"),
        (EventType.SUBMITTED, EventSource.PROVIDER, None, "Printful accepted it as 90000001"),
    ]
    # and the order Printful got is the shop's order
    sent = printful.order("dasto-17")
    assert sent["recipient"] == {
        "name": "Ben Schmidt", "company": "", "address1": "Hauptstraße 2", "address2": "", "city": "Wien",
        "state_code": "", "country_code": "AT", "zip": "1010", "phone": "+43 1 5550101",
        "email": "customer17@example.com"}
    assert [(i["external_id"], i["variant_id"], i["external_variant_id"], i["quantity"], i["retail_price"],
             [f["url"] for f in i["files"]]) for i in sent["items"]] == [
        ("171", 1320, None, 3, "9.50", [print_file(17, MUGS)]),
        ("172", 0, "CANVAS-3040", 1, "20.00", []),
    ]


def test_running_a_submitted_submission_again_sends_nothing(shop, pf, ops, printful):
    submission = queued(mirrored(shop), ops)
    submission_execute(submission_id=submission.pk, now=T0)

    submission_execute(submission_id=submission.pk, now=T0 + timedelta(minutes=1))

    submission.refresh_from_db()
    assert (submission.state, submission.attempts) == (SubmissionState.SUBMITTED, 1)
    assert printful.requests == [("POST", "/orders", {"confirm": "true"})]


def test_a_500_then_200_is_retried_with_backoff_and_makes_one_order(shop, pf, ops, printful, no_jitter):
    # Given Printful failing once with a 500
    order = mirrored(shop)
    submission = queued(order, ops)
    printful.fail_next(status=500)

    # When a worker runs the submission
    submission_execute(submission_id=submission.pk, now=T0)

    # Then it waits 30 seconds, remembering that Printful may have the order; the list shows nothing yet
    submission.refresh_from_db()
    assert (submission.state, submission.attempts, submission.next_attempt_at, submission.outcome_unknown,
            submission.failure_reason) == (
        SubmissionState.QUEUED, 1, T0 + timedelta(seconds=30), True, "POST /orders: HTTP 500: Internal server error")
    assert submission.provider_response["code"] == 500
    order.refresh_from_db()
    assert (order.submit_status, order.submit_error) == (SubmitStatus.NONE, "")
    assert not OrderEvent.objects.filter(type=EventType.SUBMISSION_FAILED).exists()

    # When a worker comes too early
    assert submissions_due(now=T0 + timedelta(seconds=10)) == []
    submission_execute(submission_id=submission.pk, now=T0 + timedelta(seconds=10))

    # Then it does nothing
    submission.refresh_from_db()
    assert (submission.state, submission.attempts) == (SubmissionState.QUEUED, 1)
    assert printful.requests == []

    # When it is due
    assert submissions_due(now=T0 + timedelta(seconds=31)) == [submission.pk]
    submission_execute(submission_id=submission.pk, now=T0 + timedelta(seconds=31))

    # Then it looks the order up first, sends it once, and exactly one order exists at Printful
    submission.refresh_from_db()
    assert (submission.state, submission.attempts, submission.remote_id, submission.outcome_unknown,
            submission.failure_reason) == (SubmissionState.SUBMITTED, 2, "90000001", False, "")
    assert [(m, p) for m, p, _ in printful.requests] == [("GET", "/orders/@dasto-17"), ("POST", "/orders")]
    assert printful.created == 1
    order.refresh_from_db()
    assert order.submit_status == SubmitStatus.SUBMITTED


def test_an_html_error_page_is_retried(shop, pf, ops, printful, no_jitter):
    submission = queued(mirrored(shop), ops)
    printful.fail_next_with_html(status=502)

    submission_execute(submission_id=submission.pk, now=T0)

    submission.refresh_from_db()
    assert (submission.state, submission.next_attempt_at, submission.outcome_unknown) == (
        SubmissionState.QUEUED, T0 + timedelta(seconds=30), True)
    assert submission.failure_reason.startswith("POST /orders: HTTP 502, not JSON (an error page?): <!DOCTYPE html>")
    assert submission.provider_response["status"] == 502
    assert printful.created == 0

    submission_execute(submission_id=submission.pk, now=T0 + timedelta(seconds=30))

    submission.refresh_from_db()
    assert (submission.state, submission.remote_id) == (SubmissionState.SUBMITTED, "90000001")
    assert printful.created == 1


def test_backoff_doubles_and_gives_up_after_the_last_attempt(shop, pf, ops, printful, no_jitter):
    # Given Printful down for good
    order = mirrored(shop)
    submission = queued(order, ops)
    printful.fail_next(count=6, status=503, message="Service Unavailable")

    # When every attempt runs when due
    waits, now = [], T0
    for _ in range(6):
        submission_execute(submission_id=submission.pk, now=now)
        submission.refresh_from_db()
        if submission.next_attempt_at and submission.state == SubmissionState.QUEUED:
            waits.append(int((submission.next_attempt_at - now).total_seconds()))
            now = submission.next_attempt_at

    # Then the waits double, and the sixth failure is final and shown to staff
    assert waits == [30, 60, 120, 240, 480]
    assert (submission.state, submission.attempts) == (SubmissionState.FAILED, 6)
    order.refresh_from_db()
    assert (order.submit_status, order.submit_error) == (
        SubmitStatus.FAILED, "Printful: GET /orders/@dasto-17: HTTP 503: Service Unavailable")
    assert printful.created == 0


def test_a_refusal_fails_the_submission_with_the_reason_for_staff(shop, pf, ops, printful, client):
    # Given an order whose shipping address has no street
    order = mirrored(shop)
    Order.objects.filter(pk=order.pk).update(shipping={**order.shipping, "address_1": ""})
    submission = queued(order, ops)

    # When a worker runs it
    submission_execute(submission_id=submission.pk, now=T0)

    # Then it fails at once with Printful's reason, and no retry is planned
    submission.refresh_from_db()
    assert (submission.state, submission.attempts, submission.next_attempt_at, submission.failure_reason) == (
        SubmissionState.FAILED, 1, None, "Recipient: Address is missing")
    assert submission.provider_response["error"] == {"reason": "BadRequest",
                                                     "message": "Recipient: Address is missing"}
    assert submissions_due(now=T0 + timedelta(days=1)) == []
    order.refresh_from_db()
    assert (order.submit_status, order.submit_error) == (SubmitStatus.FAILED, "Printful: Recipient: Address is missing")
    assert production_events(order)[-1] == (
        EventType.SUBMISSION_FAILED, EventSource.PROVIDER, None, "Printful: Recipient: Address is missing")
    assert printful.created == 0

    # and the list shows Failed with the reason on hover
    client.force_login(staff("operations"))
    response = client.get(list_url())
    assertContains(response, 'title="Printful: Recipient: Address is missing">Failed</span>')


def test_an_order_that_is_no_longer_eligible_fails_when_its_turn_comes(shop, pf, ops, printful):
    order = mirrored(shop)
    submission = queued(order, ops)
    Order.objects.filter(pk=order.pk).update(status="cancelled")

    submission_execute(submission_id=submission.pk, now=T0)

    submission.refresh_from_db()
    assert (submission.state, submission.failure_reason) == (
        SubmissionState.FAILED, "Not eligible any more: status Cancelled is not a paid status")
    assert printful.requests == []


# -- retry ---------------------------------------------------------------------------------------------------


def failed_submission(order, user):
    Order.objects.filter(pk=order.pk).update(shipping={**order.shipping, "address_1": ""})
    submission = queued(order, user)
    submission_execute(submission_id=submission.pk, now=T0)
    Order.objects.filter(pk=order.pk).update(shipping={**order.shipping, "address_1": "Hauptstraße 2"})
    submission.refresh_from_db()
    assert submission.state == SubmissionState.FAILED
    return submission


def test_staff_retry_a_failed_submission_from_the_order_page(client, shop, pf, printful,
                                                             django_capture_on_commit_callbacks):
    # Given a submission Printful refused, and the address corrected since
    user = staff("operations")
    order = mirrored(shop)
    submission = failed_submission(order, user)

    # When operations press Retry on the order page
    with django_capture_on_commit_callbacks(execute=True):
        client.force_login(user)
        response = client.post(action_url(order, "retry_submission"), {"submission": submission.pk})

    # Then the same submission is sent again under the same external id, and the order shows submitted
    assert response.status_code == 302 and response.url == page_url(order)
    assert messages_of(response) == [("success", "Submission queued again.")]
    submission.refresh_from_db()
    assert (submission.state, submission.external_id, submission.attempts, submission.remote_id,
            submission.failure_reason) == (SubmissionState.SUBMITTED, "dasto-17", 2, "90000001", "")
    assert Submission.objects.count() == 1
    order.refresh_from_db()
    assert (order.submit_status, order.submit_error) == (SubmitStatus.SUBMITTED, "")
    assert production_events(order)[-2:] == [
        (EventType.SUBMISSION_QUEUED, EventSource.STAFF, "operations", "Queued again for Printful (dasto-17)"),
        (EventType.SUBMITTED, EventSource.PROVIDER, None, "Printful accepted it as 90000001"),
    ]


def test_submitting_an_order_again_retries_its_failed_submission(shop, pf, ops, printful,
                                                                 django_capture_on_commit_callbacks):
    order = mirrored(shop)
    submission = failed_submission(order, ops)

    with django_capture_on_commit_callbacks(execute=True):
        assert order_submit(order=order, user=ops) == [submission]

    submission.refresh_from_db()
    assert (submission.state, submission.external_id) == (SubmissionState.SUBMITTED, "dasto-17")
    assert Submission.objects.count() == 1 and printful.created == 1


def test_only_a_failed_submission_can_be_retried(shop, pf, ops):
    submission = queued(mirrored(shop), ops)

    with pytest.raises(SubmissionError) as caught:
        submission_retry(submission=submission, user=ops)

    assert str(caught.value) == "Only a failed submission can be retried; this one is queued."


def test_staff_retry_failed_submissions_from_the_submission_list(client, shop, pf, printful,
                                                                 django_capture_on_commit_callbacks):
    # Given a failed submission and a submitted one
    user = staff("operations")
    failed = failed_submission(mirrored(shop, 17), user)
    done = queued(mirrored(shop, 18), user)
    submission_execute(submission_id=done.pk, now=T0)

    # When operations retry both from the submission list
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:fulfillment_submission_changelist"),
                               {"action": "retry_selected", "_selected_action": [failed.pk, done.pk], "index": 0})

    # Then the failed one goes again; the other one is left as it is, with why
    assert response.status_code == 302
    assert messages_of(response) == [
        ("error", "#18: Only a failed submission can be retried; this one is submitted."),
        ("success", "1 submission queued again."),
    ]
    failed.refresh_from_db()
    done.refresh_from_db()
    assert (failed.state, done.state, done.attempts) == (SubmissionState.SUBMITTED, SubmissionState.SUBMITTED, 1)
    assert printful.created == 2


def test_support_cannot_retry_from_the_submission_list(client, shop, pf):
    # Given a failed submission, and support staff who may only look at submissions
    user = staff("support")
    failed = failed_submission(mirrored(shop), user)
    client.force_login(user)

    # When they post the retry action anyway
    response = client.post(reverse("admin:fulfillment_submission_changelist"),
                           {"action": "retry_selected", "_selected_action": [failed.pk], "index": 0})

    # Then the list has no action for them: the post only shows the list again
    assert (response.status_code, messages_of(response)) == (200, [])
    assertNotContains(response, 'value="retry_selected"')
    failed.refresh_from_db()
    assert failed.state == SubmissionState.FAILED


# -- cancel --------------------------------------------------------------------------------------------------


def test_staff_cancel_a_submitted_order_at_the_provider(client, shop, pf, printful):
    # Given an order Printful has, not in production yet
    user = staff("operations")
    order = mirrored(shop)
    submission = queued(order, user)
    submission_execute(submission_id=submission.pk, now=T0)

    # When operations cancel its submission on the order page
    client.force_login(user)
    response = client.post(action_url(order, "cancel_submission"), {"submission": submission.pk})

    # Then Printful cancels it, and the order is no longer shown as submitted
    assert messages_of(response) == [("success", "Submission cancelled.")]
    assert printful.order("dasto-17")["status"] == "canceled"
    submission.refresh_from_db()
    assert submission.state == SubmissionState.CANCELLED
    order.refresh_from_db()
    assert (order.submit_status, order.submit_error) == (SubmitStatus.NONE, "")
    assert production_events(order)[-1] == (
        EventType.SUBMISSION_CANCELLED, EventSource.STAFF, "operations", "Printful (dasto-17)")


def test_an_order_in_production_is_not_cancelled(shop, pf, ops, printful):
    order = mirrored(shop)
    submission = queued(order, ops)
    submission_execute(submission_id=submission.pk, now=T0)
    printful.set_status("dasto-17", "inprocess")
    before = production_events(order)

    with pytest.raises(SubmissionError) as caught:
        submission_cancel(submission=submission, user=ops)

    assert str(caught.value) == "Printful did not cancel it: Order with status inprocess can not be canceled"
    submission.refresh_from_db()
    assert submission.state == SubmissionState.SUBMITTED
    assert production_events(order) == before
    order.refresh_from_db()
    assert order.submit_status == SubmitStatus.SUBMITTED


def test_a_queued_submission_is_cancelled_without_calling_the_provider(shop, pf, ops, printful):
    order = mirrored(shop)
    submission = queued(order, ops)

    submission_cancel(submission=submission, user=ops)

    submission.refresh_from_db()
    assert submission.state == SubmissionState.CANCELLED
    assert printful.requests == []
    # and its task, when it runs, sends nothing
    submission_execute(submission_id=submission.pk, now=T0)
    assert printful.requests == []


def test_a_cancelled_order_can_be_submitted_again_under_a_new_external_id(shop, pf, ops, printful,
                                                                         django_capture_on_commit_callbacks):
    order = mirrored(shop)
    first = queued(order, ops)
    submission_execute(submission_id=first.pk, now=T0)
    submission_cancel(submission=first, user=ops)

    with django_capture_on_commit_callbacks(execute=True):
        (second,) = order_submit(order=order, user=ops)

    second.refresh_from_db()
    assert (second.state, second.external_id, second.remote_id) == (SubmissionState.SUBMITTED, "dasto-17-2",
                                                                     "90000002")
    assert printful.created == 2


def test_cancelling_twice_is_refused(shop, pf, ops):
    submission = queued(mirrored(shop), ops)
    submission_cancel(submission=submission, user=ops)

    with pytest.raises(SubmissionError) as caught:
        submission_cancel(submission=submission, user=ops)

    assert str(caught.value) == "This submission is already cancelled."


# -- reprint -------------------------------------------------------------------------------------------------


def test_a_reprint_needs_a_reason(client, shop, pf, printful):
    user = staff("operations")
    order = mirrored(shop)
    submission = queued(order, user)
    submission_execute(submission_id=submission.pk, now=T0)
    client.force_login(user)

    response = client.post(action_url(order, "reprint"), {"reason": "   "})

    assert response.status_code == 400
    assert messages_of(response) == [("error", "Say why the order is produced again.")]
    assertContains(response, '<p class="errornote">Say why the order is produced again.</p>', status_code=400,
                   html=True)
    assert list(Submission.objects.values_list("state", flat=True)) == [SubmissionState.SUBMITTED]
    assert printful.created == 1


def test_a_reprint_is_a_new_submission_linked_to_the_first(client, shop, pf, printful,
                                                            django_capture_on_commit_callbacks):
    # Given an order Printful made
    user = staff("operations")
    order = mirrored(shop)
    first = queued(order, user)
    submission_execute(submission_id=first.pk, now=T0)

    # When operations ask for a reprint, saying why
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(action_url(order, "reprint"), {"reason": "Mug arrived broken (photo)"})

    # Then the first is marked reprinted and a new one goes out under a new external id
    assert messages_of(response) == [("success", "Reprint queued for Printful.")]
    first.refresh_from_db()
    second = Submission.objects.exclude(pk=first.pk).get()
    assert first.state == SubmissionState.REPRINTED
    assert (second.state, second.reprint_of, second.external_id, second.remote_id, second.reason,
            second.requested_by) == (SubmissionState.SUBMITTED, first, "dasto-17-2", "90000002",
                                     "Mug arrived broken (photo)", user)
    assert printful.created == 2
    order.refresh_from_db()
    assert order.submit_status == SubmitStatus.SUBMITTED
    # and the timeline says who asked and why
    assert production_events(order)[-2:] == [
        (EventType.SUBMISSION_QUEUED, EventSource.STAFF, "operations",
         "Reprint queued for Printful (dasto-17-2): Mug arrived broken (photo)"),
        (EventType.SUBMITTED, EventSource.PROVIDER, None, "Printful accepted it as 90000002"),
    ]
    page = client.get(page_url(order))
    assertContains(page, '<div class="message">Reprint queued for Printful (dasto-17-2): Mug arrived broken (photo)'
                         '</div>', html=True)
    assertContains(page, '<span class="source">Staff · operations</span>', html=True)
    assertContains(page, "<small>reprint: Mug arrived broken (photo) · operations</small>", html=True)


def test_nothing_to_reprint_before_a_submission(shop, pf, ops):
    order = mirrored(shop)

    with pytest.raises(SubmissionError) as caught:
        order_reprint(order=order, reason="broken", user=ops)

    assert str(caught.value) == "Nothing was submitted yet: submit the order instead."
    assert Submission.objects.count() == 0


# -- the admin: order page and list --------------------------------------------------------------------------


def test_operations_submit_from_the_order_page(client, shop, pf, printful, django_capture_on_commit_callbacks):
    user = staff("operations")
    order = mirrored(shop)
    client.force_login(user)
    page = client.get(page_url(order))
    assertContains(page, f'action="{action_url(order, "submit")}"')

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(action_url(order, "submit"))

    assert response.status_code == 302
    assert messages_of(response) == [("success", "Queued for Printful.")]
    assert Submission.objects.get().state == SubmissionState.SUBMITTED
    assert printful.created == 1


def test_the_order_page_says_why_an_order_cannot_be_submitted(client, shop, pf):
    user = staff("operations")
    order = mirrored(shop, with_file=False)
    client.force_login(user)

    page = client.get(page_url(order))
    response = client.post(action_url(order, "submit"))

    assertContains(page, "<li>no production file yet for Photo mug</li>", html=True)
    assertContains(page, 'disabled title="no production file yet for Photo mug"')
    assert response.status_code == 400
    assert messages_of(response) == [("error", "Not submitted: no production file yet for Photo mug")]
    assert Submission.objects.count() == 0


@pytest.mark.parametrize("role", ["support", "finance"])
@pytest.mark.parametrize("action", ["submit", "reprint", "retry_submission", "cancel_submission"])
def test_support_and_finance_may_not_submit(client, shop, pf, printful, role, action):
    user = staff(role)
    order = mirrored(shop)
    client.force_login(user)

    page = client.get(page_url(order))
    response = client.post(action_url(order, action), {"reason": "again", "submission": "1"})

    assert page.status_code == 200
    assertNotContains(page, f'action="{action_url(order, "submit")}"')
    assert response.status_code == 403
    assert (Submission.objects.count(), production_events(order), printful.requests) == (0, [], [])


def test_bulk_submit_from_the_list_tells_staff_what_happened(client, shop, pf, printful,
                                                             django_capture_on_commit_callbacks):
    # Given orders of which one is submitted already and one is on hold
    user = staff("operations")
    fresh = [mirrored(shop, 17), mirrored(shop, 18)]
    done = mirrored(shop, 19)
    submission_execute(submission_id=queued(done, user).pk, now=T0)
    Submission.objects.update(submitted_at=T0)
    on_hold = mirrored(shop, 20, status="on-hold")
    client.force_login(user)

    # When operations bulk submit them from the list
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(list_url(), {"action": "bulk_submit", "index": 0,
                                            "_selected_action": [o.pk for o in (*fresh, done, on_hold)]})

    # Then the messages name the orders with why, and only the eligible new ones went out
    assert response.status_code == 302
    assert messages_of(response) == [
        ("success", "2 orders queued: #17, #18"),
        ("warning", "Already submitted, skipped: #19 (Printful: submitted 2026-11-10 12:00)"),
        ("error", "Not eligible: #20 (status On hold is not a paid status)"),
    ]
    assert sorted(printful.by_external_id) == ["dasto-17", "dasto-18", "dasto-19"]
    assert Submission.objects.filter(order=on_hold).count() == 0


def test_support_has_no_bulk_submit(client, shop, pf, printful):
    user = staff("support")
    order = mirrored(shop)
    client.force_login(user)

    listing = client.get(list_url())
    response = client.post(list_url(), {"action": "bulk_submit", "index": 0, "_selected_action": [order.pk]})

    assertNotContains(listing, 'value="bulk_submit"')
    assert (response.status_code, messages_of(response)) == (302, [("warning", "No action selected.")])
    assert (Submission.objects.count(), printful.requests) == (0, [])


def test_the_tick_leaves_a_new_submission_to_its_own_task_and_takes_it_when_that_task_was_lost(shop, pf, ops):
    # given a submission just queued (its task was queued with it)
    submission = queued(mirrored(shop, 17), ops)
    created = Submission.objects.get(pk=submission.pk).created_at

    # then the every-minute tick does not queue a second task while it waits its turn in a long queue
    assert submissions_due(now=created + timedelta(minutes=9)) == []
    # and takes it when it is still waiting ten minutes later (its task was lost: a broker flushed)
    assert submissions_due(now=created + timedelta(minutes=10, seconds=1)) == [submission.pk]


@pytest.mark.parametrize("value", ["²", "١", "9" * 5000])
def test_a_submission_named_by_other_digits_is_refused_not_a_500(client, shop, value):
    # Given operations posting Retry with a submission id that is no id ('²'.isdigit() is true, int('²') fails;
    # int() refuses 5,000 digits: both were a 500)
    user = staff("operations")
    order = mirrored(shop)
    client.force_login(user)

    # When it is posted
    response = client.post(action_url(order, "retry_submission"), {"submission": value})

    # Then the order page says the submission is not the order's
    assert response.status_code == 400
    assert "That submission does not belong to this order." in response.content.decode()
