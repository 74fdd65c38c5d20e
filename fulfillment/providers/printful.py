"""Printful's order API (v1), and any provider that speaks it.

POST /orders?confirm=… creates an order carrying our external_id; GET /orders/@{external_id} looks it up;
DELETE /orders/@{external_id} cancels; shipments come inside the order and by webhook (package_shipped).
Answers are {"code": N, "result": …}; errors {"code": N, "result": "message", "error": {"reason", "message"}}.
"""

import logging
import os
from datetime import date, datetime, timezone as dt_timezone

import requests

from fulfillment.file_links import FileLinkError, file_url
from fulfillment.providers.base import (
    ProviderAdapter,
    ProviderDuplicateError,
    ProviderError,
    ProviderRejectedError,
    ProviderRetryableError,
    RemoteOrder,
    RemoteShipment,
)

logger = logging.getLogger("fulfillment.providers.printful")

TIMEOUT = (5, 30)  # connect, read: Printful answers order creation within seconds, never minutes
DUPLICATE_MARKERS = ("external id", "external_id")


class PrintfulAdapter(ProviderAdapter):
    supports_cancel = True
    takes_file_urls = True  # "files": [{"url": …}]: Printful downloads them ("File URL is not valid" otherwise)

    def __init__(self, *, base_url, token, confirm=True, variant_map=None, webhook=False, session=None):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.confirm = confirm
        self.variant_map = variant_map or {}
        self.has_webhook = webhook
        self.session = session or requests.Session()

    @classmethod
    def for_provider(cls, provider):
        token = os.environ.get(provider.credentials_env, "") if provider.credentials_env else ""
        return cls(base_url=provider.base_url or "https://api.printful.com", token=token,
                   confirm=provider.confirm_orders, variant_map=provider.variant_map,
                   webhook=bool(provider.webhook_token))

    def __repr__(self):
        return f"<PrintfulAdapter {self.base_url}>"

    def close(self):
        self.session.close()

    # -- HTTP ------------------------------------------------------------------------------------

    def _call(self, method, path, *, params=None, json=None, missing_ok=False):
        what = f"{method} {path}"
        if not self.token:
            raise ProviderRejectedError("No API key: set the environment variable named in the provider settings.")
        try:
            response = self.session.request(method, f"{self.base_url}{path}", params=params, json=json,
                                            headers={"Authorization": f"Bearer {self.token}"}, timeout=TIMEOUT)
        except requests.ConnectTimeout:
            raise ProviderRetryableError(f"{what}: the provider could not be reached") from None
        except requests.ConnectionError as exc:
            # Refused before anything was sent, or cut after the request went out: only the former is certain.
            sent = "refused" not in str(exc).lower()
            raise ProviderRetryableError(f"{what}: connection to the provider failed",
                                         outcome_unknown=sent and method == "POST") from None
        except requests.Timeout:
            raise ProviderRetryableError(f"{what}: the provider did not answer in time",
                                         outcome_unknown=method in ("POST", "DELETE")) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        status = response.status_code
        if not isinstance(body, dict):
            snippet = " ".join(response.text.split())[:200]
            raise ProviderRetryableError(f"{what}: HTTP {status}, not JSON (an error page?): {snippet}",
                                         response={"status": status, "body": response.text[:2000]},
                                         outcome_unknown=method == "POST" and status >= 500, status=status)
        if 200 <= status < 300:
            return body.get("result", body)
        message = _error_message(body)
        if status == 404 and missing_ok:
            return None
        if status == 429 or status >= 500:
            raise ProviderRetryableError(f"{what}: HTTP {status}: {message}", response=body, status=status,
                                         outcome_unknown=method == "POST" and status >= 500)
        if any(marker in message.lower() for marker in DUPLICATE_MARKERS) and method == "POST":
            raise ProviderDuplicateError(message, response=body, status=status)
        if status in (401, 403):
            raise ProviderRejectedError(f"The provider refused our API key (HTTP {status}): {message}",
                                        response=body, status=status)
        raise ProviderRejectedError(message, response=body, status=status)

    # -- the interface ------------------------------------------------------------------------------

    def submit(self, order):
        body = {
            "external_id": order.external_id,
            "shipping": "STANDARD",
            "recipient": order.recipient,
            "items": [self._item(item) for item in order.items],
            "packing_slip": {"message": order.packing_note[:200]} if order.packing_note else None,
        }
        body = {k: v for k, v in body.items() if v is not None}
        result = self._call("POST", "/orders", params={"confirm": "true" if self.confirm else "false"}, json=body)
        return _remote(result)

    def _item(self, item):
        try:
            files = [{"url": file_url(location, line_name=item.name)} for location in item.files]
        except FileLinkError as exc:
            raise ProviderRejectedError(str(exc)) from None  # nothing sent: Printful would refuse the path
        data = {"external_id": str(item.line_id), "quantity": item.quantity, "name": item.name,
                "retail_price": item.unit_price, "files": files}
        if item.sku in self.variant_map:
            data["variant_id"] = self.variant_map[item.sku]
        else:
            data["external_variant_id"] = item.sku
        return data

    def lookup(self, external_id):
        result = self._call("GET", f"/orders/@{external_id}", missing_ok=True)
        return _remote(result) if result else None

    def shipments(self, external_id):
        result = self._call("GET", f"/orders/@{external_id}", missing_ok=True)
        if not result:
            return []
        return [parse_shipment(s, result.get("items") or []) for s in result.get("shipments") or []]

    def cancel(self, external_id):
        return _remote(self._call("DELETE", f"/orders/@{external_id}"))

    def webhook_set(self, url, types=("package_shipped", "order_failed", "order_canceled")):
        """Printful's webhook configuration (one URL per Printful store): where it posts the events `types`."""
        return self._call("POST", "/webhooks", json={"url": url, "types": list(types)})


def _error_message(body):
    error = body.get("error")
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    result = body.get("result")
    return str(result) if isinstance(result, str) else f"code {body.get('code')}"


def _remote(result):
    if not isinstance(result, dict) or "id" not in result:
        raise ProviderError("The provider's answer has no order id.", response=result)
    return RemoteOrder(remote_id=str(result["id"]), external_id=str(result.get("external_id") or ""),
                       status=str(result.get("status") or ""), raw=result)


def parse_shipment(shipment, order_items):
    """A Printful shipment → RemoteShipment with quantities per WooCommerce line (item external ids)."""
    line_of_item = {item.get("id"): item.get("external_id") for item in order_items}
    lines = {}
    for part in shipment.get("items") or []:
        line_id = line_of_item.get(part.get("item_id"))
        if line_id and str(line_id).isdigit():
            lines[int(line_id)] = lines.get(int(line_id), 0) + int(part.get("quantity") or 0)
    shipped = shipment.get("ship_date")
    try:
        shipped_on = date.fromisoformat(shipped) if shipped else None
    except ValueError:
        shipped_on = None
    if shipped_on is None and shipment.get("shipped_at"):
        shipped_on = datetime.fromtimestamp(int(shipment["shipped_at"]), dt_timezone.utc).date()
    carrier = " ".join(p for p in (shipment.get("carrier"), shipment.get("service")) if p) or "Carrier"
    return RemoteShipment(remote_id=str(shipment.get("id") or ""), carrier=carrier[:100],
                          tracking_number=str(shipment.get("tracking_number") or ""),
                          tracking_url=str(shipment.get("tracking_url") or ""),
                          shipped_on=shipped_on or date.today(), lines=lines)
