from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountingConfig(AppConfig):
    name = "accounting"
    verbose_name = _("Accounting")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from accounting.dashboard import EXPORT_FIGURES
        from accounting.demo import demo_export_rule, demo_invoice_rule, demo_invoices
        from accounting.order_panel import InvoicesPanel
        from accounting.pushes import InvoiceNumberPush
        from accounting.services.exports import exports_follow
        from accounting.services.invoices import invoices_follow
        from fulfillment import demo, extensions, followers, pushes
        from fulfillment.followers import Changed, OnFailure

        # After the projects (20). An export failing for a bug or a lost connection must not hold up the order's
        # change: it is retried by the followers' schedule, and the nightly job exports what is still open.
        followers.register("accounting-exports", exports_follow, position=30, on_failure=OnFailure.RETRY,
                           wants={Changed.ARRIVED, Changed.UPDATED, Changed.STATUS})
        # Last: an invoice follows what the others did. Its issuing is queued after the change's commit (VIES may
        # be asked first), so a failure here is only a failure to queue: retried like the exports.
        followers.register("invoices", invoices_follow, position=50, on_failure=OnFailure.RETRY,
                           wants={Changed.ARRIVED, Changed.UPDATED, Changed.STATUS, Changed.REFUND})
        pushes.register(InvoiceNumberPush())
        extensions.register_dashboard_figures(EXPORT_FIGURES)
        extensions.register_order_page_panel(InvoicesPanel())
        demo.register_store_setup("accounting-export-rule", demo_export_rule)
        demo.register_store_setup("accounting-invoice-rule", demo_invoice_rule)
        demo.register_store_loaded("accounting-invoices", demo_invoices)
