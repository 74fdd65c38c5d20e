from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FulfillmentConfig(AppConfig):
    name = 'fulfillment'
    verbose_name = _("Fulfillment")

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from backoffice.middleware import remember_language
        from fulfillment import extensions, followers
        from fulfillment.admin.dropship_dashboard import DROPSHIP_FIGURES
        from fulfillment.admin.dropship_panel import DropshipPanel
        from fulfillment.followers import Changed, OnFailure
        from fulfillment.services.countdown import countdowns_follow
        from fulfillment.services.reservations import reservations_follow

        user_logged_in.connect(remember_language, dispatch_uid="staff-language")
        # The countdown is the order's own state: if it cannot follow a status change, the change is rolled back.
        followers.register("countdown", countdowns_follow, position=10, on_failure=OnFailure.ROLLBACK,
                           wants={Changed.ARRIVED, Changed.STATUS})
        # After accounting's exports (30): reservations only write our rows and queue the supplier's sync after
        # commit; a failure is recorded and retried, never holding up the order's change.
        followers.register("reservations", reservations_follow, position=40, on_failure=OnFailure.RETRY,
                           wants={Changed.ARRIVED, Changed.UPDATED, Changed.STATUS, Changed.REFUND,
                                  Changed.ADDRESS, Changed.TRASHED, Changed.RESTORED})
        extensions.register_order_page_panel(DropshipPanel())
        extensions.register_dashboard_figures(DROPSHIP_FIGURES)
