from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from fulfillment.choices import ImportMode, RunState
from fulfillment.models import ImportRun, Store
from fulfillment.services.imports import (ImportRequestError, import_run_create, import_run_execute, import_run_resume,
                                          parse_ids)


def parse_date(text):
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{text!r} is not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM, UTC)") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = ("Import orders from a WooCommerce store: --all, --since DATE [--until DATE], or --ids 1,2,3; "
            "--resume RUN carries on a failed import after the last page it wrote.")

    def add_arguments(self, parser):
        parser.add_argument("slug")
        mode = parser.add_mutually_exclusive_group(required=True)
        mode.add_argument("--all", action="store_true", help="every order of the store")
        mode.add_argument("--since", type=parse_date, help="orders created since DATE (UTC)")
        mode.add_argument("--ids", help="comma-separated WooCommerce order ids")
        mode.add_argument("--resume", type=int, metavar="RUN", help="the id of a failed import of this store")
        parser.add_argument("--until", type=parse_date, help="with --since: orders created before DATE (UTC)")

    def handle(self, *args, **options):
        store = Store.objects.filter(slug=options["slug"]).first()
        if store is None:
            raise CommandError(f"No store {options['slug']!r}; create it with add_store.")
        if options["until"] and not options["since"]:
            raise CommandError("--until goes with --since.")
        try:
            if options["resume"]:
                run = ImportRun.objects.filter(pk=options["resume"], store=store).first()
                if run is None:
                    raise CommandError(f"No import {options['resume']} of store {store.slug!r}.")
                run = import_run_resume(run=run, queue=False)
            elif options["all"]:
                run = import_run_create(store=store, mode=ImportMode.ALL)
            elif options["since"]:
                run = import_run_create(store=store, mode=ImportMode.RANGE, since=options["since"],
                                        until=options["until"])
            else:
                run = import_run_create(store=store, mode=ImportMode.IDS, ids=parse_ids(options["ids"]))
        except ImportRequestError as exc:
            raise CommandError(str(exc))
        run = import_run_execute(run=run, progress=self.progress)
        self.stderr.write("")
        self.stdout.write(
            f"{run.get_state_display()}: {run.orders_seen} orders in {run.pages_done} pages — "
            f"{run.created} created, {run.updated} updated, {run.unchanged} unchanged, {run.failed} failed"
        )
        for failure in run.failures:
            self.stdout.write(f"  order {failure['woo_id']}: {failure['reason']}")
        if run.state == RunState.FAILED:
            raise CommandError(run.error)

    def progress(self, run, elapsed):
        total = run.pages_total or run.pages_done
        width = 30
        filled = int(width * run.pages_done / total) if total else width
        rate = run.orders_seen / elapsed if elapsed > 0 else 0
        self.stderr.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] page {run.pages_done}/{total} · "
            f"{run.orders_seen} orders · {rate:,.0f} orders/s",
            ending="",
        )
        self.stderr.flush()
