import re

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounting.choices import Connector, ExportState

STATUS_SLUG = re.compile(r"^[a-z0-9_-]+$")


def default_statuses():
    return ["completed"]


class ExportRule(models.Model):
    """Which order statuses of a store send its orders to the accounting system, and through which connector."""

    store = models.OneToOneField("fulfillment.Store", on_delete=models.CASCADE, related_name="export_rule",
                                 verbose_name=_("store"))
    enabled = models.BooleanField(_("enabled"), default=True)
    # Any slug: shops register custom statuses ("shipped", "invoiced", ...) and may export on those.
    statuses = models.JSONField(
        _("statuses that export the order"), default=default_statuses,
        help_text=_("WooCommerce status slugs, e.g. completed, processing, or a custom status of the shop."),
    )
    connector = models.CharField(_("connector"), max_length=16, choices=Connector.choices, default=Connector.FILE)
    directory = models.CharField(
        _("directory"), max_length=500, blank=True,
        help_text=_("Where the file connector writes. Blank: the ACCOUNTING_EXPORT_DIR setting / the store's slug."),
    )
    # Moneybird: invoices and credit notes are booked there as external sales invoices. The token is a secret:
    # only the name of the environment variable holding it is kept here.
    moneybird_url = models.URLField(_("Moneybird API URL"), blank=True, default="https://moneybird.com/api/v2")
    moneybird_administration = models.CharField(_("Moneybird administration id"), max_length=40, blank=True)
    moneybird_token_env = models.CharField(
        _("environment variable with the Moneybird token"), max_length=100, blank=True,
        default="MONEYBIRD_API_TOKEN")
    moneybird_ledger_account = models.CharField(_("Moneybird revenue ledger account id"), max_length=40,
                                                blank=True)
    moneybird_tax_rates = models.JSONField(
        _("Moneybird tax rates by VAT rate"), default=dict, blank=True,
        help_text=_('Optional: Moneybird\'s tax rate id per VAT category and rate, e.g. {"S 21": "403123456789", '
                    '"AE 0": "403123456790"}; otherwise chosen by name and percentage.'))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("export rule")
        verbose_name_plural = _("export rules")
        ordering = ["store__name"]

    def __str__(self):
        return str(self.store)

    def clean(self):
        super().clean()
        self.statuses = normalise_statuses(self.statuses)
        self.directory = (self.directory or "").strip()
        if self.connector == Connector.MONEYBIRD:
            missing = {name: _("Required for Moneybird.") for name, value in (
                ("moneybird_url", self.moneybird_url), ("moneybird_administration", self.moneybird_administration),
                ("moneybird_token_env", self.moneybird_token_env)) if not (value or "").strip()}
            if missing:
                raise ValidationError(missing)
        if not isinstance(self.moneybird_tax_rates, dict):
            raise ValidationError({"moneybird_tax_rates": _("Give an object of VAT rate → tax rate id.")})


def normalise_statuses(statuses):
    """The rule's status slugs stripped, lower-case, without WooCommerce's internal "wc-" prefix, each once."""
    if isinstance(statuses, str):
        statuses = statuses.split(",")
    if not isinstance(statuses, (list, tuple)):
        raise ValidationError({"statuses": _("Give a list of status slugs.")})
    cleaned = []
    for status in statuses:
        slug = str(status or "").strip().lower()
        # WooCommerce stores "wc-completed" but its REST API, hence our orders, say "completed".
        slug = slug.removeprefix("wc-")
        if not slug:
            continue
        if not STATUS_SLUG.match(slug):
            raise ValidationError({"statuses": _("%(slug)s is not a status slug (letters, digits, '-' and '_').")
                                   % {"slug": slug}})
        if slug not in cleaned:
            cleaned.append(slug)
    if not cleaned:
        raise ValidationError({"statuses": _("Choose at least one status.")})
    return cleaned


class AccountingExport(models.Model):
    """The export of one order to the accounting system: open until its status matches, then exported or failed."""

    order = models.OneToOneField("fulfillment.Order", on_delete=models.CASCADE, related_name="accounting_export",
                                 verbose_name=_("order"))
    # The order's store, repeated: the dashboard counts and the list filters group by it without a join.
    store = models.ForeignKey("fulfillment.Store", on_delete=models.CASCADE, related_name="accounting_exports",
                              verbose_name=_("store"))
    state = models.CharField(_("state"), max_length=16, choices=ExportState.choices, default=ExportState.OPEN)
    error = models.TextField(_("error"), blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    reference = models.CharField(_("reference"), max_length=255, blank=True,
                                 help_text=_("What the accounting system knows the export by (the file name)."))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    exported_at = models.DateTimeField(_("exported"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("accounting export")
        verbose_name_plural = _("accounting exports")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["store", "state"], name="acctexport_store_state_idx")]

    def __str__(self):
        return _("Accounting export of order #%(number)s") % {"number": self.order.number}
