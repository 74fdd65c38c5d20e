"""Shipments and outcomes reported by providers (their webhook, or a poll) become shipments here."""

import hmac
import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from fulfillment import events
from fulfillment.carriers import normalised_tracking_number
from fulfillment.choices import EventSource, SubmissionState
from fulfillment.models import Shipment, Submission
from fulfillment.providers.base import ProviderError
from fulfillment.providers.printful import parse_shipment
from fulfillment.providers.registry import adapter_for
from fulfillment.services.orders import OrderActionError
from fulfillment.services.submissions import order_lock, order_refresh_submit_status
from fulfillment.services.tracking import shipment_add

logger = logging.getLogger("fulfillment.provider_tracking")

POLL_WINDOW = timedelta(days=60)


def provider_shipment_record(*, submission, shipment):
    """Record a provider's shipment as a tracking entry made by hand would be; a repeat changes nothing."""
    order = submission.order
    if Shipment.objects.filter(order=order, tracking_number__in={
            shipment.tracking_number, normalised_tracking_number(shipment.tracking_number)}).exists():
        return None
    try:
        return shipment_add(order=order, carrier=shipment.carrier, tracking_number=shipment.tracking_number,
                            tracking_link=shipment.tracking_url, shipped_on=shipment.shipped_on,
                            lines=shipment.lines or None, user=None, source=EventSource.PROVIDER,
                            confirm_complete=True)
    except OrderActionError as exc:
        logger.warning("shipment %s of order %s not recorded: %s %s", shipment.tracking_number, order.pk, exc,
                       exc.errors)
        return None


def provider_webhook_authenticated(provider, token):
    return bool(provider.webhook_token) and hmac.compare_digest(provider.webhook_token.encode(), token.encode())


def provider_webhook_apply(*, provider, payload):
    """A Printful-style webhook: package_shipped, order_failed, order_canceled. Returns what was done."""
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
        return "ignored: not a provider event"
    kind, data = payload.get("type"), payload["data"]
    remote_order = data.get("order") if isinstance(data.get("order"), dict) else {}
    external_id = str(remote_order.get("external_id") or "")
    submission = (Submission.objects.select_related("order__store", "provider")
                  .filter(provider=provider, external_id=external_id).first())
    if submission is None:
        logger.warning("provider %s: event %s for unknown order %r", provider.pk, kind, external_id)
        return f"ignored: no submission {external_id or '(no external id)'}"
    if kind == "package_shipped" and isinstance(data.get("shipment"), dict):
        shipment = parse_shipment(data["shipment"], remote_order.get("items") or [])
        recorded = provider_shipment_record(submission=submission, shipment=shipment)
        return "shipment recorded" if recorded else "shipment already known"
    if kind in ("order_failed", "order_canceled"):
        state = SubmissionState.FAILED if kind == "order_failed" else SubmissionState.CANCELLED
        # The provider's name is added where the reason is shown (the list, the event), not stored in it.
        reason = str(data.get("reason") or kind.replace("_", " "))[:2000]
        with transaction.atomic():
            # The order's row before the submission's, as a reprint of the order takes them: the other way round
            # the two deadlock on PostgreSQL.
            order_lock(submission.order_id)
            updated = Submission.objects.filter(pk=submission.pk).exclude(state=state).update(
                state=state, failure_reason=reason)
            if updated:
                submission.state, submission.failure_reason = state, reason
                event = (events.submission_failed_event(submission) if state == SubmissionState.FAILED
                         else events.submission_cancelled_event(submission, user=None))
                event.save()
                order_refresh_submit_status(submission.order_id)
        return f"submission {state}"
    return f"ignored: event {kind}"


def shipments_poll(*, now=None):
    """Ask providers without a webhook for the shipments of recently submitted orders."""
    now = now or timezone.now()
    recorded = 0
    submissions = (Submission.objects.filter(state=SubmissionState.SUBMITTED, submitted_at__gte=now - POLL_WINDOW,
                                             provider__webhook_token="", provider__active=True)
                   .select_related("order__store", "provider").order_by("provider_id", "pk"))
    adapters = {}
    for submission in submissions:
        if submission.order.status in ("completed", "cancelled", "refunded"):
            continue
        provider = submission.provider
        adapter = adapters.get(provider.pk) or adapters.setdefault(provider.pk, adapter_for(provider))
        try:
            shipments = adapter.shipments(submission.external_id)
        except ProviderError as exc:
            logger.warning("provider %s: shipments of %s not fetched: %s", provider.pk, submission.external_id, exc)
            continue
        for shipment in shipments:
            if provider_shipment_record(submission=submission, shipment=shipment):
                recorded += 1
    return recorded


