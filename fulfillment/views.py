import json
import logging

from django.conf import settings
from django.core import signing
from django.http import FileResponse, Http404, HttpResponse, HttpResponseForbidden, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from fulfillment import file_links
from fulfillment.models import Provider
from fulfillment.services.provider_tracking import provider_webhook_apply, provider_webhook_authenticated
from fulfillment.services.webhooks import delivery_receive_for

logger = logging.getLogger("fulfillment.webhooks")


def _body_within(request, limit):
    """The request's body, or None when it is larger than `limit` bytes (nothing more than limit + 1 is read).

    request.body would refuse anything over DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) with Django's HTML 400, and that
    setting is every view's limit: the stream is read here with this view's own limit instead.
    """
    try:
        announced = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        announced = 0
    if announced > limit:
        return None
    body = request.read(limit + 1)  # a chunked or understated body is held to the limit too
    return None if len(body) > limit else body


# The only headers a delivery's receipt reads. request.headers would build a dict of all of them (WooCommerce sends
# a dozen) for every delivery; these are read straight from the WSGI environ.
WOOCOMMERCE_HEADERS = {name: "HTTP_" + name.upper().replace("-", "_") for name in (
    "X-WC-Webhook-Signature", "X-WC-Webhook-Topic", "X-WC-Webhook-ID", "X-WC-Webhook-Delivery-ID")}


def _woocommerce_headers(request):
    meta = request.META
    return {name: meta[key] for name, key in WOOCOMMERCE_HEADERS.items() if key in meta}


@csrf_exempt
@require_POST
def woocommerce_webhook(request, slug):
    """WooCommerce posts order webhooks here; see services.webhooks for the rules."""
    limit = settings.WEBHOOK_MAX_BYTES
    body = _body_within(request, limit)
    if body is None:
        # Nothing is stored: the reconcile still fetches the order through the REST API within minutes.
        logger.warning("store %s: webhook refused, its body is larger than WEBHOOK_MAX_BYTES (%d bytes; "
                       "Content-Length %s, topic %s)", slug, limit, request.META.get("CONTENT_LENGTH") or "?",
                       request.META.get("HTTP_X_WC_WEBHOOK_TOPIC", "?"))
        return JsonResponse({"error": f"body larger than {limit} bytes (WEBHOOK_MAX_BYTES)"}, status=413)
    receipt = delivery_receive_for(slug=slug, headers=_woocommerce_headers(request), body=body)
    if receipt is None:
        raise Http404("unknown store")
    if receipt.status == 200:
        return HttpResponse(receipt.message, content_type="text/plain")
    return JsonResponse({"error": receipt.message}, status=receipt.status)


@csrf_exempt
@require_POST
def provider_webhook(request, provider_id, token):
    """Printful-style provider events; the secret token in the URL authenticates the provider."""
    provider = Provider.objects.filter(pk=provider_id).first()
    if provider is None or not provider_webhook_authenticated(provider, token):
        logger.warning("provider webhook refused for provider %s", provider_id)
        return JsonResponse({"error": "unknown provider or wrong token"}, status=404)
    try:
        payload = json.loads(request.body)
    except ValueError:
        return JsonResponse({"error": "the body is not JSON"}, status=400)
    return JsonResponse({"result": provider_webhook_apply(provider=provider, payload=payload)})


@require_GET
def production_file(request, token, filename):
    """A production file for the provider that was sent this signed link: no login, the signature is the key."""
    try:
        path = file_links.served_file(token, filename)
    except signing.SignatureExpired as exc:
        file_links.logger.warning("production file link refused: expired (%s), file %s, from %s", exc, filename,
                                  request.META.get("REMOTE_ADDR", "?"))
        return HttpResponseForbidden("This link has expired.", content_type="text/plain")
    except signing.BadSignature:
        file_links.logger.warning("production file link refused: bad signature, file %s, from %s", filename,
                                  request.META.get("REMOTE_ADDR", "?"))
        return HttpResponseForbidden("This link is not valid.", content_type="text/plain")
    except FileNotFoundError as exc:
        file_links.logger.warning("production file link names no production file: %s", exc)
        raise Http404("no such production file") from None
    return FileResponse(path.open("rb"), filename=path.name)
