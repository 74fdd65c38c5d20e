"""choice_label: what get_FOO_display() shows, from a table per choices class and language."""

import pytest
from django.utils import translation

from accounting.choices import DocumentKind, ExportState
from accounting.models import Invoice
from fulfillment.choices import EventSource, EventType, OrderType, PushKind, PushState, ReservationSync, choice_label
from fulfillment.models import Order, OrderEvent, Reservation, StorePush

CASES = [(OrderEvent, "type", EventType), (OrderEvent, "source", EventSource), (Order, "order_type", OrderType),
         (StorePush, "kind", PushKind), (StorePush, "state", PushState), (Reservation, "sync", ReservationSync),
         (Invoice, "kind", DocumentKind), (Invoice, "export_state", ExportState)]


@pytest.mark.parametrize("language", ["en", "nl", "fr", "es", "it"])
@pytest.mark.parametrize(("model", "field", "choices"), CASES)
def test_every_label_is_what_djangos_display_shows_in_each_language(language, model, field, choices):
    with translation.override(language):
        for value in [*choices.values, "no-such-value"]:
            instance = model(**{field: value})
            assert choice_label(choices, value) == getattr(instance, f"get_{field}_display")()


def test_a_label_follows_the_language_it_is_asked_in():
    with translation.override("nl"):
        dutch = choice_label(EventType, EventType.CREATED)
    with translation.override("en"):
        english = choice_label(EventType, EventType.CREATED)
    assert english == "Order received" and dutch != english
    assert choice_label(EventType, "a-type-from-elsewhere") == "a-type-from-elsewhere"
