"""In-house printing: each submitted order becomes a ZIP (production files, packing slip, order data) in a folder."""

import html
import json
import os
import tempfile
import zipfile
from pathlib import Path

import requests

from fulfillment.providers.base import ProviderAdapter, ProviderRejectedError, ProviderRetryableError, RemoteOrder

DOWNLOAD_TIMEOUT = (5, 60)


class FileDropAdapter(ProviderAdapter):
    supports_cancel = True

    def __init__(self, *, folder):
        if not folder:
            raise ProviderRejectedError("No drop folder is set for this provider.")
        self.folder = Path(folder)

    @classmethod
    def for_provider(cls, provider):
        return cls(folder=provider.folder)

    def _path(self, external_id):
        return self.folder / f"{external_id}.zip"

    def submit(self, order):
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ProviderRetryableError(f"Cannot create the drop folder {self.folder}: {exc.strerror}") from None
        target = self._path(order.external_id)
        if target.exists():
            return RemoteOrder(remote_id=order.external_id, external_id=order.external_id, status="dropped")
        # Written beside the target and renamed: the print room never sees half a ZIP.
        handle, temporary = tempfile.mkstemp(dir=self.folder, suffix=".part")
        os.close(handle)
        try:
            with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for item in order.items:
                    for index, source in enumerate(item.files, start=1):
                        name = f"{item.line_id}-{index}-{Path(str(source).split('?')[0]).name or 'file'}"
                        archive.writestr(f"files/{name}", _read(source))
                archive.writestr("packing_slip.html", packing_slip_html(order))
                archive.writestr("order.json", json.dumps(_order_json(order), indent=2, ensure_ascii=False))
            os.replace(temporary, target)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
        return RemoteOrder(remote_id=order.external_id, external_id=order.external_id, status="dropped")

    def lookup(self, external_id):
        if self._path(external_id).exists():
            return RemoteOrder(remote_id=external_id, external_id=external_id, status="dropped")
        return None

    def shipments(self, external_id):
        return []  # the print room marks orders shipped in the back-office

    def cancel(self, external_id):
        self._path(external_id).unlink(missing_ok=True)
        return RemoteOrder(remote_id=external_id, external_id=external_id, status="cancelled")


def _read(source):
    source = str(source)
    if source.startswith(("http://", "https://")):
        try:
            response = requests.get(source, timeout=DOWNLOAD_TIMEOUT)
        except requests.RequestException:
            raise ProviderRetryableError(f"Cannot download the production file {source}") from None
        if response.status_code != 200:
            raise ProviderRetryableError(f"Production file {source}: HTTP {response.status_code}")
        return response.content
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise ProviderRejectedError(f"Production file {source} cannot be read: {exc.strerror}") from None


def _order_json(order):
    return {
        "external_id": order.external_id, "number": order.number, "recipient": order.recipient,
        "items": [{"line_id": i.line_id, "sku": i.sku, "name": i.name, "quantity": i.quantity, "files": i.files}
                  for i in order.items],
    }


def packing_slip_html(order):
    r = {k: html.escape(str(v or "")) for k, v in order.recipient.items()}
    rows = "".join(
        f"<tr><td>{html.escape(i.sku)}</td><td>{html.escape(i.name)}</td><td>{i.quantity}</td></tr>"
        for i in order.items
    )
    return (
        "<!doctype html><meta charset='utf-8'><title>Packing slip</title>"
        f"<h1>Order #{html.escape(order.number)}</h1>"
        f"<address>{r.get('name', '')}<br>{r.get('company', '')}<br>{r.get('address1', '')} {r.get('address2', '')}"
        f"<br>{r.get('zip', '')} {r.get('city', '')} {r.get('state_code', '')}<br>{r.get('country_code', '')}</address>"
        f"<table border='1' cellpadding='4'><tr><th>SKU</th><th>Product</th><th>Qty</th></tr>{rows}</table>"
        + (f"<p>{html.escape(order.packing_note)}</p>" if order.packing_note else "")
    )
