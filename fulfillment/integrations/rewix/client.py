"""HTTP adapter to a Rewix supplier platform (Brands Distribution / BDroppy, Griffati, …): one host per supplier.

The catalogue (JSON), the growing order and its reservations, dropshipping orders and their status (XML). Nothing
here knows our models: callers pass plain data (mapping.py) and get plain data or a typed error (errors.py) back.
Nothing is retried here: a reservation or an order sent twice is not harmless, so the caller decides, knowing from
`outcome_unknown` whether the supplier may already have acted on a request whose answer was lost.
"""

import json
import logging
import re
import xml.etree.ElementTree as ET
from decimal import Decimal
from urllib.parse import quote, urlsplit

import requests
from django.utils.translation import gettext as _

import fulfillment.integrations.rewix.dialect as dialect
from fulfillment.integrations.rewix.errors import (
    SupplierAuthError,
    SupplierDuplicateOrderError,
    SupplierError,
    SupplierNotSupportedError,
    SupplierRejectedError,
    SupplierRetryableError,
)
from fulfillment.integrations.rewix.mapping import (
    Catalogue,
    OperationsResult,
    check_operations,
    operations_xml,
    order_xml,
    parse_growing_order,
    parse_orders,
    parse_product,
)

logger = logging.getLogger("fulfillment.rewix")

TIMEOUT = (5, 30)  # connect, read: order calls answer in seconds; the full catalogue is one large JSON document
GROWING_ORDER_PATH = "/restful/ghost/orders/dropshipping/locked/"
SOLD_PATH = "/restful/ghost/orders/sold"
_TAGS = re.compile(r"<[^>]+>")


class RewixClient:
    def __init__(self, base_url, *, api_key, password="", auth="basic", timeout=TIMEOUT, session=None,
                 credentials_env=""):
        if auth not in dialect.AUTH_STYLES:
            raise ValueError(f"auth must be one of {dialect.AUTH_STYLES}, not {auth!r}")
        self.base_url = base_url.rstrip("/")
        self.host = urlsplit(self.base_url).netloc
        self.auth = auth
        self.timeout = timeout
        self.session = session or requests.Session()
        # Named in the message of a refused login, so staff know where the key and password come from.
        self.credentials_env = credentials_env
        self._authorization = dialect.authorization(auth, api_key, password)

    def __repr__(self):
        return f"<RewixClient {self.base_url} ({self.auth})>"

    # -- the catalogue --------------------------------------------------------------------------------------------

    def catalogue(self, since=None, locales=("en_US",)):
        """The supplier's products with their models (the changes only with `since`): a Catalogue (a list)."""
        params = {"v": dialect.CATALOGUE_VERSION, "acceptedlocales": ",".join(locales)}
        if since is not None:
            params["since"] = dialect.format_since(since)
        action = _("Reading the supplier's catalogue")
        try:
            page = self._json(dialect.CATALOGUE_PATH, params, action=action)
        except SupplierRejectedError as exc:
            if since is None or exc.status != dialect.SINCE_TOO_OLD_STATUS:
                raise
            logger.info("Rewix %s: changes since %s are no longer kept; reading the whole catalogue", self.host, since)
            return self.catalogue(None, locales)
        products = {}
        last_update = dialect.parse_datetime(_plain(page.get("lastUpdate")))
        number = 1
        while True:
            new = [parse_product(item) for item in page["pageItems"] if isinstance(item, dict)]
            new = [product for product in new if product.id not in products]
            products.update((product.id, product) for product in new)
            total = page.get("totalItems")
            if not isinstance(total, int) or len(products) >= total:
                return Catalogue(products.values(), last_update=last_update)
            if not new or number >= dialect.CATALOGUE_MAX_PAGES:
                break
            number += 1
            page = self._json(dialect.CATALOGUE_PATH, {**params, dialect.CATALOGUE_PAGE_PARAM: number}, action=action)
        raise SupplierError(_("%(action)s: the supplier announced %(total)s products but sent %(count)s; nothing was "
                              "changed on our side.") % {"action": action, "total": total, "count": len(products)})

    # -- the growing order ----------------------------------------------------------------------------------------

    def growing_order(self):
        """What is reserved for this shop at the supplier: GrowingOrder(order_id, {stock_id: (locked, available)})."""
        return parse_growing_order(self._xml("GET", GROWING_ORDER_PATH, action=_("Reading the growing order")))

    def apply_operations(self, operations, *, before=None):
        """Lock, unlock or set reservations; an OperationsResult with the growing order after and one outcome each.

        An outcome is checked against the locked quantities before the change: pass `before` (a GrowingOrder read
        earlier), else it is read first, unless every operation is a `set` (whose result does not depend on it).
        """
        operations = tuple(operations)
        if before is None and any(operation.type != "set" for operation in operations):
            before = self.growing_order()
        if not operations:
            return OperationsResult(before or self.growing_order(), ())
        locks_before = {stock_id: reserved.locked for stock_id, reserved in before.models.items()} if before else {}
        root = self._xml("POST", SOLD_PATH, data=operations_xml(operations), action=_("Changing the reservations"))
        after = parse_growing_order(root)
        return OperationsResult(after, check_operations(operations, locks_before, after))

    # -- dropshipping orders --------------------------------------------------------------------------------------

    def place_order(self, order):
        """Send one shop order (a DropshipOrder) as the supplier's dropshipping order; the supplier's order id."""
        action = _("Placing the order %(key)s") % {"key": order.key}
        root = self._xml("POST", dialect.PLACE_ORDER_PATH, data=order_xml(order), action=action)
        order_id = (root.get("order_id") or "").strip()
        if not order_id:
            raise SupplierError(_("%(action)s: the supplier's answer has no order id; look the order up by its key "
                                  "before sending it again.") % {"action": action}, outcome_unknown=True)
        return order_id

    def order_by_key(self, key):
        """The supplier's order for the shop's order number, or None when the platform has none."""
        return self._order(dialect.ORDER_BY_KEY_PATH.format(quote(str(key), safe="")), key=str(key),
                           action=_("Looking up the order %(key)s") % {"key": key})

    def order_by_id(self, order_id):
        """The supplier's order by its own id, or None when the platform has none."""
        return self._order(dialect.ORDER_BY_ID_PATH.format(quote(str(order_id), safe="")), order_id=str(order_id),
                           action=_("Looking up the supplier order %(id)s") % {"id": order_id})

    def orders_since(self, since, *, keys):
        """The orders among `keys` (shop order numbers) changed at `since` or later, or with no date to tell.

        The platform has no list call (dialect.py): one lookup per key; keys it does not know are left out.
        """
        orders = []
        for key in dict.fromkeys(str(key) for key in keys):
            order = self.order_by_key(key)
            if order is not None and (order.last_update is None or order.last_update >= since):
                orders.append(order)
        return orders

    def cancel_order(self, key=None, *, order_id=None):
        """Not offered by the platform: always SupplierNotSupportedError, so callers say so instead of trying."""
        raise SupplierNotSupportedError(
            _("The supplier's platform has no call to cancel an order: cancel order %(order)s in the supplier's "
              "back-office, then release its reservations here.") % {"order": key or order_id})

    def _order(self, path, *, action, key=None, order_id=None):
        root = self._xml("GET", path, action=action, missing_ok=True)
        if root is None:
            return None
        orders = parse_orders(root)
        for order in orders:
            if (key is not None and order.key == key) or (order_id is not None and order.order_id == order_id):
                return order
        return orders[0] if orders else None

    # -- HTTP -----------------------------------------------------------------------------------------------------

    def _json(self, path, params, *, action):
        response = self._send("GET", path, action=action, params=params, headers=dialect.JSON_HEADERS)
        self._refuse(response, "GET", action)
        if _is_html(response):
            raise self._html_error(response, "GET", action)
        try:
            body = json.loads(response.text, parse_float=Decimal)
        except ValueError:
            raise self._html_error(response, "GET", action) from None
        if not isinstance(body, dict) or not isinstance(body.get("pageItems"), list):
            raise SupplierError(_("%(action)s: the supplier's answer is not a catalogue.") % {"action": action},
                                status=response.status_code, body=response.text)
        return body

    def _xml(self, method, path, *, action, data=None, missing_ok=False):
        headers = dialect.XML_HEADERS if method == "POST" else {"Accept": dialect.XML_HEADERS["Accept"]}
        response = self._send(method, path, action=action, data=data, headers=headers)
        if missing_ok and response.status_code not in (401, 403) \
                and dialect.says_missing(response.status_code, response.text):
            return None
        self._refuse(response, method, action)
        if _is_html(response):
            raise self._html_error(response, method, action)
        try:
            return ET.fromstring(response.content)
        except ET.ParseError:
            raise self._html_error(response, method, action) from None

    def _send(self, method, path, *, action, params=None, data=None, headers=None):
        headers = {**(headers or {}), "Authorization": self._authorization}
        try:
            return self.session.request(method, f"{self.base_url}{path}", params=params, data=data, headers=headers,
                                        timeout=self.timeout)
        except requests.ConnectTimeout:
            raise SupplierRetryableError(_("%(action)s: the supplier (%(host)s) could not be reached.")
                                         % {"action": action, "host": self.host}) from None
        except requests.ConnectionError as exc:
            # Refused before anything was sent, or cut after the request went out: only the former is certain.
            sent = method == "POST" and "refused" not in str(exc).lower()
            raise SupplierRetryableError(self._unknown(action, sent) or _(
                "%(action)s: the connection to the supplier (%(host)s) failed.") % {"action": action, "host": self.host},
                outcome_unknown=sent) from None
        except requests.Timeout:
            sent = method == "POST"
            raise SupplierRetryableError(self._unknown(action, sent) or _(
                "%(action)s: the supplier did not answer in time.") % {"action": action}, outcome_unknown=sent) from None

    def _unknown(self, action, sent):
        if not sent:
            return ""
        return _("%(action)s: the supplier did not answer; it may have made the change. Look at the growing order "
                 "or the order before sending it again.") % {"action": action}

    def _refuse(self, response, method, action):
        """Raise the typed error of a non-2xx answer."""
        status = response.status_code
        if 200 <= status < 300:
            return
        reason = _reason(response)
        values = {"action": action, "status": status, "reason": reason}
        if status in (401, 403):
            where = self.credentials_env or _("the supplier's settings")
            message = (_("%(action)s: the supplier refused our token (HTTP %(status)s). Check the token in %(where)s.")
                       if self.auth == "bearer" else
                       _("%(action)s: the supplier refused our API key and password (HTTP %(status)s). Check the key "
                         "and the password in %(where)s."))
            raise SupplierAuthError(message % {**values, "where": where}, status=status, body=response.text)
        if status >= 500 and _is_html(response):
            raise self._html_error(response, method, action)
        if status >= 500 or status in dialect.NOT_APPLIED_STATUSES:
            unknown = method == "POST" and status not in dialect.NOT_APPLIED_STATUSES
            if status == 429:
                message = _("%(action)s: the supplier asks us to slow down (HTTP 429); it will be tried again later.")
            elif unknown:
                message = _("%(action)s: the supplier had a fault (HTTP %(status)s) and may have made the change: look "
                            "before sending it again. %(reason)s")
            else:
                message = _("%(action)s: the supplier had a fault (HTTP %(status)s); it will be tried again later. "
                            "%(reason)s")
            raise SupplierRetryableError((message % values).strip(), status=status, outcome_unknown=unknown,
                                         body=response.text)
        if method == "POST" and dialect.says_duplicate(response.text):
            raise SupplierDuplicateOrderError(_("%(action)s: the supplier already has an order with this key. "
                                                "%(reason)s") % values, status=status, body=response.text)
        if status == 406:
            message = _("%(action)s: the supplier does not offer this answer format (HTTP 406). %(reason)s")
        else:
            message = _("%(action)s: the supplier refused it (HTTP %(status)s): %(reason)s")
        raise SupplierRejectedError((message % values).strip(), status=status, body=response.text)

    def _html_error(self, response, method, action):
        """An answer that is not the platform's XML or JSON: a proxy's or maintenance page, worth trying again."""
        unknown = method == "POST" and response.status_code not in dialect.NOT_APPLIED_STATUSES
        message = _("%(action)s: the supplier answered with a web page instead of its data (HTTP %(status)s), often a "
                    "maintenance page; it will be tried again later.") % {"action": action,
                                                                         "status": response.status_code}
        if unknown:
            message = f"{message} {_('The change may have been made: look before sending it again.')}"
        return SupplierRetryableError(message, status=response.status_code, outcome_unknown=unknown,
                                      body=response.text)


def _is_html(response):
    start = response.text.lstrip()[:15].lower()
    return "html" in response.headers.get("Content-Type", "").lower() or start.startswith(("<!doctype html", "<html"))


def _reason(response):
    """The platform's words from an error body, without markup, short enough for a list column."""
    text = response.text
    title = re.search(r"<title>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    if title and _is_html(response):
        text = title.group(1)
    return " ".join(_TAGS.sub(" ", text).split())[:200]


def _plain(value):
    return "" if value is None else str(value)
