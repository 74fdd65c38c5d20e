import json
import logging

from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from fulfillment.models import Provider, Store
from fulfillment.services.provider_tracking import provider_webhook_apply, provider_webhook_authenticated
from fulfillment.services.webhooks import delivery_receive

logger = logging.getLogger("fulfillment.webhooks")


@csrf_exempt
@require_POST
def woocommerce_webhook(request, slug):
    """WooCommerce posts order webhooks here; see services.webhooks for the rules."""
    store = get_object_or_404(Store.objects.only("pk", "slug", "webhook_secret", "last_webhook_at"), slug=slug)
    receipt = delivery_receive(store=store, headers=request.headers, body=request.body)
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
