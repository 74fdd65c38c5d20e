from django.urls import path

from fulfillment import views

app_name = "fulfillment"
urlpatterns = [
    path("webhooks/woocommerce/<slug:slug>/", views.woocommerce_webhook, name="woocommerce-webhook"),
    path("webhooks/providers/<int:provider_id>/<str:token>/", views.provider_webhook, name="provider-webhook"),
    # A render fetched by a provider (Printful) through the signed link it was sent (fulfillment.file_links).
    path("files/production/<str:token>/<str:filename>", views.production_file, name="production-file"),
]
