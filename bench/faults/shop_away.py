#!/usr/bin/env python
"""Fault scenario 1, the shop goes away: orders made and changed in a failing shop, staff working meanwhile.

    .venv/bin/python bench/faults/shop_away.py                      # 5,000 orders, a 60 s outage (compressed time)
    .venv/bin/python bench/faults/shop_away.py --orders 300 --outage 6   # the short form CI runs

On the real parts (bench/faults/_shop_support.py): PostgreSQL (`--database`, dropped and recreated), Redis
(`--redis-url`, flushed), gunicorn serving the back-office, two `qcluster` processes, and the WooCommerce stand-in
in a process of its own whose webhooks drop 30 % of deliveries and send the rest twice and out of order. The shop
makes orders all along and its staff change some; for `--outage` seconds its REST API fails (503 before acting, 503
after acting, or acting and answering past our timeout); meanwhile our staff change statuses, add notes, refund
and add tracking through the services the admin calls. Then the shop comes back, one reconcile runs
(`manage.py sync_store`), and the outbox drains. Checks: the mirror equals the shop order for order (status, totals,
lines, refunds, the notes we made); every note, refund and tracking item we made reached the shop exactly once;
nothing is left in the outbox. Exit status 1 when a check fails. See bench/README.md.

Time is compressed 30×: our timeout to the shop is 2 s (the shop hangs 3 s), a failed push waits 1 s doubling to 60 s
(30 s to 30 min in production) and the every-minute dispatch of due pushes runs every 2 s.

Over 400 lines on purpose: the scenario (timeline, staff, run, checks) reads top to bottom in one file; the parts
it starts are in _shop_support.py.
"""

import argparse
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _shop_support as support  # noqa: E402

SLUG = "shop"
SECRET = "faultsWebhookSecret0123456789"
KEY, KEY_SECRET = "ck_faults_0123456789abcdef", "cs_faults_fedcba9876543210"
TIME_SCALE = 30
TICK_SECONDS = 60 / TIME_SCALE  # the every-minute dispatch of due pushes
# What staff do to an order, by woo id % 20 (the shop's own staff change 8-11); the rest are only created.
STAFF = {0: "complete", 1: "release", 2: "note", 3: "hold+note", 4: "private+note", 5: "partial refund+note",
         6: "full refund", 7: "tracking", 12: "two notes"}
SHOP = {8: "complete", 9: "complete", 10: "refund", 11: "hold+release"}


def shop_orders(count, seed):
    rng = random.Random(seed)
    for woo_id in range(1, count + 1):
        payload = support._support.realistic_order(woo_id, rng)
        k = woo_id % 20
        if k in STAFF or k in SHOP:
            payload["status"] = "on-hold" if k == 1 else "processing"
        elif payload["status"] == "refunded":
            payload["status"] = "completed"
        payload.update(refunds=[], needs_payment=False)
        yield payload


class Timeline(threading.Thread):
    """The shop's side: orders created at a steady pace, its staff's changes, and the outage switched on and off."""

    def __init__(self, shop, payloads, *, outage, hang, started):
        super().__init__(daemon=True)
        self.shop, self.payloads, self.outage, self.hang, self.started = shop, payloads, outage, hang, started
        self.span = 1.6 * outage
        self.back_at = self.down_at = None
        self.error = None

    def run(self):
        try:
            self._run()
        except Exception as exc:  # shown by the main thread
            self.error = exc

    def _run(self):
        batches = max(int(self.span / 0.5), 1)
        per = -(-len(self.payloads) // batches)
        later = []  # (when, kind, woo id)
        for index in range(batches):
            at = self.started + index * self.span / batches
            time.sleep(max(at - time.perf_counter(), 0))
            now = time.perf_counter() - self.started
            if self.down_at is None and now >= 0.3 * self.outage:
                self.shop.post("fault", {"mode": "mixed", "hang_seconds": self.hang})
                self.down_at = time.perf_counter()
            if self.down_at is not None and self.back_at is None and now >= 1.3 * self.outage:
                self.shop.post("fault", {"mode": "off"})
                self.back_at = time.perf_counter()
            batch = self.payloads[index * per:(index + 1) * per]
            if batch:
                self.shop.post("orders", {"orders": batch})
            for payload in batch:
                if payload["id"] % 20 in SHOP:
                    later.append((now + 2.0, SHOP[payload["id"] % 20], payload["id"]))
            due, later = [c for c in later if c[0] <= now], [c for c in later if c[0] > now]
            self._shop_staff(due)
        if self.back_at is None:
            self.shop.post("fault", {"mode": "off"})
            self.back_at = time.perf_counter()
        time.sleep(2.0)
        self._shop_staff(later)

    def _shop_staff(self, changes):
        statuses = []
        for _when, kind, woo_id in changes:
            if kind == "complete":
                statuses.append({"id": woo_id, "status": "completed"})
            elif kind == "hold+release":  # twice within a second: the same date_modified, two states
                statuses += [{"id": woo_id, "status": "on-hold"}, {"id": woo_id, "status": "processing"}]
            elif kind == "refund":
                self.shop.post("refund", {"id": woo_id, "amount": "1.50", "reason": "Goodwill (shop admin)"})
        if statuses:
            self.shop.post("status", {"changes": statuses})


class Staff:
    """Our staff, through the services the admin calls, on the orders the mirror has."""

    def __init__(self, user):
        self.user = user
        self.todo = {}  # woo id → what to do
        self.counts = Counter()

    def add(self, woo_ids):
        for woo_id in woo_ids:
            if woo_id % 20 in STAFF:
                self.todo[woo_id] = STAFF[woo_id % 20]

    def work(self, store, limit=40):
        from fulfillment.models import Order

        ready = list(Order.objects.filter(store=store, woo_id__in=list(self.todo)[:2000]).select_related("store")
                     .order_by("woo_id")[:limit])
        for order in ready:
            self.act(order, self.todo.pop(order.woo_id))
        return len(ready)

    def act(self, order, what):
        from fulfillment.errors import OrderActionError
        from fulfillment.money import quantize
        from fulfillment.selectors.orders import refundable_items
        from fulfillment.services.orders import order_add_note, order_change_status
        from fulfillment.services.refunds import order_refund
        from fulfillment.services.tracking import shipment_add

        def note(n, customer=True):
            order_add_note(order=order, note=f"Order {order.number}: your photo book is being made (note {n}).",
                           customer_note=customer, user=self.user)
            self.counts["customer notes" if customer else "private notes"] += 1

        try:
            if what in ("complete", "release", "hold+note"):
                target = {"complete": "completed", "release": "processing", "hold+note": "on-hold"}[what]
                order_change_status(order=order, status=target, user=self.user)
                self.counts["status changes"] += 1
            if what in ("note", "hold+note", "private+note", "partial refund+note", "two notes"):
                if what == "private+note":
                    note(0, customer=False)
                if what == "partial refund+note":
                    item = next(i for i in refundable_items(order) if i.kind == "product")
                    order_refund(order=order, amounts={item.id: "2.00"}, quantities={}, reason="Late (staff)",
                                 restock=False, user=self.user)
                    self.counts["refunds"] += 1
                note(1)
                if what == "two notes":
                    note(2)
            if what == "full refund":
                items = refundable_items(order)
                order_refund(order=order, amounts={i.id: str(quantize(i.remaining_amount, order.currency))
                                                   for i in items if i.remaining_amount},
                             quantities={}, reason="Cancelled by the customer", restock=True, user=self.user)
                self.counts["refunds"] += 1
            if what == "tracking":
                shipment_add(order=order, carrier="Bench Parcel", tracking_number=f"BP{order.woo_id:010d}",
                             tracking_link=f"https://track.example.com/BP{order.woo_id:010d}", user=self.user,
                             confirm_complete=True)
                self.counts["tracking"] += 1
        except OrderActionError as exc:
            # The mirror's state forbade it (the shop's staff changed the order first): staff would see the message.
            self.counts[f"refused ({what}): {exc} {exc.errors}"[:160]] += 1


def wait_until(condition, deadline, interval=0.5):
    while time.perf_counter() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--outage", type=float, default=60, help="seconds the shop fails (default 60)")
    parser.add_argument("--hang", type=float, default=3.0, help="seconds a hanging answer takes (timeout is 2 s)")
    parser.add_argument("--database", default="faults_shop")
    parser.add_argument("--redis-url", default=os.environ.get("FAULTS_REDIS_URL", "redis://127.0.0.1:6379/4"))
    parser.add_argument("--clusters", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="Q_WORKERS of each qcluster")
    parser.add_argument("--deadline", type=float, default=900, help="give up catching up after this many seconds")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--keep", action="store_true", help="keep the database at the end")
    args = parser.parse_args(argv)

    load0, t_start = os.getloadavg(), time.perf_counter()
    print(f"shop_away: {args.orders:,} orders, {args.outage:g} s outage (time ×{TIME_SCALE}), database "
          f"{args.database} (recreated), Redis {args.redis_url}; {os.cpu_count()} CPUs, load average "
          f"{load0[0]:.2f}", flush=True)
    support.reset_database(args.database)
    parts = support.Parts(database=args.database, redis_url=args.redis_url, clusters=args.clusters,
                          workers=args.workers, extra_env={
                              "WOO_TIMEOUT_SECONDS": "2", "WOO_RETRY_BASE_SECONDS": str(1 / TIME_SCALE),
                              "PUSH_BACKOFF_FIRST_SECONDS": str(30 / TIME_SCALE),
                              "PUSH_BACKOFF_MAX_SECONDS": str(1800 / TIME_SCALE), "WEBHOOK_REQUEUE_MINUTES": "1"})
    parts.apply_env_here()
    shop = support.Shop(consumer_key=KEY, consumer_secret=KEY_SECRET, webhook_secret=SECRET, drop=0.3,
                        seed=args.seed)
    redis = support.redis_client(args.redis_url)
    redis.flushdb()
    failures = []
    try:
        import django

        django.setup()
        import logging

        logging.getLogger("django-q").setLevel(logging.WARNING)
        from datetime import timedelta

        from django.contrib.auth import get_user_model
        from django.utils import timezone
        from django_q.models import Schedule

        from fulfillment.models import Store
        from fulfillment.services.reconcile import store_sync
        from fulfillment.task_queue import enqueue

        store = Store.objects.create(slug=SLUG, name="Faulty shop", base_url=shop.url, consumer_key=KEY,
                                     consumer_secret=KEY_SECRET, webhook_secret=SECRET, has_shipment_tracking=True)
        user = get_user_model().objects.create_superuser("faults-staff", "staff@example.com", "x")
        # Every schedule of a fresh database is due at once: the bench runs the clock itself (one reconcile, at the
        # end; the dispatch of due pushes every compressed minute).
        Schedule.objects.update(next_run=timezone.now() + timedelta(days=1))
        store_sync(store=store)  # a store that has been syncing: its watermark is now
        web = parts.start_gunicorn()
        shop.post("config", {"webhook_url": f"{web}/webhooks/woocommerce/{SLUG}/"})
        parts.start_clusters(redis)
        payloads = list(shop_orders(args.orders, args.seed))
        staff = Staff(user)
        cpu0, pg0, shop0, busy0 = parts.cpu(), support._support.postgres_server_cpu(), shop.cpu(), \
            support.bench_submit.machine_busy()
        ours0 = time.process_time()
        started = time.perf_counter()
        timeline = Timeline(shop, payloads, outage=args.outage, hang=args.hang, started=started)
        timeline.start()
        staff.add(p["id"] for p in payloads)
        last_tick = last_print = 0.0
        ticks = {"n": 0}
        loads = [os.getloadavg()[0]]

        def tick():
            nonlocal last_tick, last_print
            now = time.perf_counter()
            if now - last_tick >= TICK_SECONDS:
                last_tick = now
                enqueue("fulfillment.tasks.dispatch_due_pushes")
                ticks["n"] += 1
                if ticks["n"] % 5 == 0:  # the watchdog of deliveries whose task was lost (a worker's DB refused it)
                    enqueue("fulfillment.tasks.requeue_lost_deliveries")
            if now - last_print >= 10:
                last_print = now
                loads.append(os.getloadavg()[0])
                print(f"    {now - started:6.1f} s: {progress()}", flush=True)

        def progress():
            from fulfillment.models import Order, StorePush, WebhookDelivery
            from fulfillment.services.outbox import UNSENT

            stats = shop.get("stats")
            return (f"shop {stats['orders']:,} orders, fault {stats['fault']['mode']}; mirror "
                    f"{Order.objects.filter(store=store).count():,}; deliveries waiting "
                    f"{WebhookDelivery.objects.filter(state='received').count():,}; pushes unsent "
                    f"{StorePush.objects.filter(state__in=UNSENT).count():,}; Redis queue "
                    f"{redis.llen(support.QUEUE_KEY):,}; load {os.getloadavg()[0]:.2f}")

        while timeline.is_alive():
            timeline.join(timeout=0.25)
            if timeline.down_at is not None:  # staff work while the shop is failing, and on until it is back
                staff.work(store)
            tick()
        if timeline.error:
            raise timeline.error
        print(f"  shop back after {timeline.back_at - timeline.down_at:.1f} s down; staff: {dict(staff.counts)}; "
              f"{len(staff.todo):,} orders staff mean to change are not in the mirror yet", flush=True)
        deadline = time.perf_counter() + args.deadline

        def quiet():
            from fulfillment.models import WebhookDelivery

            tick()
            staff.work(store)
            return (shop.get("stats")["webhooks_idle"] and redis.llen(support.QUEUE_KEY) == 0
                    and not WebhookDelivery.objects.filter(state="received").exists())

        wait_until(quiet, deadline)
        skipped = len(staff.todo)
        reconcile = subprocess.run([sys.executable, str(support.ROOT / "manage.py"), "sync_store", SLUG],
                                   env=parts.env, cwd=support.ROOT, capture_output=True, text=True)
        print(f"  reconcile (manage.py sync_store {SLUG}) at {time.perf_counter() - started:.1f} s: "
              f"{(reconcile.stdout + reconcile.stderr).strip()}", flush=True)
        if reconcile.returncode:
            failures.append("the reconcile failed")

        def drained():
            from fulfillment.models import StorePush
            from fulfillment.services.outbox import UNSENT

            return quiet() and not StorePush.objects.filter(state__in=UNSENT).exists()

        caught_up = wait_until(drained, deadline)
        caught_up_at = time.perf_counter()
        wait_until(quiet, deadline)
        cpu1, pg1, shop1, busy1 = parts.cpu(), support._support.postgres_server_cpu(), shop.cpu(), \
            support.bench_submit.machine_busy()
        ours = time.process_time() - ours0
        if not caught_up:
            failures.append(f"the outbox did not drain within {args.deadline:g} s")
        figures, problems = compare(shop, store)
        failures += problems
        stats = shop.get("stats")
        machine = (busy1[0] - busy0[0]) / max(busy1[1] - busy0[1], 1)
        figures.update({
            "time to catch up": f"{caught_up_at - timeline.back_at:.1f} s after the shop came back "
                                f"(run {caught_up_at - started:.1f} s)",
            "CPU": f"qclusters {cpu1['qclusters'] - cpu0['qclusters']:.1f} s, gunicorn "
                   f"{cpu1['gunicorn'] - cpu0['gunicorn']:.1f} s, PostgreSQL (whole server) {pg1 - pg0:.1f} s, shop "
                   f"{shop1 - shop0:.1f} s, bench (staff) {ours:.1f} s; machine {100 * machine:.0f} % busy",
            "load average": f"{load0[0]:.2f} at the start, {max(loads):.2f} at most, {os.getloadavg()[0]:.2f} at "
                            f"the end",
        })
        from django_q.models import Failure

        failed_tasks = Counter(Failure.objects.values_list("func", flat=True))
        figures["task failures"] = (", ".join(f"{func.rsplit('.', 1)[-1]} {n}" for func, n in failed_tasks.items())
                                    or "none") + " (each one's work queued again by its watchdog or schedule)"
        w = stats["webhooks"]
        figures = {"orders": f"{args.orders:,} made in the shop; staff skipped {skipped:,} not mirrored yet",
                   "webhooks": f"{w['changes']:,} changes: {w['dropped']:,} dropped, {w['delivered']:,} delivered, "
                               f"{w['duplicated']:,} duplicated (shuffled); answers 2xx {w['answered_2xx']:,}, "
                               f"other {w['answered_other']:,}, unreachable {w['unreachable']:,}",
                   "faults": ", ".join(f"{k} {v:,}" for k, v in stats["faults"].items()),
                   "staff": ", ".join(f"{k} {v:,}" for k, v in sorted(staff.counts.items())), **figures}
        print(f"\n== shop_away: {args.orders:,} orders, {args.outage:g} s outage ==")
        for name, value in figures.items():
            print(f"  {name:<17}: {value}")
    finally:
        notes, errors = parts.stop()
        shop.stop()
        redis.flushdb()
        from django.db import connections

        connections.close_all()
        if not args.keep:
            support.drop_database(args.database)
        for line in errors:
            print(f"  {line}")
    for failure in failures:
        print(f"  FAILED: {failure}")
    print(f"  verdict          : {'every check passed' if not failures else 'PROBLEM (see above)'} "
          f"({time.perf_counter() - t_start:.0f} s in all)")
    return 1 if failures else 0


def compare(shop, store):
    """The mirror and the outbox against what the shop has: ({figure: text}, [failed check])."""
    from fulfillment.choices import PushKind, PushState, RefundState
    from fulfillment.models import Order, OrderLine, Refund, Shipment, StorePush
    from fulfillment.services.outbox import UNSENT
    from fulfillment.services.refunds import REFUND_META_KEY

    dump = shop.get("dump")
    orders = {int(k): v for k, v in dump["orders"].items()}
    mirror = {o.woo_id: o for o in Order.objects.filter(store=store).only("id", "woo_id", "status", "total")}
    lines = {}
    for woo_id, line_id, quantity, total in OrderLine.objects.filter(order__store=store).values_list(
            "order__woo_id", "woo_line_id", "quantity", "total"):
        lines.setdefault(woo_id, set()).add((line_id, quantity, Decimal(total)))
    refunds = {}
    for woo_id, refund_id, amount in Refund.objects.filter(order__store=store).exclude(
            state=RefundState.FAILED).values_list("order__woo_id", "woo_refund_id", "amount"):
        refunds.setdefault(woo_id, set()).add((refund_id, Decimal(amount)))
    differing = Counter()
    examples = []
    for woo_id, order in orders.items():
        ours = mirror.get(woo_id)
        what = []
        if ours is None:
            what.append("missing")
        else:
            if ours.status != order["status"]:
                what.append("status")
            if ours.total != Decimal(order["total"]):
                what.append("total")
            if lines.get(woo_id, set()) != {(i["id"], i["quantity"], Decimal(i["total"])) for i in order["line_items"]}:
                what.append("lines")
            if refunds.get(woo_id, set()) != {(r["id"], -Decimal(r["total"])) for r in order["refunds"]}:
                what.append("refunds")
        for name in what:
            differing[name] += 1
        if what and len(examples) < 5:
            examples.append(f"{woo_id}: {'/'.join(what)} (shop {order['status']} {order['total']}, ours "
                            f"{getattr(ours, 'status', '-')} {getattr(ours, 'total', '-')})")
    # notes: every note push sent is in the shop exactly once
    note_pushes = StorePush.objects.filter(store=store, kind=PushKind.NOTE).values_list("order__woo_id", "payload",
                                                                                        "state")
    shop_notes = Counter((int(k), n["note"]) for k, notes in dump["notes"].items() for n in notes)
    notes_missing = notes_double = 0
    for woo_id, payload, _state in note_pushes:
        found = shop_notes.get((woo_id, payload["note"]), 0)
        notes_missing += found == 0
        notes_double += max(found - 1, 0)
    ours_remote = Counter()
    for k, remote in dump["refunds"].items():
        for refund in remote:
            for meta in refund.get("meta_data") or []:
                if meta.get("key") == REFUND_META_KEY:
                    ours_remote[str(meta["value"])] += 1
    local_refunds = list(Refund.objects.filter(order__store=store, created_by__isnull=False).values_list("pk", flat=True))
    refunds_double = sum(max(n - 1, 0) for n in ours_remote.values())
    refunds_missing = sum(1 for pk in local_refunds if not ours_remote.get(str(pk)))
    trackings = Counter((int(k), t["tracking_number"]) for k, items in dump["trackings"].items() for t in items)
    shipments = list(Shipment.objects.filter(order__store=store).values_list("order__woo_id", "tracking_number"))
    tracking_double = sum(max(trackings.get(s, 0) - 1, 0) for s in shipments)
    tracking_missing = sum(1 for s in shipments if not trackings.get(s))
    status_pushes = Counter(StorePush.objects.filter(store=store, kind=PushKind.STATUS, state=PushState.SENT)
                            .values_list("order__woo_id", flat=True))
    puts = {int(k): n for k, n in dump["order_puts"].items()}
    repeated_puts = sum(max(puts.get(woo_id, 0) - n, 0) for woo_id, n in status_pushes.items())
    by_state = Counter(StorePush.objects.filter(store=store).values_list("state", flat=True))
    again = Counter(StorePush.objects.filter(store=store, attempts__gt=1).values_list("kind", flat=True))
    maybe = Counter(StorePush.objects.filter(store=store, maybe_sent=True).values_list("kind", flat=True))
    left = sum(n for state, n in by_state.items() if state in UNSENT or state == PushState.FAILED)
    orders_differing = sum(1 for woo_id, order in orders.items() if _differs(woo_id, order, mirror, lines, refunds))
    figures = {
        "pushes": ", ".join(f"{state} {n:,}" for state, n in sorted(by_state.items())) + "; by kind "
                  + ", ".join(f"{k} {n:,}" for k, n in sorted(Counter(StorePush.objects.filter(store=store)
                                                                        .values_list("kind", flat=True)).items())),
        "tried again": "pushes sent after an earlier attempt (looked up in the shop first where it counts): "
                       + (", ".join(f"{k} {n:,} ({maybe.get(k, 0):,} whose answer was lost)"
                                    for k, n in sorted(again.items())) or "none"),
        "doubles found": f"notes {notes_double}, refunds {refunds_double}, tracking items {tracking_double} (status "
                         f"PUTs sent again after a lost answer, harmless: {repeated_puts})",
        "missing in shop": f"notes {notes_missing}, refunds {refunds_missing}, tracking items {tracking_missing}",
        "orders differing": f"{orders_differing:,} of {len(orders):,}"
                            + (f" ({dict(differing)}; e.g. {'; '.join(examples)})" if orders_differing else ""),
    }
    problems = []
    if orders_differing:
        problems.append(f"{orders_differing} orders differ between the mirror and the shop")
    if notes_double or refunds_double or tracking_double:
        problems.append("something reached the shop twice")
    if notes_missing or refunds_missing or tracking_missing:
        problems.append("something we made never reached the shop")
    if left:
        problems.append(f"{left} pushes left in the outbox (unsent or failed)")
    return figures, problems


def _differs(woo_id, order, mirror, lines, refunds):
    ours = mirror.get(woo_id)
    return (ours is None or ours.status != order["status"] or ours.total != Decimal(order["total"])
            or lines.get(woo_id, set()) != {(i["id"], i["quantity"], Decimal(i["total"])) for i in order["line_items"]}
            or refunds.get(woo_id, set()) != {(r["id"], -Decimal(r["total"])) for r in order["refunds"]})


if __name__ == "__main__":
    sys.exit(main())
