"""Shipments and tracking numbers: recorded here, told to the customer and to WooCommerce."""

import logging
from datetime import date

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop as N_

from fulfillment import events
from fulfillment.carriers import carrier_named, normalised_tracking_number, tracking_number_problem
from fulfillment.choices import EventSource, OrderStatus, PushKind
from fulfillment.errors import OrderActionError
from fulfillment.models import Order, Shipment
from fulfillment.selectors import left_to_ship
from fulfillment.services.orders import clean_form_token, order_change_status
from fulfillment.services.outbox import push_create
from fulfillment.texts import text

logger = logging.getLogger("fulfillment.tracking")

COMPLETABLE = (OrderStatus.PROCESSING, OrderStatus.ON_HOLD)


def shipment_may_complete(order):
    """Whether the parcel with everything left would complete this order (the store's setting, its status)."""
    return order.store.complete_when_shipped and order.status in COMPLETABLE


def completion_warning():
    """What staff read before they confirm a parcel of everything left."""
    return _("This ships everything left: the order will be completed, and with it exported to accounting and "
             "invoiced where the store's rules say so.")


def customer_tracking_note(shipment):
    """The note the customer gets, in the shop's language (not the language of whoever recorded the parcel)."""
    with translation.override(shipment.order.store.language):
        return _tracking_note(shipment)


def _tracking_note(shipment):
    note = _("Your order has shipped with %(carrier)s. Tracking number: %(number)s.") % {
        "carrier": shipment.carrier, "number": shipment.tracking_number}
    if shipment.tracking_link:
        note += " " + _("Follow it here: %(link)s") % {"link": shipment.tracking_link}
    return note


def shipment_add(*, order, carrier, tracking_number, tracking_link="", shipped_on=None, lines=None, user=None,
                 source=EventSource.STAFF, token="", confirm_complete=False):
    """Record a parcel (lines: {woo line id: quantity}; None = everything not shipped yet) and tell WooCommerce.

    The customer always gets a note with carrier, number and link; shops with the Shipment Tracking extension
    also get a tracking item; the order completes when everything has shipped or been refunded (store setting),
    which is refused unless `confirm_complete` (a completed order is exported and invoiced: staff say so on
    purpose; a provider's or supplier's last parcel is the confirmation). A number typed by staff must have its
    carrier's form; one a provider or supplier gave is kept, a warning logged if it does not look right.
    A known carrier's tracking page is the link when none is given.
    `token` is the shipment form's one-time token: the same form posted again is answered with its shipment.
    """
    token = clean_form_token(token)
    carrier, tracking_link = " ".join((carrier or "").split()), (tracking_link or "").strip()
    known = carrier_named(carrier)
    if known is not None:
        carrier = known.name
    if source == EventSource.STAFF:
        tracking_number = (tracking_number or "").strip()
    else:
        tracking_number = normalised_tracking_number(tracking_number)
    errors = {}
    if not carrier:
        errors["carrier"] = _("Name the carrier.")
    if not tracking_number:
        errors["tracking_number"] = _("Enter the tracking number.")
    elif problem := tracking_number_problem(carrier, tracking_number):
        if source == EventSource.STAFF:
            errors["tracking_number"] = problem
        else:
            # The parcel exists whatever its number looks like: refusing it would lose the shipment silently.
            logger.warning("order %s: %s tracking number %r from %s kept as given: %s", order.pk, carrier,
                           tracking_number, source, problem)
    if tracking_link:
        try:
            URLValidator(schemes=["http", "https"])(tracking_link)
        except ValidationError:
            errors["tracking_link"] = _("Enter a full http(s) link.")
    with transaction.atomic():
        order = Order.objects.select_for_update().select_related("store").get(pk=order.pk)
        # Under the order's lock, before any check: the first post of the same form has recorded the parcel, and
        # its tracking number would now be refused as a duplicate.
        already = order.shipments.filter(token=token).first() if token else None
        if already is not None:
            return already
        remaining = left_to_ship(order)
        wanted = {k: v for k, v in remaining.items() if v > 0} if lines is None else lines
        parts = []
        for line_id, quantity in wanted.items():
            try:
                quantity = int(quantity)
            except (TypeError, ValueError):
                errors[f"quantity_{line_id}"] = _("Enter a whole number.")
                continue
            if line_id not in remaining:
                errors[f"quantity_{line_id}"] = _("This line is not part of the order.")
            elif quantity < 0 or quantity > remaining[line_id]:
                errors[f"quantity_{line_id}"] = _("Between 0 and %(n)s.") % {"n": remaining[line_id]}
            elif quantity:
                parts.append({"line_id": line_id, "quantity": quantity})
        if not parts and not errors:
            errors["__all__"] = _("Choose what went in this parcel: nothing is left to ship.") if not any(
                v > 0 for v in remaining.values()) else _("Choose at least one line for this parcel.")
        if Shipment.objects.filter(order=order, carrier=carrier, tracking_number=tracking_number).exists():
            errors["tracking_number"] = _("This tracking number is already recorded for this order.")
        completes = shipment_may_complete(order) and all(
            remaining[line_id] <= sum(p["quantity"] for p in parts if p["line_id"] == line_id) for line_id in remaining)
        if completes and parts and not errors and not confirm_complete:
            errors["confirm_complete"] = completion_warning() + " " + _("Tick the box to confirm.")
        if errors:
            raise OrderActionError(_("The shipment was not recorded."), errors)
        if not tracking_link and known is not None:
            tracking_link = known.tracking_url(tracking_number, postcode=str(order.shipping.get("postcode") or ""),
                                               country=str(order.shipping.get("country") or ""))[:500]

        try:
            with transaction.atomic():
                shipment = Shipment.objects.create(order=order, carrier=carrier, tracking_number=tracking_number,
                                                   tracking_link=tracking_link, shipped_on=shipped_on or date.today(),
                                                   lines=parts, created_by=user, token=token)
        except IntegrityError:
            # The order's lock makes a second post wait for the first; the constraint is the last word all the same.
            already = order.shipments.filter(token=token).first() if token else None
            if already is None:
                raise
            return already
        events.shipment_event(shipment, user=user, source=source).save()
        if order.store.has_shipment_tracking:
            push_create(order=order, kind=PushKind.TRACKING, payload={"shipment_id": shipment.pk}, user=user)
        push_create(order=order, kind=PushKind.NOTE,
                    payload={"note": customer_tracking_note(shipment), "customer_note": True}, user=user)
        if completes:
            order_change_status(order=order, status=OrderStatus.COMPLETED, user=user,
                                note=text(N_("everything has shipped")), source=source)
    return shipment
