from django import forms
from django.utils.translation import gettext_lazy as _

from fulfillment.choices import ADDRESS_LABELS, ImportMode, OrderStatus
from fulfillment.countries import STATE_REQUIRED
from fulfillment.models import Store
from fulfillment.services.imports import ImportRequestError, parse_ids


class ImportForm(forms.Form):
    store = forms.ModelChoiceField(queryset=Store.objects.all(), label=_("Store"))
    mode = forms.ChoiceField(choices=ImportMode.choices, widget=forms.RadioSelect, initial=ImportMode.ALL,
                             label=_("Import"))
    since = forms.DateTimeField(required=False, label=_("From (UTC)"),
                                widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    until = forms.DateTimeField(required=False, label=_("To (UTC)"),
                                widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    ids = forms.CharField(required=False, label=_("Order IDs"), help_text=_("Separated by commas or spaces."))

    def clean(self):
        cleaned = super().clean()
        mode = cleaned.get("mode")
        if mode == ImportMode.RANGE:
            if not cleaned.get("since"):
                self.add_error("since", _("A date range needs a start."))
            elif cleaned.get("until") and cleaned["until"] <= cleaned["since"]:
                self.add_error("until", _("The end must come after the start."))
        if mode == ImportMode.IDS:
            try:
                cleaned["id_list"] = parse_ids(cleaned.get("ids") or "")
            except ImportRequestError as exc:
                self.add_error("ids", str(exc))
        return cleaned


class StatusForm(forms.Form):
    status = forms.ChoiceField(label=_("New status"))
    note = forms.CharField(label=_("Why (optional)"), required=False, max_length=500)
    confirm = forms.BooleanField(label=_("Yes, cancel this order"), required=False)

    def __init__(self, *args, statuses=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [("", _("— choose —")), *statuses]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("status") == "cancelled" and not cleaned.get("confirm"):
            self.add_error("confirm", _("Cancelling cannot be undone in the shop: tick the box to confirm."))
        return cleaned


class NoteForm(forms.Form):
    note = forms.CharField(label=_("Note"), widget=forms.Textarea(attrs={"rows": 3}), max_length=5000)
    customer_note = forms.BooleanField(label=_("Note to the customer (emailed by WooCommerce)"), required=False)


class AddressForm(forms.Form):
    first_name = forms.CharField(label=ADDRESS_LABELS["first_name"], max_length=100)
    last_name = forms.CharField(label=ADDRESS_LABELS["last_name"], max_length=100)
    company = forms.CharField(label=ADDRESS_LABELS["company"], max_length=100, required=False)
    address_1 = forms.CharField(label=ADDRESS_LABELS["address_1"], max_length=200)
    address_2 = forms.CharField(label=ADDRESS_LABELS["address_2"], max_length=200, required=False)
    # Not required here: some countries have none (the service knows which, see fulfillment/countries.py).
    postcode = forms.CharField(label=ADDRESS_LABELS["postcode"], max_length=20, required=False)
    city = forms.CharField(label=ADDRESS_LABELS["city"], max_length=100)
    state = forms.CharField(label=ADDRESS_LABELS["state"], max_length=100, required=False)
    country = forms.CharField(label=ADDRESS_LABELS["country"], max_length=2, min_length=2,
                              help_text=_("Two letters, e.g. NL, FR, IT, ES, GB."))
    phone = forms.CharField(label=ADDRESS_LABELS["phone"], max_length=40, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["state"].help_text = _("Required for %(countries)s.") % {
            "countries": ", ".join(sorted(STATE_REQUIRED))}


class TrackingForm(forms.Form):
    # A list to choose from, not a choice: a carrier we do not know is typed and gets the generic rule.
    carrier = forms.CharField(label=_("Carrier"), max_length=100,
                              widget=forms.TextInput(attrs={"list": "carrier-names", "autocomplete": "off"}))
    tracking_number = forms.CharField(label=_("Tracking number"), max_length=100)
    tracking_link = forms.URLField(label=_("Tracking link"), required=False, assume_scheme="https",
                                   help_text=_("Left empty for a carrier of the list: its tracking page."))
    shipped_on = forms.DateField(label=_("Shipped on"), widget=forms.DateInput(attrs={"type": "date"}))
    confirm_complete = forms.BooleanField(label=_("Yes, ship everything left and complete the order"),
                                          required=False)


class BulkStatusForm(forms.Form):
    status = forms.ChoiceField(label=_("New status"), choices=[(s.value, s.label) for s in OrderStatus
                                                                if s.value not in ("trash", "checkout-draft", "refunded")])
    note = forms.CharField(label=_("Why (optional)"), required=False, max_length=500)
    confirm = forms.BooleanField(label=_("Yes, cancel these orders"), required=False)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("status") == "cancelled" and not cleaned.get("confirm"):
            self.add_error("confirm", _("Cancelling cannot be undone in the shop: tick the box to confirm."))
        return cleaned
