import json
import logging

from django.core import signing
from django.http import FileResponse, Http404, HttpResponse, HttpResponseForbidden, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from backoffice.request_limits import MAX_JSON_DEPTH, body_limit, nested_deeper_than
from fulfillment import file_links
from fulfillment.models import Provider
from fulfillment.services.provider_tracking import provider_webhook_apply, provider_webhook_authenticated
from fulfillment.services.webhooks import delivery_receive_for

logger = logging.getLogger("fulfillment.webhooks")


# The only headers a delivery's receipt reads. request.headers would build a dict of all of them (WooCommerce sends
# a dozen) for every delivery; these are read straight from the WSGI environ.
WOOCOMMERCE_HEADERS = {name: "HTTP_" + name.upper().replace("-", "_") for name in (
    "X-WC-Webhook-Signature", "X-WC-Webhook-Topic", "X-WC-Webhook-ID", "X-WC-Webhook-Delivery-ID")}


def _woocommerce_headers(request):
    meta = request.META
    return {name: meta[key] for name, key in WOOCOMMERCE_HEADERS.items() if key in meta}


@csrf_exempt
@require_POST
@body_limit("WEBHOOK_MAX_BYTES")
def woocommerce_webhook(request, slug):
    """WooCommerce posts order webhooks here; see services.webhooks for the rules.

    A body over WEBHOOK_MAX_BYTES is refused (413) before it is read whole and nothing is stored: the reconcile
    still fetches the order through the REST API within minutes.
    """
    receipt = delivery_receive_for(slug=slug, headers=_woocommerce_headers(request), body=request.body,
                                   content_type=request.content_type)
    if receipt is None:
        logger.warning("webhook for an unknown store %r refused (from %s)", slug[:80],
                       request.META.get("REMOTE_ADDR", "?"))
        return JsonResponse({"error": "unknown store"}, status=404)
    if receipt.status == 200:
        return HttpResponse(receipt.message, content_type="text/plain")
    return JsonResponse({"error": receipt.message}, status=receipt.status)


@csrf_exempt
@require_POST
@body_limit("PROVIDER_WEBHOOK_MAX_BYTES")
def provider_webhook(request, provider_id, token):
    """Printful-style provider events; the secret token in the URL authenticates the provider."""
    provider = Provider.objects.filter(pk=provider_id).first()
    if provider is None or not provider_webhook_authenticated(provider, token):
        logger.warning("provider webhook refused for provider %s", provider_id)
        return JsonResponse({"error": "unknown provider or wrong token"}, status=404)
    try:
        payload = json.loads(request.body)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        payload = None
    if payload is None or nested_deeper_than(payload):
        logger.warning("provider webhook for provider %s refused: the body is not JSON of %d levels at most",
                       provider_id, MAX_JSON_DEPTH)
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
