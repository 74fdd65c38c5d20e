from django.core.management.base import BaseCommand, CommandError

from fulfillment.integrations.rewix import SupplierError
from fulfillment.models import Supplier
from fulfillment.selectors.reservations import growing_order_comparison
from fulfillment.services.supplier_poll import supplier_refresh
from fulfillment.services.supplier_sync import supplier_client

DIFFERENCES = {"missing": "needed but not reserved", "extra": "reserved but no longer needed",
               "quantity": "quantity different"}


class Command(BaseCommand):
    help = ("Dropshipping suppliers: read the catalogue (map it to the shop's SKUs), align the growing order with the "
            "shop's orders, place paid orders, read statuses and tracking (the worker does this every 5 minutes).")

    def add_arguments(self, parser):
        parser.add_argument("--store", help="only this store's suppliers (its slug)")
        parser.add_argument("--supplier", type=int, help="only this supplier (its id)")
        parser.add_argument("--catalogue", action="store_true", help="read the whole catalogue now")
        parser.add_argument("--dry-run", action="store_true",
                            help="change nothing: read the growing order and print how it differs from the shop")

    def handle(self, *args, store=None, supplier=None, catalogue=False, dry_run=False, **options):
        suppliers = Supplier.objects.filter(active=True).select_related("store").order_by("pk")
        if store:
            suppliers = suppliers.filter(store__slug=store)
        if supplier:
            suppliers = suppliers.filter(pk=supplier)
        if not suppliers:
            raise CommandError("No active supplier" + (f" for store {store}" if store else "") + ".")
        failed = False
        for each in suppliers:
            if dry_run:
                failed |= not self.print_differences(each)
                continue
            report, changed = supplier_refresh(supplier=each, catalogue=True if catalogue else None)
            self.stdout.write(f"{report.summary()}; {changed} statuses changed")
            for reason in report.failed:
                self.stdout.write(f"  failed: {reason}")
            failed |= bool(report.error)
        if failed:
            raise CommandError("At least one supplier could not be synced (see above).")

    def print_differences(self, supplier):
        try:
            growing = supplier_client(supplier).growing_order()
        except SupplierError as exc:
            self.stderr.write(f"{supplier.name}: {exc}")
            return False
        supplier.growing_snapshot = {s: r.locked for s, r in growing.models.items() if r.locked}  # not saved
        comparison = growing_order_comparison(supplier)
        self.stdout.write(f"{supplier.name} ({supplier.store.slug}), growing order {growing.order_id}: "
                          f"{comparison.total_needed} items needed, {comparison.total_reserved} reserved")
        for row in comparison.differences:
            self.stdout.write(f"  {row.stock_id} {row.code} {row.size}: needed {row.needed}, reserved {row.reserved}"
                              f" — {DIFFERENCES[row.difference]}")
        for reservation in comparison.addresses:
            self.stdout.write(f"  order #{reservation.order.number}: shipping address changed after placing "
                              f"({reservation.remote_order_id})")
        if comparison.in_agreement:
            self.stdout.write("  no difference")
        return True
