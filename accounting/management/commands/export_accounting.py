from django.core.management.base import BaseCommand, CommandError

from accounting.services.exports import exports_run_open
from accounting.services.invoice_exports import invoices_nightly
from fulfillment.models import Store


class Command(BaseCommand):
    help = ("Export the open accounting exports whose order status now matches the store's rule (the nightly job), "
            "opening records for recent orders that have none; then export the invoices and credit notes that are "
            "due and check back that the accounting system holds the exported ones with the same totals.")

    def add_arguments(self, parser):
        parser.add_argument("--store", metavar="SLUG", help="only this store")

    def handle(self, *args, store=None, **options):
        if store:
            try:
                store = Store.objects.get(slug=store)
            except Store.DoesNotExist:
                raise CommandError(f"No store with the slug {store!r}.") from None
        counts = exports_run_open(store=store)
        self._orders(counts)
        invoices = invoices_nightly()
        self.stdout.write(", ".join(f"{name}: {n}" for name, n in invoices.items()))
        if invoices["differ"]:
            self.stderr.write(f"{invoices['differ']} documents differ at the accounting system: see Invoices in the "
                              "admin (filter: differs)")

    def _orders(self, counts):
        if not counts.stores:
            self.stdout.write("no store with an enabled export rule")
            return
        self.stdout.write(f"stores: {', '.join(counts.stores)}")
        self.stdout.write(f"opened: {counts.opened}, exported: {counts.exported}, failed: {counts.failed}")
        if counts.failed:
            self.stderr.write(f"{counts.failed} exports failed: see Accounting exports in the admin")
