from django.core.management.base import BaseCommand

from fulfillment.services.push_dispatch import pushes_dispatch, stores_with_due_pushes


class Command(BaseCommand):
    help = "Send the due changes of the outbox to WooCommerce now (the worker does this every minute)."

    def handle(self, *args, **options):
        store_ids = stores_with_due_pushes()
        counts = pushes_dispatch(store_ids=store_ids) if store_ids else {}
        self.stdout.write(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "nothing due")
