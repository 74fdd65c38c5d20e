import argparse

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.management.base import BaseCommand, CommandError

from fulfillment.services.stores import store_save

# The option that sets each field, to name it in an error.
OPTIONS = {"slug": "slug", "base_url": "--url", "consumer_key": "--consumer-key",
           "consumer_secret": "--consumer-secret", "webhook_secret": "--webhook-secret", "name": "--name",
           "timezone": "--timezone", "currency": "--currency", "language": "--language"}


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
        parser.add_argument(
            "--query-string-auth", action=argparse.BooleanOptionalAction, default=None,
            help="https shops whose host strips the Authorization header: send the keys as query parameters "
                 "(an update without either option keeps the stored choice)",
        )
        parser.add_argument("--language", choices=[code for code, _name in settings.LANGUAGES],
                            help="The language of the shop's customers (tracking notes are written in it)")

    def handle(self, *args, **options):
        try:
            store, created = store_save(
                slug=options["slug"], base_url=options["url"], consumer_key=options["consumer_key"],
                consumer_secret=options["consumer_secret"], webhook_secret=options["webhook_secret"],
                name=options["name"], timezone=options["timezone"], currency=options["currency"],
                query_string_auth=options["query_string_auth"],
                language=options["language"],
            )
        except ValidationError as exc:
            # The validators of the secret fields do not repeat the value in their messages: no secret is printed.
            raise CommandError("; ".join(
                f"{OPTIONS.get(field, field) if field != NON_FIELD_ERRORS else 'store'}: {' '.join(messages)}"
                for field, messages in exc.message_dict.items()
            ))
        auth = " Keys sent in the query string." if store.query_string_auth else ""
        self.stdout.write(f"{'Created' if created else 'Updated'} store {store.slug} ({store.base_url}). "
                          f"Webhook URL: /webhooks/woocommerce/{store.slug}/{auth}")
