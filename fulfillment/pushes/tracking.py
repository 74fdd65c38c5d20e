"""The tracking push: a Shipment Tracking item (wc-shipment-tracking/v3) for a shipment recorded here.

Each item counts: after a lost answer the order's tracking items are read, and one with the shipment's number
that no other shipment of the order was given is taken for ours.
"""

from fulfillment.choices import PushKind
from fulfillment.models import Shipment
from fulfillment.pushes.base import PushHandler


def tracking_request_body(shipment):
    """POST wc-shipment-tracking/v3/orders/<id>/shipment-trackings body for a shipment."""
    body = {"tracking_number": shipment.tracking_number, "date_shipped": shipment.shipped_on.isoformat()}
    if shipment.tracking_link:
        body["custom_tracking_provider"] = shipment.carrier
        body["custom_tracking_link"] = shipment.tracking_link
    else:
        body["tracking_provider"] = shipment.carrier
    return body


def _same_tracking_number(ours, theirs):
    return " ".join(str(ours or "").split()).casefold() == " ".join(str(theirs or "").split()).casefold()


def find_pushed_tracking(trackings, shipment):
    """The tracking item WooCommerce already made for this shipment (an earlier attempt's answer was lost), or None.

    Same tracking number, and not an item another shipment of the order was given.
    """
    taken = set(Shipment.objects.filter(order_id=shipment.order_id).exclude(pk=shipment.pk)
                .exclude(woo_tracking_id="").values_list("woo_tracking_id", flat=True))
    for tracking in trackings:
        if (isinstance(tracking, dict) and str(tracking.get("tracking_id") or "") not in taken
                and _same_tracking_number(shipment.tracking_number, tracking.get("tracking_number"))):
            return tracking
    return None


class TrackingPush(PushHandler):
    kind = PushKind.TRACKING
    retry_permission = "fulfillment.add_tracking"
    looks_before_resending = True

    def _shipment(self, push):
        return Shipment.objects.get(pk=push.payload["shipment_id"])

    def request(self, client, push):
        return client.add_shipment_tracking(push.order.woo_id, tracking_request_body(self._shipment(push)), retries=0)

    def find_sent(self, client, push):
        return find_pushed_tracking(client.list_shipment_trackings(push.order.woo_id, retries=0),
                                    self._shipment(push))

    def on_sent(self, push, answer):
        if isinstance(answer, dict):
            Shipment.objects.filter(pk=push.payload["shipment_id"]).update(
                woo_tracking_id=str(answer.get("tracking_id") or "")[:64])
