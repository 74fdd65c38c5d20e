"""Invoices and credit notes: the store's rule and series, the locked counters, the issued documents.

An issued document never changes: its content is kept as the document it was issued as (`document`, the JSON of
accounting.documents.Document), from which its PDF and UBL are made again, byte for byte, whenever they are
downloaded. What may change afterwards is only what happened *to* it: exported, checked back, credited in full.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _, pgettext_lazy

from accounting.choices import DocumentKind, ExportState, InvoiceCause
from accounting.models.exports import normalise_statuses

MONEY = {"max_digits": 14, "decimal_places": 2}


def default_invoice_statuses():
    return ["processing", "completed"]


class InvoiceSeries(models.Model):
    """A numbering series of a store: `prefix` + the sequence padded to `digits`, e.g. 2026-000123."""

    store = models.ForeignKey("fulfillment.Store", on_delete=models.PROTECT, related_name="invoice_series",
                              verbose_name=_("store"))
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(
        _("prefix"), max_length=30, default="{year}-", blank=True,
        help_text=_("Put before the sequence; {year} is replaced by the year of the issue date, e.g. {year}- "
                    "gives 2026-000123, CN{year}- gives CN2026-000007."))
    digits = models.PositiveSmallIntegerField(_("digits"), default=6,
                                              help_text=_("The sequence is padded with zeros to this many digits."))
    yearly_reset = models.BooleanField(_("starts again at 1 every year"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("invoice series")
        verbose_name_plural = pgettext_lazy("plural", "invoice series")
        ordering = ["store__name", "name"]
        constraints = [models.UniqueConstraint(fields=["store", "prefix"], name="invoiceseries_store_prefix_uniq")]

    def __str__(self):
        return f"{self.store}: {self.name}"

    def clean(self):
        super().clean()
        if not 1 <= (self.digits or 0) <= 12:
            raise ValidationError({"digits": _("Between 1 and 12 digits.")})
        if self.yearly_reset and "{year}" not in (self.prefix or ""):
            # 2026-000001 and 2027-000001 are two numbers; 000001 twice is one number used twice.
            raise ValidationError({"prefix": _("A series that starts again every year needs {year} in its prefix, "
                                               "or its numbers would repeat.")})

    def counter_year(self, issue_date):
        return issue_date.year if self.yearly_reset else 0

    def format(self, sequence, issue_date):
        return f"{(self.prefix or '').replace('{year}', str(issue_date.year))}{sequence:0{self.digits}d}"


class InvoiceCounter(models.Model):
    """The last sequence taken in a series (per year when it starts again yearly); its row is the numbering lock."""

    series = models.ForeignKey(InvoiceSeries, on_delete=models.CASCADE, related_name="counters")
    year = models.PositiveSmallIntegerField(default=0)  # 0: a series that never starts again
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["series", "year"], name="invoicecounter_series_year_uniq")]

    def __str__(self):
        return f"{self.series} {self.year or ''} → {self.last}"


class InvoiceRule(models.Model):
    """When a store's orders get an invoice, in which series, and the seller's details printed on it."""

    store = models.OneToOneField("fulfillment.Store", on_delete=models.CASCADE, related_name="invoice_rule",
                                 verbose_name=_("store"))
    enabled = models.BooleanField(_("enabled"), default=True)
    statuses = models.JSONField(
        _("statuses that issue the invoice"), default=default_invoice_statuses,
        help_text=_("WooCommerce status slugs, e.g. processing, completed."))
    invoice_series = models.ForeignKey(InvoiceSeries, on_delete=models.PROTECT, related_name="+",
                                       verbose_name=_("invoice series"))
    credit_note_series = models.ForeignKey(
        InvoiceSeries, on_delete=models.PROTECT, related_name="+", null=True, blank=True,
        verbose_name=_("credit note series"), help_text=_("Blank: credit notes are numbered in the invoice series."))
    seller_name = models.CharField(_("seller's legal name"), max_length=200)
    seller_street = models.CharField(_("street and number"), max_length=200)
    seller_postcode = models.CharField(_("postcode"), max_length=20)
    seller_city = models.CharField(_("city"), max_length=100)
    seller_country = models.CharField(_("country"), max_length=2, help_text=_("ISO code, e.g. NL."))
    seller_vat_id = models.CharField(_("VAT number"), max_length=20, help_text=_("With the country code, e.g. "
                                                                                 "NL854091798B01."))
    seller_email = models.EmailField(_("email"), blank=True)
    logo = models.ImageField(_("logo"), upload_to="invoice-logos/", blank=True)
    language = models.CharField(
        _("language of the documents"), max_length=8, blank=True,
        choices=[("en", "English"), ("nl", "Nederlands"), ("fr", "Français"), ("es", "Español"), ("it", "Italiano")],
        help_text=_("Blank: the store's language."))
    note = models.TextField(_("text under the lines"), blank=True,
                            help_text=_("E.g. the chamber of commerce number and the bank account."))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("invoice rule")
        verbose_name_plural = _("invoice rules")
        ordering = ["store__name"]

    def __str__(self):
        return str(self.store)

    def clean(self):
        super().clean()
        self.statuses = normalise_statuses(self.statuses)
        self.seller_country = (self.seller_country or "").strip().upper()
        self.seller_vat_id = "".join((self.seller_vat_id or "").split()).upper()
        for series in (self.invoice_series if self.invoice_series_id else None,
                       self.credit_note_series if self.credit_note_series_id else None):
            if series is not None and self.store_id and series.store_id != self.store_id:
                raise ValidationError(_("The series %(series)s belongs to another store.") % {"series": series})

    @property
    def credit_series(self):
        return self.credit_note_series if self.credit_note_series_id else self.invoice_series


class Invoice(models.Model):
    """An issued invoice or credit note: numbered once, never changed."""

    store = models.ForeignKey("fulfillment.Store", on_delete=models.PROTECT, related_name="invoices",
                              verbose_name=_("store"))
    order = models.ForeignKey("fulfillment.Order", on_delete=models.PROTECT, related_name="invoices",
                              verbose_name=_("order"))
    kind = models.CharField(_("kind"), max_length=16, choices=DocumentKind.choices)
    cause = models.CharField(_("cause"), max_length=16, choices=InvoiceCause.choices)
    series = models.ForeignKey(InvoiceSeries, on_delete=models.PROTECT, related_name="invoices",
                               verbose_name=_("series"))
    year = models.PositiveSmallIntegerField(default=0)
    sequence = models.PositiveIntegerField()
    number = models.CharField(_("number"), max_length=50)
    corrects = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="credit_notes",
                                 verbose_name=_("corrects invoice"))
    # The refund a credit note books, by WooCommerce's id: our own copy of a refund may be replaced by the mirror's.
    woo_refund_id = models.BigIntegerField(null=True, blank=True)
    issue_date = models.DateField(_("issue date"))
    supply_date = models.DateField(_("date of supply"), null=True, blank=True)
    currency = models.CharField(_("currency"), max_length=3)
    net_total = models.DecimalField(_("total excl. VAT"), **MONEY)
    vat_total = models.DecimalField(_("VAT"), **MONEY)
    gross_total = models.DecimalField(_("total incl. VAT"), **MONEY)
    buyer_name = models.CharField(_("customer"), max_length=200, blank=True)
    buyer_country = models.CharField(_("country"), max_length=2, blank=True)
    buyer_vat_id = models.CharField(_("customer's VAT number"), max_length=20, blank=True)
    reverse_charge = models.BooleanField(_("reverse charge"), default=False)
    language = models.CharField(_("language"), max_length=8, default="en")
    document = models.JSONField(_("document as issued"))
    # An invoice credited in full (an order cancelled, a correction): the order may get a new one.
    credited = models.BooleanField(_("credited in full"), default=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name=_("issued by"))
    # The export to the accounting system and its check back.
    export_state = models.CharField(_("export"), max_length=16, choices=ExportState.choices, default=ExportState.OPEN)
    export_error = models.TextField(_("export error"), blank=True)
    export_attempts = models.PositiveIntegerField(_("export attempts"), default=0)
    external_id = models.CharField(_("id in the accounting system"), max_length=100, blank=True)
    exported_at = models.DateTimeField(_("exported"), null=True, blank=True)
    export_retry_at = models.DateTimeField(null=True, blank=True)
    # A worker exporting it holds it until then (no second worker books it meanwhile).
    export_claimed_until = models.DateTimeField(null=True, blank=True)
    # The 5-minute job's copies of its export task since a worker last took it (invoice_exports.invoices_export_due):
    # each waits twice as long as the one before, so a backlog is not queued again in full at every run.
    export_requeues = models.PositiveIntegerField(default=0)
    export_requeue_after = models.DateTimeField(null=True, blank=True)
    # After an attempt whose answer was lost: look the invoice up before creating it again.
    export_may_exist = models.BooleanField(default=False)
    checked_at = models.DateTimeField(_("checked back"), null=True, blank=True)
    check_error = models.TextField(_("difference found by the check"), blank=True)
    woo_meta_pushed = models.BooleanField(default=False)

    class Meta:
        verbose_name = pgettext_lazy("model", "invoice")
        verbose_name_plural = _("invoices and credit notes")
        ordering = ["-issue_date", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["series", "year", "sequence"], name="invoice_series_sequence_uniq"),
            models.UniqueConstraint(fields=["store", "number"], name="invoice_store_number_uniq"),
            # At most one invoice of an order is in force: the next one needs a credit note for the last.
            models.UniqueConstraint(fields=["order"], condition=Q(kind="invoice", credited=False),
                                    name="invoice_one_in_force_uniq"),
            models.UniqueConstraint(fields=["order", "woo_refund_id"], condition=Q(cause="refund"),
                                    name="invoice_one_credit_note_per_refund_uniq"),
            models.UniqueConstraint(fields=["corrects"], condition=Q(cause__in=["cancel", "correction"]),
                                    name="invoice_one_full_credit_uniq"),
        ]
        indexes = [
            models.Index(fields=["store", "issue_date"], name="invoice_store_date_idx"),
            models.Index(fields=["export_state", "store"], name="invoice_export_state_idx"),
            models.Index(fields=["issue_date", "id"], name="invoice_date_id_idx"),
        ]

    def __str__(self):
        return self.number

    @property
    def is_credit_note(self):
        return self.kind == DocumentKind.CREDIT_NOTE

    @property
    def file_stem(self):
        return "".join(c if c.isalnum() or c in "-_" else "_" for c in self.number)


class InvoiceProblem(models.Model):
    """Why an order's invoice or credit note is not issued (yet): shown on the order page and the Open list."""

    order = models.ForeignKey("fulfillment.Order", on_delete=models.CASCADE, related_name="invoice_problems")
    # "invoice", "refund:<WooCommerce refund id>", "cancel"
    key = models.CharField(max_length=40)
    reason = models.TextField(_("reason"))
    attempts = models.PositiveIntegerField(default=1)
    first_at = models.DateTimeField(auto_now_add=True)
    last_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("invoice not issued")
        verbose_name_plural = _("invoices not issued")
        constraints = [models.UniqueConstraint(fields=["order", "key"], name="invoiceproblem_order_key_uniq")]

    def __str__(self):
        return f"{self.order_id} {self.key}: {self.reason[:60]}"


class VatCheck(models.Model):
    """What VIES answered about a VAT number: the proof kept for a reverse-charged invoice."""

    vat_id = models.CharField(_("VAT number"), max_length=20, unique=True)
    valid = models.BooleanField(_("valid"))
    name = models.CharField(_("name"), max_length=300, blank=True)
    address = models.TextField(_("address"), blank=True)
    checked_at = models.DateTimeField(_("checked"))
    request_identifier = models.CharField(max_length=100, blank=True)

    class Meta:
        verbose_name = _("VAT number check")
        verbose_name_plural = _("VAT number checks")

    def __str__(self):
        return f"{self.vat_id}: {'valid' if self.valid else 'invalid'}"
