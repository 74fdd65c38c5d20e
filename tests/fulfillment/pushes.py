"""Helpers shared by the outbox tests: orders in the fake shop and the mirror, staff in their roles, refusals."""

from datetime import timedelta

from django.utils import timezone

from fulfillment.choices import EventSource
from fulfillment.models import Order
from fulfillment.services.mirror import orders_upsert
from tests.fulfillment.production import staff  # noqa: F401  (re-exported for the outbox tests)
from tests.woo_payloads import order_payload

AUTH_ERROR = ("HTTP 401 woocommerce_rest_authentication_error: "
              "Invalid signature - provided signature does not match.")
DOWN = "HTTP 503, the answer is not JSON (an error page?): " \
       "<html><head><title>503 Service Unavailable</title></head><body>Down</body></html>"
NEW_ADDRESS = {"first_name": "Anna", "last_name": "de Vries", "company": "", "address_1": "Prinsengracht 263",
               "address_2": "2e etage", "city": "Amsterdam", "state": "", "postcode": "1016 GV", "country": "nl",
               "phone": "+31 20 555 0101"}
INVALID_STATUS = {"code": "rest_invalid_param", "message": "Invalid parameter(s): status", "data": {"status": 400}}
INVALID_SHIPPING = {"code": "rest_invalid_param", "message": "Invalid parameter(s): shipping",
                    "data": {"status": 400}}


def mirrored(woo, store, woo_id, **kwargs):
    """An order that exists in the fake shop and, identical, in our mirror."""
    payload = order_payload(woo_id, **kwargs)
    woo.add_orders([payload])
    orders_upsert(store=store, payloads=[payload], source=EventSource.IMPORT)
    return Order.objects.get(store=store, woo_id=woo_id)


def sent_requests(woo):
    return [(method, path) for method, path, _ in woo.requests]


def later(minutes=60):
    return timezone.now() + timedelta(minutes=minutes)


def refuse_next(woo, body, count=1):
    """The shop refuses the next request(s) with a 400 in WooCommerce's shape."""
    woo.fail_next(count, status=400, body=body)
