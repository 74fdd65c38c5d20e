"""The order timeline's entries about accounting exports: one small function per event type.

Each returns an unsaved fulfillment OrderEvent; the messages follow fulfillment/events.py (kept as data, rendered
in each reader's language; `message` is the English).
"""

from django.utils.translation import gettext_noop as N_

from fulfillment.choices import EventSource, EventType
from fulfillment.events import order_event
from fulfillment.texts import text


def _source(user):
    return EventSource.STAFF if user else EventSource.SYSTEM


def exported_event(export, *, user=None):
    return order_event(text(N_("Exported to accounting as %(reference)s (attempt %(attempt)s)"),
                       reference=export.reference, attempt=export.attempts),
                  order_id=export.order_id, type=EventType.ACCOUNTING_EXPORTED, source=_source(user), user=user,
                  data={"export_id": export.pk, "reference": export.reference, "attempts": export.attempts})


def export_failed_event(export, *, user=None):
    return order_event(text(N_("Export to accounting failed (attempt %(attempt)s): %(error)s"), attempt=export.attempts,
                       error=export.error),
                  order_id=export.order_id, type=EventType.ACCOUNTING_EXPORT_FAILED, source=_source(user), user=user,
                  data={"export_id": export.pk, "attempts": export.attempts})
