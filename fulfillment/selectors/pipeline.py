"""The production pipeline: which stage an order is at between payment and parcel, for the dashboard and the list.

Four stages, from the order's own columns and its submissions and shipments (the list's filter and the dashboard's
counts use the same conditions, so a figure and the list it links to always agree):

- **waiting**: not handed to production yet — processing, in-app, no submit status, and no live submission (queued,
  submitting or submitted) at any provider: its countdown is running, or it waits for staff to submit it (a store
  without automatic submission). On hold is not waiting: the countdown is paused on purpose.
- **submitted**: handed to production, not yet accepted — no submit status, and a submission queued or being sent
  (retries after a timeout or a 5xx included). An order one of whose providers failed is under "failed
  submissions", not here.
- **in production**: every provider accepted it (the list's "Submitted"), no parcel recorded yet, and the order not
  completed, cancelled, refunded, failed or trashed.
- **shipped**: accepted, and a parcel of it shipped in the last SHIPPED_DAYS days (one parcel is enough: a partly
  shipped order is here, not in production).

Failed submissions stay the dashboard's own figure (submit status "failed"), as before.
"""

from datetime import timedelta

from django.db.models import CharField, Count, Exists, OuterRef, Value
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fulfillment.choices import SubmissionState, SubmitStatus
from fulfillment.models import Order, Shipment, Submission
from fulfillment.models.orders import ACCEPTED_NOT_ENDED, WAITING_FOR_SUBMISSION
from fulfillment.models.submissions import LIVE_STATES

SHIPPED_DAYS = 30
# Queued or being sent: the few submissions submission_due_idx (state, next_attempt_at) holds apart from the many
# submitted ones.
SENDING_STATES = (SubmissionState.QUEUED.value, SubmissionState.SUBMITTING.value)

STAGES = {
    "waiting": _("waiting for submission"),
    "submitted": _("submitted, not yet accepted"),
    "in_production": _("in production"),
    "shipped": _("shipped in the last 30 days"),
}


def shipped_since(today=None):
    """The first day of "shipped": SHIPPED_DAYS days up to today (UTC), as the dashboard's other figures."""
    today = today or timezone.now().date()
    return today - timedelta(days=SHIPPED_DAYS - 1)


def _live_submission():
    # state IN (the live states) as written in submission_one_live_per_order_provider's condition: that partial
    # index (order, provider) answers the NOT EXISTS for each waiting order.
    return Exists(Submission.objects.filter(order=OuterRef("pk"), state__in=LIVE_STATES))


def _any_shipment():
    return Exists(Shipment.objects.filter(order=OuterRef("pk")))


def stage_orders(stage, queryset=None, *, today=None):
    """The orders of `queryset` (all orders) at a stage of the pipeline; an unknown stage: ValueError."""
    queryset = Order.objects.all() if queryset is None else queryset
    if stage == "waiting":
        return queryset.filter(waiting_condition())
    if stage == "submitted":
        return queryset.filter(submit_status=SubmitStatus.NONE.value, pk__in=Submission.objects.filter(
            state__in=SENDING_STATES).values("order_id"))
    if stage == "in_production":
        return queryset.filter(ACCEPTED_NOT_ENDED).filter(~_any_shipment())
    if stage == "shipped":
        return queryset.filter(submit_status=SubmitStatus.SUBMITTED.value, pk__in=Shipment.objects.filter(
            shipped_on__gte=shipped_since(today)).values("order_id"))
    raise ValueError(f"no pipeline stage {stage!r}")


def waiting_condition():
    """The waiting orders as a condition (submission_flags counts them beside the failed ones in one query)."""
    return WAITING_FOR_SUBMISSION & ~_live_submission()


def pipeline_counts(stages=tuple(STAGES), *, today=None):
    """{store id: {stage: count}} of the stages asked for, in one query whatever the number of stores: a UNION ALL of
    one count per stage, each read from its own index (the waiting orders' partial index, the queued submissions,
    the in-production partial index, the recent parcels), so that no OR makes PostgreSQL read them all together. A
    store with no order at a stage has 0 there; one with none at any of them is missing."""
    parts = [stage_orders(stage, today=today).values_list("store_id").annotate(n=Count("id"))
             .annotate(stage=Value(stage, output_field=CharField())).values_list("store_id", "stage", "n").order_by()
             for stage in stages]
    if not parts:
        return {}
    counts = {}
    for store_id, stage, n in parts[0].union(*parts[1:], all=True).order_by():
        counts.setdefault(store_id, {})[stage] = n
    return {store_id: {stage: found.get(stage, 0) for stage in stages} for store_id, found in counts.items()}
