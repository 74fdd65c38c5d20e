from django.conf import settings
from django.core.management.base import BaseCommand

from projects.services.housekeeping import renders_prune


class Command(BaseCommand):
    help = ("Delete render versions (rows and files) that a newer finished version replaced long ago; a project's "
            "newest version and the production versions of ordered projects are kept. The daily schedule runs it "
            "with RENDERS_KEEP_DAYS.")

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None,
                            help=f"Superseded more than this many days ago (default {settings.RENDERS_KEEP_DAYS}).")
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted; delete nothing.")

    def handle(self, *args, **options):
        renders, files = renders_prune(keep_days=options["days"], dry_run=options["dry_run"])
        verb = "would be deleted" if options["dry_run"] else "deleted"
        self.stdout.write(f"{renders} superseded renders {verb} ({files} files).")
