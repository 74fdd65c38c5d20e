"""Order followers: the one call, inside the transaction of every change of an order, for what follows it.

Every path that changes an order calls `orders_changed` with what changed, inside the transaction that made
the change: staff on the order page and in bulk, the mirror (webhooks, imports, reconcile, the answer to a push),
refunds made here or in WooCommerce, a push WooCommerce refused, a provider's last shipment (through the status
change it makes). What follows an order registers here from its app's `AppConfig.ready()`, at a stated
position (docs/architecture.md lists them): not Django signals, so that which followers run, in which order,
and what happens when one fails is read in one place.

A follower's failure follows its rule:

- ROLLBACK: the error goes up and the change is rolled back with it. For followers whose writes are part of the
  order's own state (the countdown): the change's caller fails and is tried again as a whole (a webhook
  delivery is queued again by its watchdog, staff see the error).
- RETRY: the follower runs in a savepoint; its error is logged and recorded (a FollowerRetry row, Admin →
  Follower retries) and a schedule runs it again with the same changes until it succeeds, so the order's change
  is never held up by what follows it. Such a follower reads the orders' current state rather than trusting the
  change's `status_after`, and is safe to run twice (when one of several fails, the others are run again).
"""

import logging
import random
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from django.db import transaction
from django.utils import timezone

from fulfillment.models import FollowerRetry

logger = logging.getLogger("fulfillment.followers")

# A failed follower is run again after 1 min, doubling to at most 1 h: a bug fixed by a deploy, a lock timeout.
RETRY_FIRST_SECONDS = 60
RETRY_MAX_SECONDS = 3600
RETRY_BATCH = 100


class Changed(StrEnum):
    """What happened to an order (an OrderChange holds one or more)."""

    ARRIVED = "arrived"  # mirrored for the first time
    UPDATED = "updated"  # a new version from WooCommerce: lines, totals, addresses may differ
    STATUS = "status"  # its status changed (status_before → status_after)
    REFUND = "refund"  # a refund was made, mirrored, confirmed, refused or had its lines fetched (refund_ids)
    ADDRESS = "address"  # its shipping address was changed here (or given back after WooCommerce refused it)
    TRASHED = "trashed"
    RESTORED = "restored"


class OnFailure(StrEnum):
    ROLLBACK = "rollback"
    RETRY = "retry"


@dataclass(frozen=True, slots=True)
class OrderChange:
    order_id: int
    what: frozenset
    status_before: str | None = None  # None when the order arrived
    status_after: str = ""
    refund_ids: tuple = ()

    def as_json(self):
        return {"order_id": self.order_id, "what": sorted(self.what), "status_before": self.status_before,
                "status_after": self.status_after, "refund_ids": list(self.refund_ids)}

    @classmethod
    def from_json(cls, data):
        return cls(order_id=int(data["order_id"]), what=frozenset(Changed(w) for w in data["what"]),
                   status_before=data.get("status_before"), status_after=data.get("status_after") or "",
                   refund_ids=tuple(data.get("refund_ids") or ()))


@dataclass(frozen=True)
class OrderChanges:
    """A batch of changes from one source (a page of the mirror, one staff action), as a follower receives it."""

    changes: tuple
    source: str
    user_id: int | None = None

    def order_ids(self, *what):
        """The ids of the orders whose change holds any of `what` (all of them without `what`)."""
        return [c.order_id for c in self.changes if not what or c.what & set(what)]

    def status_changes(self):
        """[(order id, status before or None, status after)] of the changes that arrived or changed status."""
        return [(c.order_id, c.status_before, c.status_after) for c in self.changes
                if c.what & {Changed.ARRIVED, Changed.STATUS}]

    def refund_ids(self):
        return [pk for c in self.changes for pk in c.refund_ids]

    def only(self, what):
        """The changes holding any of `what`, as a batch (empty when none does)."""
        return OrderChanges(tuple(c for c in self.changes if c.what & what), self.source, self.user_id)


@dataclass(frozen=True)
class Follower:
    name: str
    follow: object  # callable(OrderChanges)
    position: int
    on_failure: OnFailure
    wants: frozenset = field(default_factory=frozenset)  # the Changed values it reacts to


_followers = {}


def register(name, follow, *, position, on_failure, wants):
    """Add what follows an order; call from an AppConfig.ready(). Registering a name again replaces it."""
    if not wants:
        raise ValueError(f"follower {name!r} must say which changes it follows")
    _followers[name] = Follower(name=name, follow=follow, position=position, on_failure=OnFailure(on_failure),
                                wants=frozenset(Changed(w) for w in wants))


def followers():
    """The registered followers, in the order they run."""
    return sorted(_followers.values(), key=lambda f: (f.position, f.name))


def orders_changed(changes, *, source, user=None):
    """Tell every follower what changed; call inside the transaction of the change, after writing it."""
    changes = tuple(c for c in changes if c.what)
    if not changes:
        return
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("orders_changed must be called inside the transaction of the change")
    batch = OrderChanges(changes, str(source), getattr(user, "pk", None))
    retried = []
    for follower in followers():
        if follower.on_failure == OnFailure.RETRY:
            retried.append(follower)
            continue
        _run_retried(retried, batch)
        retried = []
        part = batch.only(follower.wants)
        if part.changes:
            follower.follow(part)
    _run_retried(retried, batch)


def _run_retried(retried, batch):
    """Followers that are retried on failure, one savepoint for the lot (two statements per batch, not two each).

    Only if one of them fails are they run again one savepoint each, to keep what the others did and record the
    one that failed.
    """
    parts = [(follower, batch.only(follower.wants)) for follower in retried]
    parts = [(follower, part) for follower, part in parts if part.changes]
    if not parts:
        return
    try:
        with transaction.atomic():
            for follower, part in parts:
                follower.follow(part)
        return
    except Exception:  # noqa: BLE001 - rolled back to the savepoint: found and recorded below
        pass
    for follower, part in parts:
        try:
            with transaction.atomic():
                follower.follow(part)
        except Exception as exc:  # noqa: BLE001 - whatever it was, the order's change stands and this is retried
            logger.exception("follower %s failed for orders %s; recorded to be retried", follower.name,
                             part.order_ids()[:20])
            FollowerRetry.objects.create(
                follower=follower.name, source=part.source, user_id=part.user_id,
                changes=[c.as_json() for c in part.changes], error=f"{type(exc).__name__}: {exc}"[:2000],
                next_attempt_at=timezone.now() + timedelta(seconds=_backoff(1)))


def _backoff(attempts):
    delay = min(RETRY_FIRST_SECONDS * 2 ** max(attempts - 1, 0), RETRY_MAX_SECONDS)
    return delay * (1 + random.random() / 10)


def followers_retry_due(*, now=None):
    """Run again the followers that failed and are due; returns (succeeded, failed again)."""
    now = now or timezone.now()
    succeeded = failed = 0
    ids = list(FollowerRetry.objects.filter(next_attempt_at__lte=now).order_by("next_attempt_at", "pk")
               .values_list("pk", flat=True)[:RETRY_BATCH])
    for retry_id in ids:
        if _retry_one(retry_id):
            succeeded += 1
        else:
            failed += 1
    return succeeded, failed


def _retry_one(retry_id):
    with transaction.atomic():
        # skip_locked: another worker is running it now.
        retry = FollowerRetry.objects.select_for_update(skip_locked=True).filter(pk=retry_id).first()
        if retry is None:
            return True
        follower = _followers.get(retry.follower)
        batch = OrderChanges(tuple(OrderChange.from_json(c) for c in retry.changes), retry.source, retry.user_id)
        try:
            if follower is None:
                raise LookupError(f"no follower named {retry.follower!r} is registered any more")
            with transaction.atomic():
                follower.follow(batch)
        except Exception as exc:  # noqa: BLE001 - recorded, tried again later
            retry.attempts += 1
            retry.error = f"{type(exc).__name__}: {exc}"[:2000]
            retry.next_attempt_at = timezone.now() + timedelta(seconds=_backoff(retry.attempts))
            retry.save(update_fields=["attempts", "error", "next_attempt_at"])
            logger.warning("follower %s failed again (attempt %s): %s", retry.follower, retry.attempts, exc)
            return False
        retry.delete()
        logger.info("follower %s caught up on orders %s", retry.follower, batch.order_ids()[:20])
        return True
