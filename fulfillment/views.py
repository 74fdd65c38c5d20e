from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from fulfillment.models import Store
from fulfillment.services.webhooks import delivery_receive


@csrf_exempt
@require_POST
def woocommerce_webhook(request, slug):
    """WooCommerce posts order webhooks here; see services.webhooks for the rules."""
    store = get_object_or_404(Store.objects.only("pk", "slug", "webhook_secret"), slug=slug)
    receipt = delivery_receive(store=store, headers=request.headers, body=request.body)
    if receipt.status == 200:
        return HttpResponse(receipt.message, content_type="text/plain")
    return JsonResponse({"error": receipt.message}, status=receipt.status)
