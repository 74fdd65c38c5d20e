"""backoffice.middleware.WebhookMiddleware: webhooks skip the staff pages' middleware, and answer as before."""

import json

import pytest
from django.test import Client

from fulfillment.models import WebhookDelivery
from fulfillment.services.webhooks import signature_for
from tests.woo_payloads import order_payload

pytestmark = pytest.mark.django_db

SHORTCUT = "backoffice.middleware.WebhookMiddleware"


def delivery_headers(store, body, *, signature=None):
    return {
        "X-WC-Webhook-Topic": "order.updated",
        "X-WC-Webhook-Resource": "order",
        "X-WC-Webhook-Event": "updated",
        "X-WC-Webhook-ID": "2",
        "X-WC-Webhook-Delivery-ID": "d-1",
        "X-WC-Webhook-Signature": signature_for(body, store.webhook_secret) if signature is None else signature,
    }


def post(client, store, body, *, slug=None, **kwargs):
    return client.post(f"/webhooks/woocommerce/{slug or store.slug}/", data=body, content_type="application/json",
                       headers=delivery_headers(store, body, **kwargs))


def answers(client, store):
    """Status and body of each kind of answer a WooCommerce webhook gives, in one order."""
    body = json.dumps(order_payload(woo_id=501)).encode()
    cases = [
        post(client, store, body),                                    # stored
        post(client, store, body),                                    # the same again: a repeat
        post(client, store, body, signature="bm90IGl0"),              # a wrong signature
        post(client, store, body, signature=""),                      # no signature
        post(client, store, body, slug="no-such-shop"),               # an unknown store
        client.get(f"/webhooks/woocommerce/{store.slug}/"),           # not a POST
        client.post(f"/webhooks/woocommerce/{store.slug}/", data=b"webhook_id=9",
                    content_type="application/x-www-form-urlencoded"),  # WooCommerce's ping
    ]
    return [(r.status_code, r.content) for r in cases]


def test_a_delivery_through_the_shortcut_is_verified_stored_once_and_queued_once(
        client, store, django_capture_on_commit_callbacks):
    body = json.dumps(order_payload(woo_id=500)).encode()
    with django_capture_on_commit_callbacks() as queued:
        first = post(client, store, body)
        repeat = post(client, store, body)
        forged = post(client, store, body.replace(b"500", b"599"),  # the first body's signature on another body
                      signature=signature_for(body, store.webhook_secret))

    assert (first.status_code, first.content) == (200, b"stored")
    assert (repeat.status_code, repeat.content) == (200, b"duplicate")
    assert forged.status_code == 401 and forged.json() == {"error": "bad signature"}
    (stored,) = WebhookDelivery.objects.all()
    assert (stored.store_id, stored.topic, stored.webhook_id, stored.delivery_id, stored.repeats) == (
        store.pk, "order.updated", "2", "d-1", 1)
    assert stored.body == body.decode()
    assert len(queued) == 1  # one apply task, for the first copy only


def test_the_shortcut_answers_every_case_as_the_whole_chain_does(store, settings):
    shortcut = answers(Client(), store)
    WebhookDelivery.objects.all().delete()
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != SHORTCUT]
    whole_chain = answers(Client(), store)

    assert shortcut == whole_chain
    assert [status for status, _ in shortcut] == [200, 200, 401, 401, 404, 405, 200]


def test_a_webhook_skips_session_locale_csrf_and_frame_middleware_but_keeps_security_headers(client, store):
    response = post(client, store, json.dumps(order_payload(woo_id=502)).encode())

    assert response.status_code == 200
    assert response["Content-Length"] == "6"  # "stored", as CommonMiddleware would have said
    assert response["X-Content-Type-Options"] == "nosniff"  # SecurityMiddleware still runs
    assert response["Referrer-Policy"] == "same-origin"
    assert "Content-Language" not in response  # LocaleMiddleware did not
    assert "Vary" not in response  # nor the session (Vary: Cookie) or locale (Accept-Language) middleware
    assert "X-Frame-Options" not in response
    assert not response.cookies
    assert response.wsgi_request.resolver_match.view_name == "fulfillment:woocommerce-webhook"
    assert not hasattr(response.wsgi_request, "session") and not hasattr(response.wsgi_request, "user")


def test_a_staff_page_still_passes_through_the_whole_chain(client, store):
    response = client.get("/admin/login/")

    assert response.status_code == 200
    assert response["Content-Language"] == "en"
    assert "Accept-Language" in response["Vary"] and "Cookie" in response["Vary"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "csrftoken" in response.cookies
    assert hasattr(response.wsgi_request, "session") and hasattr(response.wsgi_request, "user")


def test_a_webhook_for_an_unknown_host_is_refused(client, store):
    body = json.dumps(order_payload(woo_id=503)).encode()
    response = client.post(f"/webhooks/woocommerce/{store.slug}/", data=body, content_type="application/json",
                           headers=delivery_headers(store, body), HTTP_HOST="evil.example.com")

    assert response.status_code == 400
    assert not WebhookDelivery.objects.exists()


def test_a_webhook_path_that_is_no_webhook_view_takes_the_whole_chain(client, store):
    # Without its slash the URL matches no view: CommonMiddleware redirects, as it did before the shortcut.
    response = client.get(f"/webhooks/woocommerce/{store.slug}")

    assert response.status_code == 301
    assert response["Location"] == f"/webhooks/woocommerce/{store.slug}/"
    assert response["Content-Language"] == "en"


def test_the_view_keeps_its_own_body_limit_behind_the_shortcut(client, store, settings):
    settings.WEBHOOK_MAX_BYTES = 100
    body = json.dumps(order_payload(woo_id=504)).encode()

    response = post(client, store, body)

    assert response.status_code == 413
    assert response.json() == {"error": f"Content-Length {len(body)} is over the limit of 100 bytes",
                               "limit": "WEBHOOK_MAX_BYTES"}
    assert not WebhookDelivery.objects.exists()


def test_a_provider_webhook_with_a_wrong_token_is_refused_behind_the_shortcut(client, store):
    response = client.post("/webhooks/providers/999/wrong/", data=b"{}", content_type="application/json")

    assert response.status_code == 404
    assert response.json() == {"error": "unknown provider or wrong token"}
    assert "Content-Language" not in response
