from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounting.models import InvoiceRule
from accounting.services.invoices import BATCH, invoices_issue_due_batch
from fulfillment.models import Order


class Command(BaseCommand):
    help = ("Issue the invoices and credit notes that are due now (orders in an invoicing status without an invoice, "
            "refunds and cancellations of invoiced orders), and say why any could not be issued.")

    def add_arguments(self, parser):
        parser.add_argument("--store", metavar="SLUG", help="only this store")
        parser.add_argument("--order", metavar="NUMBER", help="only this order (with --store when numbers repeat)")
        parser.add_argument("--days", type=int, default=90,
                            help="orders changed in WooCommerce in the last DAYS days (default 90)")

    def handle(self, *args, store=None, order=None, days=90, **options):
        rules = InvoiceRule.objects.filter(enabled=True).select_related("store")
        if store:
            rules = rules.filter(store__slug=store)
            if not rules.exists():
                raise CommandError(f"No store {store!r} with an enabled invoice rule.")
        orders = Order.objects.filter(store__in=[rule.store for rule in rules], trashed=False)
        if order:
            orders = orders.filter(number=order)
            if not orders.exists():
                raise CommandError(f"No order {order!r} in a store with an enabled invoice rule.")
        else:
            orders = orders.filter(modified_at__gte=timezone.now() - timedelta(days=days))
        statuses = {rule.store_id: set(rule.statuses) for rule in rules}
        due = list(dict.fromkeys(  # an order with several documents is one row per document
            pk for pk, store_id, status, has_invoice in orders.order_by("pk").values_list(
                "pk", "store_id", "status", "invoices").distinct().iterator()
            if has_invoice is not None or status in statuses[store_id]))
        issued = problems = 0
        for start in range(0, len(due), BATCH):
            outcomes = invoices_issue_due_batch(order_ids=due[start:start + BATCH])
            for pk, outcome in outcomes.items():
                issued += len(outcome.issued)
                for document in outcome.issued:
                    self.stdout.write(f"{document.number}  {document.get_kind_display()}  order "
                                      f"{document.order.number}  {document.gross_total} {document.currency}")
                for reason in outcome.problems:
                    problems += 1
                    self.stderr.write(f"order pk {pk}: not issued: {reason}")
        self.stdout.write(f"issued: {issued}, not issued: {problems}")
