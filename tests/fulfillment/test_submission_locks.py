"""A reprint and a provider's webhook for the same submission at once (PostgreSQL): no deadlock.

The house's lock order is the order's row first, then its submissions' (docs/architecture.md). The webhook used to
update the submission and then its order, the reprint the other way round: with both inside their transactions at
once, PostgreSQL found a deadlock and aborted one of them. The test holds the webhook's transaction open, after its
first locks, until the reprint is waiting on a lock, which is the moment that deadlocked.
"""

import time
from datetime import UTC, datetime

import pytest
from django.db import DatabaseError, connection

from fulfillment.choices import SubmissionState, SubmitStatus
from fulfillment.models import Order, Submission
from fulfillment.services import provider_tracking, submissions
from fulfillment.services.provider_tracking import provider_webhook_apply
from fulfillment.services.submissions import SubmissionError, order_reprint, order_submit, submission_execute
from tests.concurrency import in_threads
from tests.fulfillment.production import mirrored, printful_provider

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
T0 = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


def someone_waits_on_a_lock(seconds=5):
    """Whether another connection waits on a row lock within `seconds` (asked from inside the caller's transaction)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            # pg_locks, not pg_stat_activity: the latter is a snapshot taken once per transaction.
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted AND pid <> pg_backend_pid()")
            if cursor.fetchone()[0]:
                return True
        time.sleep(0.05)
    return False


def test_a_reprint_and_a_providers_order_failed_for_the_same_submission_at_once_do_not_deadlock(
        woo_store, woo, printful, monkeypatch):
    # Given an order Printful made
    provider = printful_provider(woo_store, printful, webhook_token="whk-1")
    order = mirrored(woo_store, 17, woo=woo)
    (submission,) = order_submit(order=order, user=None)
    submission_execute(submission_id=submission.pk, now=T0)
    monkeypatch.setattr(submissions, "enqueue", lambda *args, **kwargs: None)  # the reprint's task is not run

    # and a webhook whose transaction, its first rows locked, stays open until the reprint waits on a lock
    webhook_in_transaction, waited = [], []
    refresh = provider_tracking.order_refresh_submit_status

    def held_open(order_id):
        webhook_in_transaction.append(True)
        waited.append(someone_waits_on_a_lock())
        return refresh(order_id)

    monkeypatch.setattr(provider_tracking, "order_refresh_submit_status", held_open)

    # When Printful reports the order failed while operations ask for a reprint
    def work(index):
        try:
            if index == 0:
                return provider_webhook_apply(provider=provider, payload=printful.order_failed(
                    submission.external_id, reason="The print file could not be downloaded"))
            while not webhook_in_transaction:
                time.sleep(0.01)
            return order_reprint(order=order, reason="Mug arrived broken", user=None)
        except (SubmissionError, DatabaseError) as exc:
            return f"{type(exc).__name__}: {exc}".strip()

    outcomes = in_threads(2, work)

    # Then neither was aborted: the reprint waited for the webhook, and then found the submission failed
    assert waited == [True]
    assert outcomes == ["submission failed", "SubmissionError: Nothing was submitted yet: submit the order instead."]
    submission.refresh_from_db()
    assert (submission.state, submission.failure_reason) == (SubmissionState.FAILED,
                                                             "The print file could not be downloaded")
    assert Submission.objects.count() == 1
    assert Order.objects.get(pk=order.pk).submit_status == SubmitStatus.FAILED
