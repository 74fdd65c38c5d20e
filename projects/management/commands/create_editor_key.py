from django.core.management.base import BaseCommand, CommandError

from fulfillment.models import Store
from projects.services.api_keys import editor_key_create


class Command(BaseCommand):
    help = "Create an API key for a store's product editor; the key is printed once and only its hash is kept."

    def add_arguments(self, parser):
        parser.add_argument("store_slug")
        parser.add_argument("--name", default="editor", help="What the key is for, e.g. 'live shop editor'")

    def handle(self, *args, **options):
        store = Store.objects.filter(slug=options["store_slug"]).first()
        if store is None:
            raise CommandError(f"No store with slug {options['store_slug']!r}.")
        row, key = editor_key_create(store=store, name=options["name"])
        self.stderr.write(f"Key {row.prefix}… for store {store.slug} ({row.name}). It is shown only this once; "
                          "send it as 'Authorization: Bearer <key>'.")
        self.stdout.write(key)
