"""Submitting orders to production exactly once: one, in bulk, by countdown, retried, cancelled or reprinted.

"Never twice" rests on the database, not on a hidden button: a unique constraint allows one live submission
per order and provider; a worker claims a submission before calling the provider; every call carries the same
external id; and an attempt whose outcome is unknown is followed by a look-up, never by a blind resend.
"""

import logging
import random
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from fulfillment import events
from fulfillment.choices import EventSource, SubmissionState, SubmitStatus
from fulfillment.models import Order, Provider, Submission
from fulfillment.models.submissions import LIVE_STATES
from fulfillment.providers.base import ProviderDuplicateError, ProviderError, ProviderRejectedError
from fulfillment.providers.registry import adapter_for
from fulfillment.queue import enqueue
from fulfillment.services.production import production_order, production_plan

logger = logging.getLogger("fulfillment.submissions")

MAX_ATTEMPTS = 6
CLAIM_TIMEOUT = timedelta(minutes=5)  # longer than any provider call (30 s read timeout) by far
# An order found at the provider by our external id in one of these states is not in production: sending it
# again is refused as a duplicate, so a person must fix it at the provider, or cancel ours and submit anew.
DEAD_REMOTE_STATUSES = ("failed", "canceled", "cancelled")


class SubmissionError(Exception):
    """An order cannot be (re)submitted now; the message is for staff."""


class NotEligible(SubmissionError):
    pass


class AlreadySubmitted(SubmissionError):
    pass


def base_external_id(order):
    return f"{order.store.slug}-{order.woo_id}"


def _next_external_id(order, provider):
    used = Submission.objects.filter(order=order, provider=provider).count()
    return base_external_id(order) if used == 0 else f"{base_external_id(order)}-{used + 1}"


def _providers(store):
    return list(Provider.objects.filter(store=store, active=True).order_by("priority", "pk"))


def order_submit(*, order, user=None, source=EventSource.STAFF, reason=""):
    """Queue an order for production at every provider that makes its lines; returns the new submissions."""
    with transaction.atomic():
        order = Order.objects.select_for_update().select_related("store").get(pk=order.pk)
        plan = production_plan(order, _providers(order.store))
        if plan.problems:
            raise NotEligible("; ".join(plan.problems))
        if not plan.lines_by_provider:
            raise NotEligible(_("no provider is configured for this store"))
        live = {s.provider_id: s for s in Submission.objects.filter(order=order, state__in=LIVE_STATES)
                .select_related("provider")}
        created = []
        for provider in plan.lines_by_provider:
            if provider.pk in live:
                continue
            failed = (Submission.objects.filter(order=order, provider=provider, state=SubmissionState.FAILED)
                      .order_by("-pk").first())
            if failed is not None:
                # A failed submission is retried as itself: same external id, so the provider can tell.
                created.append(_requeue(failed, user=user))
                continue
            try:
                with transaction.atomic():
                    submission = Submission.objects.create(
                        order=order, provider=provider, external_id=_next_external_id(order, provider),
                        requested_by=user, reason=reason,
                    )
            except IntegrityError:
                continue  # another worker queued it a moment ago: the constraint did its job
            events.submission_event(submission, user=user, source=source).save()
            enqueue("fulfillment.tasks.execute_submission", submission.pk)
            created.append(submission)
        if not created:
            raise AlreadySubmitted(", ".join(
                _("%(provider)s: %(state)s %(when)s") % {
                    "provider": s.provider.name, "state": s.get_state_display().lower(),
                    "when": timezone.localtime(s.submitted_at or s.created_at).strftime("%Y-%m-%d %H:%M")}
                for s in live.values()
            ) or _("already submitted"))
        if order.countdown_due_at or order.countdown_paused_seconds is not None:
            order.countdown_due_at, order.countdown_paused_seconds = None, None
            order.save(update_fields=["countdown_due_at", "countdown_paused_seconds"])
    return created


def _requeue(submission, *, user):
    submission.state, submission.next_attempt_at, submission.failure_reason = SubmissionState.QUEUED, None, ""
    submission.requested_by = user or submission.requested_by
    submission.save(update_fields=["state", "next_attempt_at", "failure_reason", "requested_by"])
    events.submission_event(submission, user=user, source=EventSource.STAFF, retry=True).save()
    enqueue("fulfillment.tasks.execute_submission", submission.pk)
    return submission


@dataclass
class BulkResult:
    queued: list = field(default_factory=list)  # order numbers
    already: list = field(default_factory=list)  # (number, why)
    not_eligible: list = field(default_factory=list)  # (number, why)


def orders_bulk_submit(*, orders, user):
    """Submit a selection: each order on its own (one task per submission), with a summary of what happened."""
    result = BulkResult()
    for order in orders:
        try:
            order_submit(order=order, user=user)
        except NotEligible as exc:
            result.not_eligible.append((order.number, str(exc)))
        except AlreadySubmitted as exc:
            result.already.append((order.number, str(exc)))
        else:
            result.queued.append(order.number)
    return result


def submission_retry(*, submission, user):
    """Staff send a failed submission again."""
    with transaction.atomic():
        submission = Submission.objects.select_for_update().get(pk=submission.pk)
        if submission.state != SubmissionState.FAILED:
            raise SubmissionError(_("Only a failed submission can be retried; this one is %(state)s.") % {
                "state": submission.get_state_display().lower()})
        return _requeue(submission, user=user)


# -- executing: the only place that calls a provider to create an order -----------------------------------

def submission_execute(*, submission_id, adapter=None, now=None):
    """Send one queued submission to its provider; safe to run twice or from several workers at once."""
    now = now or timezone.now()
    with transaction.atomic():
        submission = (Submission.objects.select_for_update().select_related("order__store", "provider")
                      .get(pk=submission_id))
        if submission.state == SubmissionState.SUBMITTING:
            if submission.claimed_at and submission.claimed_at > now - CLAIM_TIMEOUT:
                return submission  # another worker is on it
            # Its worker died mid-call: whether the provider made the order is unknown until we look.
            submission.outcome_unknown = True
        elif submission.state != SubmissionState.QUEUED:
            return submission
        elif submission.next_attempt_at and submission.next_attempt_at > now:
            return submission
        submission.state, submission.claimed_at = SubmissionState.SUBMITTING, now
        submission.attempts += 1
        submission.save(update_fields=["state", "claimed_at", "attempts", "outcome_unknown"])

    adapter = adapter or adapter_for(submission.provider)
    try:
        remote = adapter.lookup(submission.external_id) if submission.outcome_unknown else None
        if remote is None:
            plan = production_plan(submission.order, _providers(submission.order.store))
            lines = plan.lines_by_provider.get(submission.provider, [])
            if plan.problems or not lines:
                raise ProviderError(_("Not eligible any more: %(why)s") % {
                    "why": "; ".join(plan.problems) or _("no line for this provider")})
            try:
                remote = adapter.submit(production_order(submission.order, lines, submission.external_id))
            except ProviderDuplicateError:
                remote = adapter.lookup(submission.external_id)
                if remote is None:
                    raise
        if remote.status in DEAD_REMOTE_STATUSES:
            raise ProviderRejectedError(_(
                "Already at the provider as %(status)s (order %(id)s): fix it there, or cancel it here and submit "
                "again.") % {"id": remote.remote_id, "status": remote.status}, response=remote.raw)
    except ProviderError as exc:
        return _record_failure(submission, exc, now)
    return _record_submitted(submission, remote)


def _record_submitted(submission, remote):
    with transaction.atomic():
        submission.state, submission.remote_id = SubmissionState.SUBMITTED, remote.remote_id[:64]
        submission.submitted_at, submission.outcome_unknown = timezone.now(), False
        submission.failure_reason, submission.provider_response = "", remote.raw or None
        submission.save(update_fields=["state", "remote_id", "submitted_at", "outcome_unknown", "failure_reason",
                                       "provider_response"])
        events.submitted_event(submission).save()
        order_refresh_submit_status(submission.order_id)
    logger.info("order %s submitted to %s as %s", submission.order_id, submission.provider.name, remote.remote_id)
    return submission


def _record_failure(submission, exc, now):
    submission.failure_reason = str(exc)[:2000]
    submission.provider_response = exc.response if isinstance(exc.response, (dict, list)) else (
        {"body": str(exc.response)[:2000]} if exc.response else None)
    submission.outcome_unknown = submission.outcome_unknown or exc.outcome_unknown
    with transaction.atomic():
        if exc.retryable and submission.attempts < MAX_ATTEMPTS:
            submission.state = SubmissionState.QUEUED
            delay = min(30 * 2 ** (submission.attempts - 1), 1800) * (1 + random.random() / 10)
            submission.next_attempt_at = now + timedelta(seconds=delay)
        else:
            submission.state = SubmissionState.FAILED
            events.submission_failed_event(submission).save()
        submission.save(update_fields=["state", "failure_reason", "provider_response", "outcome_unknown",
                                       "next_attempt_at"])
        order_refresh_submit_status(submission.order_id)
    logger.warning("submission %s (order %s, %s): %s", submission.pk, submission.order_id, submission.provider.name,
                   exc)
    return submission


def order_refresh_submit_status(order_id):
    """The list's Submitted / Failed column, from the order's submissions (failed wins: someone must look)."""
    rows = list(Submission.objects.filter(order_id=order_id).values_list("provider_id", "state", "failure_reason",
                                                                        "provider__name", "pk").order_by("pk"))
    latest = {}
    for provider_id, state, reason, name, _pk in rows:
        latest[provider_id] = (state, reason, name)
    failed = [f"{name}: {reason}" for state, reason, name in latest.values() if state == SubmissionState.FAILED]
    if failed:
        status, error = SubmitStatus.FAILED, " · ".join(failed)
    elif latest and all(state in (SubmissionState.SUBMITTED, SubmissionState.CANCELLED)
                        for state, _r, _n in latest.values()) and any(
            state == SubmissionState.SUBMITTED for state, _r, _n in latest.values()):
        status, error = SubmitStatus.SUBMITTED, ""
    else:
        status, error = SubmitStatus.NONE, ""
    Order.objects.filter(pk=order_id).update(submit_status=status, submit_error=error[:2000])


def submissions_due(now=None):
    """Ids of submissions a worker should run now: queued and due, or claimed by a worker that died."""
    now = now or timezone.now()
    queued = Submission.objects.filter(state=SubmissionState.QUEUED).exclude(next_attempt_at__gt=now)
    stale = Submission.objects.filter(state=SubmissionState.SUBMITTING, claimed_at__lt=now - CLAIM_TIMEOUT)
    return list(queued.values_list("pk", flat=True)) + list(stale.values_list("pk", flat=True))


# -- cancelling and reprinting ---------------------------------------------------------------------------

def submission_cancel(*, submission, user, adapter=None):
    """Cancel a submission; at the provider too when it was sent and the provider allows it."""
    submission = Submission.objects.select_related("provider", "order").get(pk=submission.pk)
    if submission.state in (SubmissionState.CANCELLED, SubmissionState.REPRINTED):
        raise SubmissionError(_("This submission is already %(state)s.") % {
            "state": submission.get_state_display().lower()})
    if submission.state == SubmissionState.SUBMITTING:
        raise SubmissionError(_("This submission is being sent right now; try again in a minute."))
    if submission.state == SubmissionState.SUBMITTED:
        adapter = adapter or adapter_for(submission.provider)
        if not adapter.supports_cancel:
            raise SubmissionError(_("%(provider)s does not allow cancelling an order.") % {
                "provider": submission.provider.name})
        try:
            adapter.cancel(submission.external_id)
        except ProviderError as exc:
            raise SubmissionError(_("%(provider)s did not cancel it: %(why)s") % {
                "provider": submission.provider.name, "why": exc}) from None
    with transaction.atomic():
        updated = Submission.objects.filter(pk=submission.pk, state=submission.state).update(
            state=SubmissionState.CANCELLED)
        if not updated:
            raise SubmissionError(_("The submission changed meanwhile; look again."))
        submission.state = SubmissionState.CANCELLED
        events.submission_cancelled_event(submission, user=user).save()
        order_refresh_submit_status(submission.order_id)
    return submission


def order_reprint(*, order, reason, user):
    """Send an order to production again on purpose (after reprocess): new submissions linked to the first."""
    reason = (reason or "").strip()
    if not reason:
        raise SubmissionError(_("Say why the order is produced again."))
    with transaction.atomic():
        order = Order.objects.select_for_update().select_related("store").get(pk=order.pk)
        previous = list(Submission.objects.filter(order=order, state=SubmissionState.SUBMITTED)
                        .select_related("provider"))
        if not previous:
            raise SubmissionError(_("Nothing was submitted yet: submit the order instead."))
        created = []
        for old in previous:
            old.state = SubmissionState.REPRINTED
            old.save(update_fields=["state"])
            new = Submission.objects.create(
                order=order, provider=old.provider, external_id=_next_external_id(order, old.provider),
                reprint_of=old, reason=reason, requested_by=user,
            )
            events.submission_event(new, user=user, source=EventSource.STAFF, reprint=True).save()
            enqueue("fulfillment.tasks.execute_submission", new.pk)
            created.append(new)
        order_refresh_submit_status(order.pk)
    return created
