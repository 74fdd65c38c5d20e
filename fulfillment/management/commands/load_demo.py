import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from fulfillment.demo import demo_logins, load_demo


class Command(BaseCommand):
    help = ("Load demo stores and orders and create (or reset) the staff login `admin` and the other apps' demo "
            "logins (a My Account customer), printing their passwords. With scripts/run.sh's stand-ins running "
            "(DEMO_SHOP_URL_<STORE>, DEMO_PRINTFUL_URL…) the demo stores are shops that exist on this machine.")

    def add_arguments(self, parser):
        parser.add_argument("--orders", type=int, default=200, help="orders per demo store")
        parser.add_argument("--password", help="password for `admin` and the other demo logins (default: a new random one each)")
        parser.add_argument("--login-only", action="store_true",
                            help="only the staff login, no demo data (scripts/run.sh --real: add your shop with "
                                 "add_store)")

    def handle(self, *args, **options):
        counts = {} if options["login_only"] else load_demo(orders_per_store=options["orders"])
        for slug, count in counts.items():
            self.stdout.write(f"Demo store {slug}: {count} orders")
        password = options["password"] or secrets.token_urlsafe(9)
        user, _ = get_user_model().objects.get_or_create(username="admin", defaults={"email": "admin@example.com"})
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        self.stdout.write(self.style.SUCCESS(f"Staff login: admin / {password}"))
        if options["login_only"]:
            return
        for purpose, username, login_password in demo_logins(
                lambda: options["password"] or secrets.token_urlsafe(9)):
            self.stdout.write(self.style.SUCCESS(f"{purpose}: {username} / {login_password}"))
