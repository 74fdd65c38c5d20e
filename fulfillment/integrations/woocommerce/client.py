"""HTTP adapter over the `woocommerce` package: timeouts, retries, paging and typed errors.

Nothing here knows about our models beyond reading a Store's URL and keys.

Retries: GET and PUT are retried on any retryable error (reading twice is harmless; a PUT sets the same fields to
the same values). A POST creates something (a note, a refund, a tracking item), so it is retried only when the shop
surely did not act on it: the connection was never made (refused, no DNS, connect timeout, TLS handshake), or the
shop turned it away before running it (408, 425, 429, 503: throttling, WordPress's maintenance mode). After a read
timeout, a dropped connection or a 500/502/504 the shop may have made the thing: the error goes to the caller, whose
`unsent` is False, and the caller must look before sending again (the outbox does).
"""

import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests
import urllib3
from django.conf import settings
from woocommerce import API

logger = logging.getLogger("fulfillment.woocommerce")

PER_PAGE = 100  # WooCommerce's maximum: more gives 400 rest_invalid_param
# What WordPress answers (400) for a page beyond the last one; other shops answer it with an empty list.
PAST_THE_LAST_PAGE = {"rest_post_invalid_page_number"}
RETRYABLE_STATUSES = {408, 425, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524}
# Statuses whose Retry-After we follow: throttling, and WordPress's maintenance mode during updates (503).
RETRY_AFTER_STATUSES = {429, 503}
# Statuses with which the server turns a request away before WordPress acts on it: a POST is safe to send again.
NOT_APPLIED_STATUSES = {408, 425, 429, 503}
IDEMPOTENT_METHODS = {"GET", "PUT", "DELETE"}


class WooError(Exception):
    """A call to WooCommerce failed. `retryable` tells a passing fault from one that needs a person."""

    retryable = False

    def __init__(self, message, *, status=None, code="", body="", unsent=None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.body = body[:2000] if isinstance(body, str) else body
        # True when the shop surely did not act on the request; False when it may have (a timeout after sending).
        # A refusal (4xx) means nothing was done.
        self.unsent = (not self.retryable or status in NOT_APPLIED_STATUSES) if unsent is None else unsent

    def __str__(self):
        return self.message


class WooRetryableError(WooError):
    """Timeout, connection error, 429, 5xx or a non-JSON answer (an HTML error page)."""

    retryable = True


class WooRequestError(WooError):
    """WooCommerce refused the request (4xx, or a refund error sent as 500): retrying will not help."""


class WooAuthError(WooRequestError):
    """The keys are wrong, revoked or lack the permission (401/403)."""


@dataclass
class Page:
    number: int
    total_pages: int
    total: int
    items: list
    # When it was asked for and answered, as ticks of one counter per listing (paging.OrderPages): which pages'
    # X-WP-Total were surely counted before which.
    asked: int = 0
    answered: int = 0


class WooClient:
    def __init__(self, *, base_url, consumer_key, consumer_secret, timeout=None, max_retries=None,
                 retry_base=None, sleep=time.sleep, query_string_auth=False):
        self.base_url = base_url.rstrip("/")
        self.host = urlsplit(self.base_url).netloc
        options = {
            "url": self.base_url, "consumer_key": consumer_key, "consumer_secret": consumer_secret,
            "timeout": timeout if timeout is not None else settings.WOO_TIMEOUT_SECONDS,
            "user_agent": "woo-backoffice/1.0",
            # https only (plain http always signs with OAuth1): the keys as consumer_key/consumer_secret query
            # parameters instead of Basic auth, for hosts that strip the Authorization header.
            "query_string_auth": bool(query_string_auth),
        }
        self.api = API(version="wc/v3", **options)
        # The Shipment Tracking extension has its own namespace; the same keys work there.
        self.tracking_api = API(version="wc-shipment-tracking/v3", **options)
        self.max_retries = settings.WOO_MAX_RETRIES if max_retries is None else max_retries
        self.retry_base = settings.WOO_RETRY_BASE_SECONDS if retry_base is None else retry_base
        self.sleep = sleep

    @classmethod
    def for_store(cls, store, **kwargs):
        return cls(base_url=store.base_url, consumer_key=store.consumer_key,
                   consumer_secret=store.consumer_secret, query_string_auth=store.query_string_auth, **kwargs)

    def __repr__(self):
        return f"<WooClient {self.base_url}>"

    # -- low level -------------------------------------------------------------------------

    def request(self, method, endpoint, *, params=None, data=None, retries=None, api=None):
        """One call with retries on retryable errors; returns (json, headers) or raises a WooError."""
        retries = self.max_retries if retries is None else retries
        attempt = 0
        while True:
            try:
                return self._once(method, endpoint, params=params, data=data, api=api or self.api)
            except WooRetryableError as exc:
                if attempt >= retries or (method not in IDEMPOTENT_METHODS and not exc.unsent):
                    # A POST the shop may have applied is not sent again blindly: the caller looks first.
                    raise
                delay = self._delay(attempt, exc)
                logger.warning("WooCommerce %s: %s; retry %d/%d in %.1fs", self.host, exc.message, attempt + 1,
                               retries, delay)
                self.sleep(delay)
                attempt += 1

    def _delay(self, attempt, exc):
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return min(retry_after, 60)
        return self.retry_base * (2 ** attempt) * (1 + random.random() / 4)

    def _once(self, method, endpoint, *, params=None, data=None, api):
        what = f"{method} {endpoint}"
        try:
            kwargs = {"params": dict(params or {})}
            if method == "GET":
                response = api.get(endpoint, **kwargs)
            elif method == "POST":
                response = api.post(endpoint, data, **kwargs)
            elif method == "PUT":
                response = api.put(endpoint, data, **kwargs)
            elif method == "DELETE":
                response = api.delete(endpoint, **kwargs)
            else:
                raise ValueError(method)
        # Messages are ours: requests' own repeat the URL, which carries the signed keys over http.
        except requests.ConnectTimeout:
            raise WooRetryableError(f"{what}: cannot connect to {self.host} within {self.api.timeout:g} s",
                                    unsent=True) from None
        except requests.Timeout:
            raise WooRetryableError(f"{what}: {self.host} did not answer within {self.api.timeout:g} s",
                                    unsent=False) from None
        except requests.ConnectionError as exc:
            if _never_connected(exc):
                raise WooRetryableError(f"{what}: cannot connect to {self.host}", unsent=True) from None
            # The connection broke after the request went out (reset, closed without an answer).
            raise WooRetryableError(f"{what}: the connection to {self.host} broke before an answer",
                                    unsent=False) from None
        except requests.RequestException as exc:
            raise WooRetryableError(f"{what}: {type(exc).__name__}", unsent=False) from None
        return self._parse(what, response)

    def _parse(self, what, response):
        status = response.status_code
        text = response.text
        try:
            body = response.json()
        except ValueError:
            body = None
        if body is None:
            error = WooRetryableError(
                f"{what}: HTTP {status}, the answer is not JSON (an error page?): {_snippet(text)}",
                status=status, body=text,
            )
            if status in RETRY_AFTER_STATUSES:
                error.retry_after = _retry_after(response)
            raise error
        if 200 <= status < 300:
            return body, response.headers
        code = body.get("code", "") if isinstance(body, dict) else ""
        message = body.get("message", "") if isinstance(body, dict) else ""
        detail = f"{what}: HTTP {status}" + (f" {code}: {message}" if code or message else "")
        inner = body.get("data") if isinstance(body, dict) else None
        inner_status = inner.get("status") if isinstance(inner, dict) else inner
        if status in (401, 403):
            raise WooAuthError(detail, status=status, code=code, body=text)
        # Refund errors arrive as HTTP 500 with "data": 400: the code, not the status, says what happened.
        if status >= 500 and code and isinstance(inner_status, int) and 400 <= inner_status < 500:
            raise WooRequestError(detail, status=status, code=code, body=text)
        if status in RETRYABLE_STATUSES or status >= 500:
            error = WooRetryableError(detail, status=status, code=code, body=text)
            if status in RETRY_AFTER_STATUSES:
                error.retry_after = _retry_after(response)
            raise error
        raise WooRequestError(detail, status=status, code=code, body=text)

    # -- orders ------------------------------------------------------------------------------

    def get_order(self, woo_id):
        body, _ = self.request("GET", f"orders/{int(woo_id)}")
        return body

    def order_page(self, params, number, *, retries=None):
        """Page `number` of the orders `params` select (100 a page); None when it lies past the last page.

        Some hosts and caches drop WooCommerce's X-WP-* headers: such a page has `total_pages` and `total` None.
        """
        try:
            body, headers = self.request("GET", "orders", params={**params, "per_page": PER_PAGE, "page": number},
                                         retries=retries)
        except WooRequestError as exc:
            # Without the header, the page after a last full one is past the end: WordPress answers 400.
            if number > 1 and exc.code in PAST_THE_LAST_PAGE:
                return None
            raise
        if not isinstance(body, list):
            raise WooRetryableError(f"GET orders page {number}: expected a list, got {type(body).__name__}")
        return Page(number=number, total_pages=_int_header(headers, "X-WP-TotalPages", default=None),
                    total=_int_header(headers, "X-WP-Total", None), items=body)

    def iter_order_pages(self, params, *, start=1):
        """Yield pages of orders one after the other, from page `start`, until X-WP-TotalPages is reached.

        Without X-WP-TotalPages, pages are asked for as long as they come full. Several at a time:
        `paging.fetch_order_pages`.
        """
        number = start
        while True:
            page = self.order_page(params, number)
            if page is None:
                return
            last = is_last_page(page)  # before the caller sees it: it may renumber the page
            yield page
            if last:
                return
            number += 1

    def retry_delay(self, attempt, exc):
        """Seconds to wait before attempt `attempt + 1` after `exc`: its Retry-After, else a growing backoff."""
        return self._delay(attempt, exc)

    def create_orders(self, payloads, **kwargs):
        """POST orders/batch {"create": [...]} (100 at most): the orders as the shop made them, or an item's error."""
        body, _ = self.request("POST", "orders/batch", data={"create": list(payloads)}, **kwargs)
        return (body.get("create") or []) if isinstance(body, dict) else []

    def list_webhooks(self, **kwargs):
        body, _ = self.request("GET", "webhooks", params={"per_page": PER_PAGE}, **kwargs)
        return body if isinstance(body, list) else []

    def create_webhook(self, *, topic, delivery_url, secret, name, **kwargs):
        """POST webhooks: the shop delivers `topic` to `delivery_url`, signed with `secret` (never read back)."""
        body, _ = self.request("POST", "webhooks", data={"name": name, "topic": topic, "delivery_url": delivery_url,
                                                         "secret": secret, "status": "active"}, **kwargs)
        return body

    def update_order(self, woo_id, data, **kwargs):
        body, _ = self.request("PUT", f"orders/{int(woo_id)}", data=data, **kwargs)
        return body

    def add_order_note(self, woo_id, *, note, customer_note, **kwargs):
        body, _ = self.request("POST", f"orders/{int(woo_id)}/notes",
                               data={"note": note, "customer_note": bool(customer_note)}, **kwargs)
        return body

    def send_order_details(self, woo_id, **kwargs):
        """WooCommerce (9.5+) emails the order's details to its billing address; returns {"message": ...}."""
        body, _ = self.request("POST", f"orders/{int(woo_id)}/actions/send_order_details", data={}, **kwargs)
        return body

    def list_order_notes(self, woo_id, **kwargs):
        """All notes of an order (WooCommerce does not page them), private and customer notes alike."""
        body, _ = self.request("GET", f"orders/{int(woo_id)}/notes", params={"type": "any"}, **kwargs)
        return body if isinstance(body, list) else []

    def create_refund(self, woo_id, data, **kwargs):
        body, _ = self.request("POST", f"orders/{int(woo_id)}/refunds", data=data, **kwargs)
        return body

    def list_refunds(self, woo_id, **kwargs):
        """Every refund of an order, newest first: WooCommerce pages them like any collection (100 at most a
        page), and a long-lived order of many lines refunded one by one has more. Pages are asked for until
        X-WP-TotalPages is reached, or, without that header, until a page comes short."""
        endpoint, refunds, number = f"orders/{int(woo_id)}/refunds", [], 1
        while True:
            try:
                body, headers = self.request("GET", endpoint, params={"per_page": PER_PAGE, "page": number}, **kwargs)
            except WooRequestError as exc:
                if number > 1 and exc.code in PAST_THE_LAST_PAGE:
                    return refunds
                raise
            page = body if isinstance(body, list) else []
            refunds.extend(page)
            total_pages = _int_header(headers, "X-WP-TotalPages", default=None)
            if not page or (number >= total_pages if total_pages is not None else len(page) < PER_PAGE):
                return refunds
            number += 1

    def add_shipment_tracking(self, woo_id, data, **kwargs):
        body, _ = self.request("POST", f"orders/{int(woo_id)}/shipment-trackings", data=data,
                               api=self.tracking_api, **kwargs)
        return body

    def list_shipment_trackings(self, woo_id, **kwargs):
        body, _ = self.request("GET", f"orders/{int(woo_id)}/shipment-trackings", api=self.tracking_api, **kwargs)
        return body if isinstance(body, list) else []


def is_last_page(page):
    """Whether no page follows `page`: it is empty, the last by X-WP-TotalPages, or (without it) not full."""
    if not page.items:
        return True
    if page.total_pages is None:
        return len(page.items) < PER_PAGE
    return page.number >= page.total_pages


def _never_connected(exc):
    """Whether a requests ConnectionError happened before the request was sent (refused, DNS, TLS handshake)."""
    if isinstance(exc, requests.exceptions.SSLError):
        return True
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError wraps the cause
    return isinstance(reason, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError))


def _snippet(text, limit=200):
    return " ".join((text or "").split())[:limit] or "(empty body)"


def _int_header(headers, name, default):
    try:
        return int(headers.get(name))
    except (TypeError, ValueError):
        return default


def _retry_after(response):
    """Retry-After in seconds: a number of seconds, or an HTTP date (RFC 9110 allows both); None if absent or bad."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)
