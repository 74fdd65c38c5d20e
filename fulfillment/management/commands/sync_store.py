from django.core.management.base import BaseCommand, CommandError

from fulfillment.models import Store
from fulfillment.services.reconcile import store_sync


class Command(BaseCommand):
    help = "Reconcile stores with WooCommerce: fetch every order modified since the last good sync."

    def add_arguments(self, parser):
        parser.add_argument("slugs", nargs="*", help="store slugs (default: all stores)")

    def handle(self, *args, **options):
        stores = Store.objects.order_by("pk")
        if options["slugs"]:
            stores = stores.filter(slug__in=options["slugs"])
            missing = set(options["slugs"]) - set(stores.values_list("slug", flat=True))
            if missing:
                raise CommandError(f"Unknown store(s): {', '.join(sorted(missing))}")
        failed = False
        for store in stores:
            outcome = store_sync(store=store)
            r = outcome.result
            if outcome.error:
                failed = True
                self.stderr.write(f"{store.slug}: sync failed: {outcome.error}")
                continue
            self.stdout.write(
                f"{store.slug}: since {outcome.since:%Y-%m-%d %H:%M:%S} UTC, {outcome.requests} requests — "
                f"{len(r.created)} created, {len(r.updated)} updated, {len(r.unchanged)} unchanged, "
                f"{len(r.stale)} older than stored, {len(r.failed)} failed"
                + ("" if outcome.watermark_moved else " (an order left the window while paging: window kept for next run)")
            )
            for woo_id, reason in r.failed:
                self.stdout.write(f"  order {woo_id}: {reason}")
        if failed:
            raise CommandError("At least one store could not be synced.")
