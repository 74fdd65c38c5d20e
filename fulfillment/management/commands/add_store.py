from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from fulfillment.services.stores import store_save


class Command(BaseCommand):
    help = "Create or update a WooCommerce store (secrets are never printed)."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--url", required=True, help="The shop's home URL")
        parser.add_argument("--consumer-key", required=True)
        parser.add_argument("--consumer-secret", required=True)
        parser.add_argument("--webhook-secret", required=True)
        parser.add_argument("--name")
        parser.add_argument("--timezone", help="The shop's timezone, e.g. Europe/Amsterdam")
        parser.add_argument("--currency", help="ISO code, e.g. EUR")
        parser.add_argument("--language", choices=[code for code, _name in settings.LANGUAGES],
                            help="The language of the shop's customers (tracking notes are written in it)")

    def handle(self, *args, **options):
        try:
            store, created = store_save(
                slug=options["slug"], base_url=options["url"], consumer_key=options["consumer_key"],
                consumer_secret=options["consumer_secret"], webhook_secret=options["webhook_secret"],
                name=options["name"], timezone=options["timezone"], currency=options["currency"],
                language=options["language"],
            )
        except ValidationError as exc:
            raise CommandError("; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items()))
        self.stdout.write(f"{'Created' if created else 'Updated'} store {store.slug} ({store.base_url}). "
                          f"Webhook URL: /webhooks/woocommerce/{store.slug}/")
