from django.urls import path

from fulfillment import views

app_name = "fulfillment"
urlpatterns = [
    path("webhooks/woocommerce/<slug:slug>/", views.woocommerce_webhook, name="woocommerce-webhook"),
    path("webhooks/providers/<int:provider_id>/<str:token>/", views.provider_webhook, name="provider-webhook"),
]
