from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FulfillmentConfig(AppConfig):
    name = 'fulfillment'
    verbose_name = _("Fulfillment")

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from backoffice.middleware import remember_language

        user_logged_in.connect(remember_language, dispatch_uid="staff-language")
