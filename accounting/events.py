"""The order timeline's entries about accounting exports: one small function per event type.

Each returns an unsaved fulfillment OrderEvent; the messages follow fulfillment/events.py (plain English, kept as
written, with the values in `data`).
"""

from fulfillment.choices import EventSource, EventType
from fulfillment.models import OrderEvent


def _source(user):
    return EventSource.STAFF if user else EventSource.SYSTEM


def exported_event(export, *, user=None):
    return OrderEvent(order_id=export.order_id, type=EventType.ACCOUNTING_EXPORTED, source=_source(user), user=user,
                      message=f"Exported to accounting as {export.reference} (attempt {export.attempts})",
                      data={"export_id": export.pk, "reference": export.reference, "attempts": export.attempts})


def export_failed_event(export, *, user=None):
    return OrderEvent(order_id=export.order_id, type=EventType.ACCOUNTING_EXPORT_FAILED, source=_source(user),
                      user=user, message=f"Export to accounting failed (attempt {export.attempts}): {export.error}",
                      data={"export_id": export.pk, "attempts": export.attempts})
