"""Submitting orders to production exactly once: one, in bulk, by countdown, retried, cancelled or reprinted.

"Never twice" rests on the database, not on a hidden button: a unique constraint allows one live submission
per order and provider; a worker claims a submission before calling the provider; every call carries the same
external id; and an attempt whose outcome is unknown is followed by a look-up, never by a blind resend.

Over 400 lines: queueing, executing, cancelling and reprinting share those rules (the claim, the external ids, the
live-submission constraint), and a reader checking "never twice" reads them in one place.
"""

import logging
import random
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, prefetch_related_objects
from django.utils import timezone
from django.utils.translation import gettext as _

from fulfillment import events
from fulfillment.choices import EventSource, SubmissionState, SubmitStatus
from fulfillment.models import Order, OrderEvent, Provider, Submission
from fulfillment.models.submissions import LIVE_STATES
from fulfillment.providers.base import ProviderDuplicateError, ProviderError, ProviderRejectedError
from fulfillment.providers.registry import adapter_for
from fulfillment.task_queue import enqueue
from fulfillment.services.production import production_order, production_plan

logger = logging.getLogger("fulfillment.submissions")

MAX_ATTEMPTS = 6
CLAIM_TIMEOUT = timedelta(seconds=settings.SUBMISSION_CLAIM_SECONDS)  # longer than any provider call (30 s read timeout) by far
# A new submission's task is queued with it; the production tick queues another only if it is still waiting this
# long after (its task was lost: a broker flushed). Without this, every tick during a bulk submit of thousands
# queued a second task for each submission still waiting its turn (1,100-2,700 per 10,000; bench_submit).
LOST_TASK_AFTER = timedelta(seconds=settings.SUBMISSION_LOST_TASK_SECONDS)
# An order found at the provider by our external id in one of these states is not in production: sending it
# again is refused as a duplicate, so a person must fix it at the provider, or cancel ours and submit anew.
DEAD_REMOTE_STATUSES = ("failed", "canceled", "cancelled")


class SubmissionError(Exception):
    """An order cannot be (re)submitted now; the message is for staff."""


class NotEligible(SubmissionError):
    def __init__(self, message, *, waiting=False):
        super().__init__(message)
        self.waiting = waiting  # only a render in progress stands in the way


class AlreadySubmitted(SubmissionError):
    pass


def base_external_id(order):
    return f"{order.store.slug}-{order.woo_id}"


def _external_id(order, used):
    """The external id of an order's next submission to a provider that already has `used` of them."""
    return base_external_id(order) if used == 0 else f"{base_external_id(order)}-{used + 1}"


def _next_external_id(order, provider):
    return _external_id(order, Submission.objects.filter(order=order, provider=provider).count())


def _providers(store):
    return list(Provider.objects.filter(store=store, active=True).order_by("priority", "pk"))


def _submissions_of(order_ids):
    """{order id: its submissions, newest first} in one query."""
    found = {}
    for submission in Submission.objects.filter(order_id__in=order_ids).select_related("provider"):
        found.setdefault(submission.order_id, []).append(submission)
    return found


@dataclass
class _SubmitPlan:
    """What submitting one locked order does, provider by provider: send a failed submission again, or a new one."""

    order: Order
    live: list  # its live submissions (for the "already submitted" message)
    actions: list  # ("requeue", failed submission) or ("new", unsaved Submission), in the production plan's order


def _submit_plan(order, providers, submissions, *, user, reason):
    """Decide, from the order's lines and its submissions (newest first), what submitting it means; nothing written."""
    plan = production_plan(order, providers)
    if plan.problems:
        raise NotEligible("; ".join(plan.problems), waiting=plan.waiting and len(plan.problems) == 1)
    if not plan.lines_by_provider:
        raise NotEligible(_("no provider is configured for this store"))
    live = {s.provider_id: s for s in submissions if s.state in LIVE_STATES}
    actions = []
    for provider in plan.lines_by_provider:
        if provider.pk in live:
            continue
        mine = [s for s in submissions if s.provider_id == provider.pk]
        failed = max((s for s in mine if s.state == SubmissionState.FAILED), key=lambda s: s.pk, default=None)
        if failed is not None:
            # A failed submission is retried as itself: same external id, so the provider can tell.
            actions.append(("requeue", failed))
        else:
            actions.append(("new", Submission(order=order, provider=provider, requested_by=user, reason=reason,
                                              external_id=_external_id(order, len(mine)))))
    return _SubmitPlan(order=order, live=list(live.values()), actions=actions)


def _carry_out(plan, *, user, source):
    """Write a submit plan now, action by action; returns the submissions queued."""
    created = []
    for action, submission in plan.actions:
        if action == "requeue":
            created.append(_requeue(submission, user=user))
            continue
        try:
            with transaction.atomic():
                submission.save(force_insert=True)
        except IntegrityError:
            continue  # another worker queued it a moment ago: the constraint did its job
        events.submission_event(submission, user=user, source=source).save()
        enqueue("fulfillment.tasks.execute_submission", submission.pk)
        created.append(submission)
    return created


def _finish(plan, created):
    """Nothing queued: say why; something queued: the order's countdown has done its job."""
    if not created:
        raise AlreadySubmitted(", ".join(
            _("%(provider)s: %(state)s %(when)s") % {
                "provider": s.provider.name, "state": s.get_state_display().lower(),
                "when": timezone.localtime(s.submitted_at or s.created_at).strftime("%Y-%m-%d %H:%M")}
            for s in plan.live
        ) or _("already submitted"))
    order = plan.order
    if order.countdown_due_at or order.countdown_paused_seconds is not None:
        order.countdown_due_at, order.countdown_paused_seconds = None, None
        order.save(update_fields=["countdown_due_at", "countdown_paused_seconds"])


def order_submit(*, order, user=None, source=EventSource.STAFF, reason=""):
    """Queue an order for production at every provider that makes its lines; returns the new submissions."""
    with transaction.atomic():
        # The order's row only: FOR UPDATE on the join would also lock the store's row, and every submit and every
        # worker's claim in that store would wait for one another.
        order = Order.objects.select_for_update(of=("self",)).select_related("store").get(pk=order.pk)
        plan = _submit_plan(order, _providers(order.store), _submissions_of([order.pk]).get(order.pk, []),
                            user=user, reason=reason)
        created = _carry_out(plan, user=user, source=source)
        _finish(plan, created)
    return created


def order_lock(order_id):
    """Lock an order's row before any row of its submissions: the house's lock order (docs/architecture.md,
    "Transactions and locks"). A transaction that takes a submission's row first and its order's second (a provider's
    webhook) deadlocks on PostgreSQL against one that goes order first (a reprint)."""
    list(Order.objects.select_for_update().filter(pk=order_id).values_list("pk", flat=True))


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


BULK_CHUNK = 100
# A bulk submit queues one task per this many submissions (fulfillment.tasks.execute_submissions): django-q2's own cost
# per task (pickling, the result's row, the monitor) and a session per submission were a third of a worker's CPU per
# order (bench/README.md, bench_submit).
EXECUTE_BATCH = 20


def orders_bulk_submit(*, orders, user):
    """Submit a selection: each order as order_submit does (one task per submission), with a summary.

    The orders go a hundred at a time: their rows locked in one statement, their lines and submissions read in two,
    their new submissions and events written in one each, one commit; rather than a dozen round trips per order.
    """
    result = BulkResult()
    chunk, seen = [], set()
    for order in orders:
        if len(chunk) == BULK_CHUNK or order.pk in seen:  # an order selected twice is submitted, then "already"
            _bulk_submit_chunk(chunk, user, result)
            chunk, seen = [], set()
        chunk.append(order)
        seen.add(order.pk)
    if chunk:
        _bulk_submit_chunk(chunk, user, result)
    return result


def _bulk_submit_chunk(orders, user, result):
    source = EventSource.STAFF
    with transaction.atomic():
        # In the orders' id order, as every transaction that locks several orders must, so two never deadlock.
        locked = {o.pk: o for o in Order.objects.select_for_update(of=("self",)).select_related("store")
                  .filter(pk__in=[o.pk for o in orders]).order_by("pk")}
        prefetch_related_objects(list(locked.values()), "lines")
        submissions = _submissions_of(list(locked))
        providers, outcomes, new = {}, [], []  # outcomes: (order as given, plan or None, created or None, why)
        for given in orders:
            order = locked.get(given.pk)
            if order is None:
                raise Order.DoesNotExist(f"order {given.pk} does not exist")
            if order.store_id not in providers:
                providers[order.store_id] = _providers(order.store)
            try:
                plan = _submit_plan(order, providers[order.store_id], submissions.get(order.pk, []), user=user,
                                    reason="")
            except NotEligible as exc:
                outcomes.append((given, None, None, str(exc)))
                continue
            if all(action == "new" for action, _submission in plan.actions):
                new.extend(submission for _action, submission in plan.actions)  # written below, all at once
                outcomes.append((given, plan, None, ""))
            else:  # a failed submission to send again: exactly as order_submit does it
                outcomes.append((given, plan, _carry_out(plan, user=user, source=source), ""))
        inserted = _insert_submissions(new)
        OrderEvent.objects.bulk_create([events.submission_event(s, user=user, source=source) for s in inserted])
        for batch in batches([s.pk for s in inserted]):
            enqueue("fulfillment.tasks.execute_submissions", batch)
        inserted_ids = {s.pk for s in inserted}
        for given, plan, created, why in outcomes:
            if plan is None:
                result.not_eligible.append((given.number, why))
                continue
            if created is None:
                created = [s for _action, s in plan.actions if s.pk in inserted_ids]
            try:
                _finish(plan, created)
            except AlreadySubmitted as exc:
                result.already.append((given.number, str(exc)))
            else:
                result.queued.append(given.number)


def batches(submission_ids, size=None):
    """The ids in lists of EXECUTE_BATCH, one execute_submissions task each."""
    size = size or EXECUTE_BATCH
    return [submission_ids[start:start + size] for start in range(0, len(submission_ids), size)]


def _insert_submissions(submissions):
    """Insert new submissions in one statement; if the one-live rule refuses one, one by one as order_submit does."""
    if not submissions:
        return []
    try:
        with transaction.atomic():
            return Submission.objects.bulk_create(submissions)
    except IntegrityError:
        pass
    inserted = []
    for submission in submissions:
        submission.pk = None
        try:
            with transaction.atomic():
                submission.save(force_insert=True)
        except IntegrityError:
            continue  # another worker queued it a moment ago: the constraint did its job
        inserted.append(submission)
    return inserted


def submission_retry(*, submission, user):
    """Staff send a failed submission again."""
    with transaction.atomic():
        submission = Submission.objects.select_for_update().get(pk=submission.pk)
        if submission.state != SubmissionState.FAILED:
            raise SubmissionError(_("Only a failed submission can be retried; this one is %(state)s.") % {
                "state": submission.get_state_display().lower()})
        return _requeue(submission, user=user)


# -- executing: the only place that calls a provider to create an order -----------------------------------

class _Batch:
    """What the submissions of one task share: one adapter (one HTTP session, kept alive) per provider and each
    store's providers, read once."""

    def __init__(self):
        self.adapters, self.providers = {}, {}

    def adapter(self, provider):
        if provider.pk not in self.adapters:
            self.adapters[provider.pk] = adapter_for(provider)
        return self.adapters[provider.pk]

    def store_providers(self, store):
        if store.pk not in self.providers:
            self.providers[store.pk] = _providers(store)
        return self.providers[store.pk]

    def close(self):
        for adapter in self.adapters.values():
            adapter.close()


def submissions_execute(*, submission_ids, budget_seconds=None, now=None):
    """Send a batch of queued submissions, one after the other, each exactly as submission_execute sends one: claimed
    and recorded in its own transactions under its own row lock, so one that fails, or a worker killed in the middle,
    leaves every other in a state submission_execute and the production tick's sweep (submissions_due) take up.

    Past `budget_seconds` (a provider answering slowly) the rest go to a task of their own, so that the batch ends
    well within the task timeout (the first always runs: each task makes progress). Returns the submissions run; an
    unexpected error of one is raised after the others ran (the task is recorded as failed, the submission left
    claimed for the sweep). `now`: the clock (tests); by default each submission reads its own.
    """
    batch, done, error = _Batch(), [], None
    started = time.monotonic()
    try:
        for index, submission_id in enumerate(submission_ids):
            if index and budget_seconds is not None and time.monotonic() - started > budget_seconds:
                rest = list(submission_ids[index:])
                logger.warning("submission batch over %.0f s: %s submissions queued in a task of their own",
                               budget_seconds, len(rest))
                enqueue("fulfillment.tasks.execute_submissions", rest)
                break
            try:
                done.append(submission_execute(submission_id=submission_id, batch=batch, now=now))
            except Submission.DoesNotExist:
                logger.warning("submission %s no longer exists", submission_id)
            except Exception as exc:  # noqa: BLE001 - one submission's bug must not stop the others
                logger.exception("submission %s failed to run", submission_id)
                error = error or exc
    finally:
        batch.close()
    if error is not None:
        raise error
    return done


def submission_execute(*, submission_id, adapter=None, now=None, batch=None):
    """Send one queued submission to its provider; safe to run twice or from several workers at once.

    `batch` (submissions_execute): the adapters and providers the submissions of one task share."""
    now = now or timezone.now()
    with transaction.atomic():
        # The submission's row only: FOR UPDATE on the join would also lock its order, store and provider rows, and
        # every worker and every submit in that store would wait for one another.
        submission = (Submission.objects.select_for_update(of=("self",)).select_related("order__store", "provider")
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
        submission.requeues, submission.requeue_after = 0, None
        submission.save(update_fields=["state", "claimed_at", "attempts", "outcome_unknown", "requeues",
                                       "requeue_after"])

    if adapter is None:
        adapter = batch.adapter(submission.provider) if batch else adapter_for(submission.provider)
    try:
        remote = adapter.lookup(submission.external_id) if submission.outcome_unknown else None
        if remote is None:
            store = submission.order.store
            plan = production_plan(submission.order, batch.store_providers(store) if batch else _providers(store))
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
        order_lock(submission.order_id)
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
        order_lock(submission.order_id)
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
    """Ids of submissions a worker should run now: a retry whose time has come, a new one whose task was lost, or
    one claimed by a worker that died."""
    now = now or timezone.now()
    not_just_queued = Q(requeue_after__isnull=True) | Q(requeue_after__lte=now)
    queued = Submission.objects.filter(state=SubmissionState.QUEUED).filter(
        Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True, created_at__lt=now - LOST_TASK_AFTER))
    stale = Submission.objects.filter(state=SubmissionState.SUBMITTING, claimed_at__lt=now - CLAIM_TIMEOUT)
    return (list(queued.filter(not_just_queued).values_list("pk", flat=True))
            + list(stale.filter(not_just_queued).values_list("pk", flat=True)))


def submissions_requeued(*, submission_ids, now=None):
    """Note that the tick queued these again: the next copy waits LOST_TASK_AFTER, then twice as long each time.

    A submission may be due and still have its task waiting behind a backlog (a bulk submit of thousands, workers
    that were down); queued again every minute, a backlog of N added N tasks a minute and drained slower still
    (bench/faults/workers_die.py). The count starts again when a worker takes the submission.
    """
    now = now or timezone.now()
    rows = Submission.objects.filter(pk__in=submission_ids).values_list("pk", "requeues")
    by_requeues = {}
    for pk, requeues in rows:
        by_requeues.setdefault(requeues, []).append(pk)
    for requeues, pks in by_requeues.items():
        wait = min(LOST_TASK_AFTER * 2 ** requeues, timedelta(days=1))
        Submission.objects.filter(pk__in=pks).update(requeues=requeues + 1, requeue_after=now + wait)


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
        order_lock(submission.order_id)
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
        # The order's row only (a FOR UPDATE on the join would lock the store's row too), then its submissions'.
        order = Order.objects.select_for_update(of=("self",)).select_related("store").get(pk=order.pk)
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
