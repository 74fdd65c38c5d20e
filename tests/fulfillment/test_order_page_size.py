"""The order page of a big order (50 lines, 200 timeline entries) costs the queries of a small one, and shows all."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from fulfillment.choices import EventSource, EventType, PushKind, PushState
from fulfillment.events import order_event, status_changed_event
from fulfillment.models import OrderEvent, StorePush
from fulfillment.texts import text
from tests.factories import OrderFactory, OrderLineFactory, StoreFactory
from tests.fulfillment.test_order_admin import staff


def order_of(store, woo_id, lines, events, user):
    order = OrderFactory(store=store, woo_id=woo_id, item_count=lines)
    for n in range(lines):
        OrderLineFactory(order=order, woo_line_id=woo_id * 100 + n, name=f"Photo book {n}", product_id=20 + n,
                         quantity=1 + n % 2, total=Decimal("34.90"))
    made = []
    for n in range(events):
        if n % 3 == 0:
            made.append(status_changed_event(order, before="processing", after="on-hold", source=EventSource.STAFF,
                                             user=user, note=f"call {n}"))
        elif n % 3 == 1:
            made.append(OrderEvent(order=order, type=EventType.NOTE_ADDED, source=EventSource.STAFF, user=user,
                                   message=f"Customer phoned <{n}>", data={"customer_note": n % 2 == 0}))
        else:
            made.append(order_event(text("Sent to WooCommerce: %(kind)s", kind="status"), order_id=order.pk,
                                    type=EventType.PUSH_SENT, source=EventSource.SYSTEM))
    OrderEvent.objects.bulk_create(made)
    StorePush.objects.create(store=store, order=order, kind=PushKind.NOTE, payload={"note": "hi", "customer_note": True},
                             state=PushState.FAILED, next_attempt_at=datetime(2030, 1, 1, tzinfo=UTC))
    return order


def page(client, order):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("admin:fulfillment_order_change", args=[order.pk]))
    assert response.status_code == 200
    return response.content.decode(), len(queries)


@pytest.mark.parametrize("role", ["operations", "superuser"])
def test_a_big_order_page_costs_the_queries_of_a_small_one(client, db, role, django_assert_max_num_queries):
    store = StoreFactory(slug="eu")
    user = staff(username="root", is_superuser=True) if role == "superuser" else staff(role)
    client.force_login(user)
    small = order_of(store, 1, lines=1, events=1, user=user)
    big = order_of(store, 2, lines=50, events=200, user=user)
    cache.clear()
    page(client, small)  # sessions, permissions and caches warmed

    html, small_queries = page(client, small)
    with django_assert_max_num_queries(small_queries):
        big_html, _ = page(client, big)

    # Every line and every timeline entry is on the page, in the staff's language, escaped
    assert big_html.count('<tr class="line"') == 50
    assert big_html.count('<li class="entry ') == 200 + 1  # and the push
    assert big_html.count("Status changed</strong>") == 67 and big_html.count("Note added</strong>") == 67
    assert "Customer phoned &lt;199&gt;" in big_html and "Customer phoned <199>" not in big_html
    assert "to the customer" in big_html and "private" in big_html


OLD_TEMPLATE = """{% load orderdesk %}{% for entry in timeline %}
        <li class="entry {{ entry.kind }} {{ entry.type }}">
          <time datetime="{{ entry.at|date:'c' }}">{{ entry.at|local_time:order.store.timezone }}</time>
          <strong>{{ entry.label }}</strong>{% if entry.audience %} <span class="audience">{{ entry.audience }}</span>{% endif %} <span class="source">{{ entry.source }}{% if entry.user %} · {{ entry.user }}{% endif %}</span>
          {% if entry.message %}<div class="message">{{ entry.message }}</div>{% endif %}
          {% if entry.can_retry %}<a href="{% url 'admin:fulfillment_storepush_changelist' %}?order={{ order.pk }}&amp;state__in=failed,retrying">{% translate "Retry in the outbox" %}</a>{% endif %}
        </li>{% endfor %}"""


def test_the_timeline_tag_draws_what_the_template_drew(db):
    # The entries as the order page gives them, with a user, notes to the customer and private, a push to retry
    from django.template import Context, Template

    from fulfillment.selectors import order_timeline
    from fulfillment.templatetags.orderdesk import timeline_entries

    store = StoreFactory(slug="eu", timezone="America/Sao_Paulo")
    user = staff("operations")
    order = order_of(store, 3, lines=1, events=9, user=user)
    OrderEvent.objects.filter(order=order, type=EventType.NOTE_ADDED).update(message='Said "<hi>" & left')
    entries = [{**e, "can_retry": "push" in e} for e in order_timeline(order)]
    old = Template("{% load i18n %}" + OLD_TEMPLATE).render(Context({"timeline": entries, "order": order}))
    ours = timeline_entries(entries, order)

    def squeezed(html):
        return " ".join(html.split())

    assert squeezed(ours) == squeezed(old)
    assert "Retry in the outbox" in ours and "&lt;hi&gt;" in ours and "UTC-03" in ours
