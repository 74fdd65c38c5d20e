from functools import lru_cache

from django.db import models
from django.utils.translation import get_language, gettext_lazy as _


class OrderStatus(models.TextChoices):
    """WooCommerce's core statuses. Shops add their own: `Order.status` stores any slug."""

    PENDING = "pending", _("Pending payment")
    PROCESSING = "processing", _("Processing")
    ON_HOLD = "on-hold", _("On hold")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")
    REFUNDED = "refunded", _("Refunded")
    FAILED = "failed", _("Failed")
    # Block checkout drafts; WooCommerce deletes them daily.
    CHECKOUT_DRAFT = "checkout-draft", _("Draft")
    # Local pickup stores (WooCommerce 11.3+).
    READY_FOR_PICKUP = "ready-for-pickup", _("Ready for pickup")
    TRASH = "trash", _("Trash")


def choice_label(choices, value):
    """What `get_FOO_display()` shows for a stored value of a choices class (the value itself when unknown), from
    a table made once per choices class and language.

    Django's `get_FOO_display()` looks the value up with `make_hashable`, which hashes — and so translates — every
    lazy label of the class on each call: on an order page of 200 timeline entries (28 event types) that was a
    third of the page's CPU, and a fifth of a row of the order list.
    """
    return _labels(choices, get_language()).get(value, value)


@lru_cache(maxsize=256)
def _labels(choices, language):
    return {value: str(label) for value, label in choices.choices}


def status_label(slug):
    """The label of a core status, or the custom slug made readable."""
    try:
        return OrderStatus(slug).label
    except ValueError:
        return slug.replace("-", " ").replace("_", " ").capitalize()


class OrderType(models.TextChoices):
    IN_APP = "in_app", _("In-app")  # holds at least one product made in our editor
    AMAZON = "amazon", _("Amazon")
    SHINEON = "shineon", _("ShineOn")
    OTHER = "other", _("Other")


class SubmitStatus(models.TextChoices):
    # Blank (never submitted) is the empty string, as the list shows nothing for it.
    NONE = "", _("Not submitted")
    SUBMITTED = "submitted", _("Submitted")
    FAILED = "failed", _("Failed")


class EventType(models.TextChoices):
    CREATED = "created", _("Order received")
    STATUS_CHANGED = "status_changed", _("Status changed")
    NOTE_ADDED = "note_added", _("Note added")
    ADDRESS_CHANGED = "address_changed", _("Shipping address changed")
    REFUNDED = "refunded", _("Refunded")
    REFUNDED_IN_WOO = "refunded_in_woocommerce", _("Refunded in WooCommerce")
    ORDER_DETAILS = "order_details", _("Order details sent to the customer")
    TRASHED = "trashed", _("Moved to trash in WooCommerce")
    RESTORED = "restored", _("Restored in WooCommerce")
    SHIPPED = "shipped", _("Shipment recorded")
    SUBMISSION_QUEUED = "submission_queued", _("Submission queued")
    SUBMITTED = "submitted", _("Submitted to production")
    SUBMISSION_FAILED = "submission_failed", _("Submission failed")
    SUBMISSION_CANCELLED = "submission_cancelled", _("Submission cancelled")
    COUNTDOWN = "countdown", _("Automatic submission countdown")
    PUSH_SENT = "push_sent", _("Sent to WooCommerce")
    PUSH_FAILED = "push_failed", _("Sending to WooCommerce failed")
    PUSH_RETRIED = "push_retried", _("Sending to WooCommerce retried")
    PUSH_DISCARDED = "push_discarded", _("Push to WooCommerce discarded")
    # Written by the projects app: a line's personalisation project, its production file, reprocess.
    PROJECT_LINKED = "project_linked", _("Personalisation project linked")
    PROJECT_RENDERED = "project_rendered", _("Production file ready")
    RENDER_FAILED = "render_failed", _("Production file failed")
    REPROCESSED = "reprocessed", _("Reprocessed")
    # Written by the accounting app.
    ACCOUNTING_EXPORTED = "accounting_exported", _("Exported to accounting")
    ACCOUNTING_EXPORT_FAILED = "accounting_export_failed", _("Export to accounting failed")
    INVOICE = "invoice", _("Invoice or credit note")
    RESERVATION = "reservation", _("Supplier reservation")


class EventSource(models.TextChoices):
    STAFF = "staff", _("Staff")
    WEBHOOK = "webhook", _("WooCommerce webhook")
    IMPORT = "import", _("Import")
    RECONCILE = "reconcile", _("Reconcile")
    PUSH = "push", _("Push to WooCommerce")
    PROVIDER = "provider", _("Fulfillment provider")
    SUPPLIER = "supplier", _("Dropshipping supplier")
    COUNTDOWN = "countdown", _("Automatic submission")
    SYSTEM = "system", _("System")


class DeliveryState(models.TextChoices):
    RECEIVED = "received", _("Received")
    APPLIED = "applied", _("Applied")
    STALE = "stale", _("Older than stored data (ignored)")
    FAILED = "failed", _("Failed")


class ImportMode(models.TextChoices):
    ALL = "all", _("All orders")
    RANGE = "range", _("By date range")
    IDS = "ids", _("By IDs")


class RunState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class PushKind(models.TextChoices):
    STATUS = "status", _("Status")
    NOTE = "note", _("Note")
    ADDRESS = "address", _("Shipping address")
    REFUND = "refund", _("Refund")
    TRACKING = "tracking", _("Shipment tracking")
    ORDER_DETAILS = "order_details", _("Order details to the customer")  # WooCommerce emails them (9.5+)
    META = "meta", _("Order meta data")  # keys another app writes to the shop's order (the invoice number)


class PushState(models.TextChoices):
    PENDING = "pending", _("Waiting to be sent")
    SENDING = "sending", _("Sending")
    RETRYING = "retrying", _("Retrying")  # a retryable error; next_attempt_at says when
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")  # a terminal error: staff must look and retry by hand
    # A failed status or address push after which the same field of the order was pushed again: retrying it
    # would set WooCommerce back to older data.
    SUPERSEDED = "superseded", _("Superseded by a later change")
    # A failed push staff chose not to send: the order's later pushes it held go on without it.
    DISCARDED = "discarded", _("Discarded by staff")


class RefundState(models.TextChoices):
    MIRRORED = "mirrored", _("Made in WooCommerce")
    PENDING = "pending", _("Waiting to be sent to WooCommerce")
    PUSHED = "pushed", _("Sent to WooCommerce")
    FAILED = "failed", _("Refused by WooCommerce")


class ProviderKind(models.TextChoices):
    PRINTFUL = "printful", _("Printful-compatible API")
    FILE_DROP = "file_drop", _("File drop (in-house printing)")


class SubmissionState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SUBMITTING = "submitting", _("Submitting")
    SUBMITTED = "submitted", _("Submitted")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")
    REPRINTED = "reprinted", _("Replaced by a reprint")


# The fields of a shipping address staff correct, by their labels on the address form and in the timeline.
ADDRESS_LABELS = {
    "first_name": _("First name"), "last_name": _("Last name"), "company": _("Company"), "address_1": _("Address"),
    "address_2": _("Address line 2"), "postcode": _("Postcode"), "city": _("City"), "state": _("State / province"),
    "country": _("Country code"), "phone": _("Phone"),
}


class SupplierAuth(models.TextChoices):
    BASIC = "basic", _("HTTP Basic (API key and password)")
    BEARER = "bearer", _("Bearer token")


class ReservationStatus(models.TextChoices):
    """A reserved line as the supplier reports it, in the shop owner's words (the Rewix plugin's manual)."""

    BOOKED = "booked", _("Booked")  # reserved in the growing order, waiting for the shop's payment at the supplier
    CONFIRMED = "confirmed", _("Confirmed")  # paid, passed to logistics
    WORKING_ON = "working_on", _("Working on")
    READY = "ready", _("Ready")
    DISPATCHED = "dispatched", _("Dispatched")
    CANCELLED = "cancelled", _("Cancelled")
    PAYMENT_REFUSED = "payment_refused", _("Payment refused")
    RELEASED = "released", _("Released")  # ours: no longer needed by the shop (cancelled, refunded, removed)


class ReservationSync(models.TextChoices):
    IN_SYNC = "in_sync", _("In sync")
    WAITING = "waiting", _("Waiting")
    RETRYING = "retrying", _("Retrying")
    FAILED = "failed", _("Failed")
