"""Sentences kept as data (fulfillment.texts): rendered in the reader's language, whoever wrote them."""

import pytest
from django.urls import reverse
from django.utils import translation

from fulfillment import events
from fulfillment.choices import EventSource
from fulfillment.models import OrderEvent
from fulfillment.texts import english, plural_text, push_kind, render, status, text
from tests.factories import OrderFactory, StoreFactory


def test_a_sentence_with_translated_values_is_rendered_in_the_active_language():
    spec = text("%(before)s → %(after)s", before=status("on-hold"), after=status("completed"))

    with translation.override("fr"):
        assert render(spec) == "En attente → Terminée"
    assert english(spec) == "On hold → Completed"


def test_nested_sentences_push_kinds_and_custom_statuses():
    spec = text("%(change)s: %(note)s", change=text("%(before)s → %(after)s", before=status("awaiting-artwork"),
                                                           after=status("processing")), note="sent by courier")
    assert english(spec) == "Awaiting artwork → Processing: sent by courier"
    assert english(push_kind("status")) == "Status"
    assert english(push_kind("no-such-kind")) == "no-such-kind"


def test_an_unknown_msgid_or_missing_values_never_fail_the_page():
    assert render(text("Not in any catalogue: %(n)s", n=3)) == "Not in any catalogue: 3"
    # values the sentence needs are missing (an event written by an older version): the sentence as it is
    with translation.override("fr"):
        assert render(text("%(missing)s and %(kept)s", kept="x")) == "%(missing)s and %(kept)s"
    assert render({"msgid": 12}) == ""
    assert render(None) == "" and render("typed by staff") == "typed by staff"


@pytest.mark.parametrize("count, expected", [(1, "Version 2 rendered (1 page)"), (24, "Version 2 rendered (24 pages)")])
def test_plural_sentences(count, expected):
    spec = plural_text("Version %(version)s rendered (%(count)s page)", "Version %(version)s rendered (%(count)s pages)",
                       count, version=2)
    assert english(spec) == expected


def test_an_event_keeps_the_english_message_and_its_sentence_as_data(db):
    order = OrderFactory(status="processing")
    event = events.status_changed_event(order, before="processing", after="completed", source=EventSource.WEBHOOK)
    assert event.message == "Processing → Completed"
    assert event.text == {"msgid": "%(before)s → %(after)s",
                          "params": {"before": {"status": "processing"}, "after": {"status": "completed"}}}


def test_the_timeline_shows_a_worker_written_event_in_the_staff_language(admin_client, db):
    # given an event written by a worker (in English), and an older one stored as plain text only
    order = OrderFactory(store=StoreFactory(), status="completed")
    events.status_changed_event(order, before="on-hold", after="completed", source=EventSource.WEBHOOK).save()
    OrderEvent.objects.create(order=order, type="status_changed", message="Old sentence kept as written")

    # when a French-speaking staff member opens the order
    response = admin_client.get(reverse("admin:fulfillment_order_change", args=[order.pk]), HTTP_ACCEPT_LANGUAGE="fr")

    # then the event reads in French, and the old one as it was written
    html = response.content.decode()
    assert "En attente → Terminée" in html
    assert "On hold → Completed" not in html
    assert "Old sentence kept as written" in html
