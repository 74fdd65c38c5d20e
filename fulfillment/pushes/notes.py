"""Pushes that write to the customer or the order's notes: a note, and WooCommerce's "order details" mail.

Each one counts (staff may add the same note twice on purpose), so after any earlier attempt (a lost answer, and
a 503, which a caching proxy also answers when the shop ran past its timeout) the note is looked for in
WooCommerce's notes before it is sent again: a second customer note is a second email to the customer.
"""

import re
from datetime import timedelta

from django.utils.translation import gettext as _

from fulfillment.choices import PushKind, PushState
from fulfillment.integrations.woocommerce.client import WooError
from fulfillment.integrations.woocommerce.mapping import MappingError, parse_gmt
from fulfillment.models import StorePush
from fulfillment.pushes.base import PushHandler

# The shop's clock and ours differ a little: a note dated up to this much before its push was queued may be ours.
CLOCK_SKEW = timedelta(minutes=2)


def _same_note_text(ours, theirs):
    ours, theirs = " ".join(ours.split()), " ".join(str(theirs or "").split())
    # WordPress stores a comment through wp_unslash(), which drops backslashes (PHP stripslashes).
    return theirs in (ours, re.sub(r"\\(.?)", r"\1", ours))


def find_pushed_note(notes, push):
    """The note WooCommerce already made for this push (an earlier attempt's answer was lost), or None.

    Same text and customer flag, dated after the push was queued, and not the note another of the order's pushes
    made: staff may add the same note twice on purpose.
    """
    taken = {str(response.get("id")) for response in StorePush.objects.filter(
        order_id=push.order_id, kind=PushKind.NOTE, state=PushState.SENT).exclude(pk=push.pk)
        .values_list("response", flat=True) if isinstance(response, dict)}
    since = push.created_at.replace(microsecond=0) - CLOCK_SKEW
    customer = bool(push.payload.get("customer_note"))
    for note in sorted((n for n in notes if isinstance(n, dict)), key=lambda n: int(n.get("id") or 0)):
        try:
            created = parse_gmt(note.get("date_created_gmt"), "date_created_gmt")
        except MappingError:
            continue
        if (str(note.get("id")) not in taken and created is not None and created >= since
                and bool(note.get("customer_note")) == customer and _same_note_text(push.payload["note"],
                                                                                     note.get("note"))):
            return note
    return None


class NotePush(PushHandler):
    kind = PushKind.NOTE
    retry_permission = "fulfillment.add_order_note"
    looks_before_resending = True

    def request(self, client, push):
        return client.add_order_note(push.order.woo_id, note=push.payload["note"],
                                     customer_note=push.payload.get("customer_note", False), retries=0)

    def find_sent(self, client, push):
        return find_pushed_note(client.list_order_notes(push.order.woo_id, retries=0), push)


class OrderDetailsPush(PushHandler):
    kind = PushKind.ORDER_DETAILS
    retry_permission = "fulfillment.add_order_note"  # who writes to the customer
    retry_trusts_staff = True

    def request(self, client, push):
        if push.maybe_sent:
            # The mail may be out already, and nothing tells (WooCommerce's note about it is in the shop's
            # language): a person looks before the customer gets it twice. Staff's retry sends it.
            raise WooError(_("WooCommerce may have emailed the order details already (the answer to the earlier "
                             "attempt was lost): check the order's notes in WooCommerce, and retry this push if they "
                             "were not sent."), unsent=True)
        return client.send_order_details(push.order.woo_id, retries=0)
