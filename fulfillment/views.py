import json
import logging

from django.http import Http404, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from fulfillment.models import Provider
from fulfillment.services.provider_tracking import provider_webhook_apply, provider_webhook_authenticated
from fulfillment.services.webhooks import delivery_receive_for

logger = logging.getLogger("fulfillment.webhooks")


@csrf_exempt
@require_POST
def woocommerce_webhook(request, slug):
    """WooCommerce posts order webhooks here; see services.webhooks for the rules."""
    receipt = delivery_receive_for(slug=slug, headers=request.headers, body=request.body)
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
