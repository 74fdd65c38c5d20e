"""The order page of the admin: everything about one order, and the staff actions, each a service call."""

import secrets
from datetime import date
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _

from backoffice.list_tools import STORE_PARAM
from backoffice.numbers import whole_number
from fulfillment import carriers, extensions, selectors
from fulfillment.choices import status_label
from fulfillment.errors import OrderActionError
from fulfillment.forms import AddressForm, NoteForm, StatusForm, TrackingForm
from fulfillment.integrations.woocommerce.client import WooError
from fulfillment.models import Order
from fulfillment.money import currency_decimals, quantize
from fulfillment.selectors import (
    NOT_COUNTING,
    countdown_display,
    customer_history,
    left_to_ship,
    order_charges,
    refundable_items,
    refunds_for_page,
    shipped_quantities,
)
from fulfillment.selectors.customers import CUSTOMER_PARAM
from fulfillment.services.orders import (
    ADDRESS_FIELDS,
    clean_form_token,
    order_add_note,
    order_change_status,
    order_send_details,
    order_update_shipping_address,
    order_woo_notes,
)
from fulfillment.services.production import production_plan
from fulfillment.services.push_dispatch import push_may_retry
from fulfillment.services.refund_lines import refund_lines_refresh
from fulfillment.services.refunds import order_refund
from fulfillment.services.submissions import (
    SubmissionError,
    order_reprint,
    order_submit,
    submission_cancel,
    submission_retry,
)
from fulfillment.services.tracking import completion_warning, shipment_add, shipment_may_complete

# action name → (permission, handler method name)
ACTIONS = {
    "status": "fulfillment.change_order_status",
    "note": "fulfillment.add_order_note",
    "send_details": "fulfillment.add_order_note",
    "address": "fulfillment.change_order_address",
    "refund": "fulfillment.refund_order",
    "tracking": "fulfillment.add_tracking",
    "submit": "fulfillment.submit_order",
    "reprint": "fulfillment.submit_order",
    "retry_submission": "fulfillment.submit_order",
    "cancel_submission": "fulfillment.submit_order",
}


def labelled_errors(errors, labels):
    """A refused action's messages, each after the label of its field or line: staff never see our keys."""
    return [f"{labels[key]}: {message}" if key in labels else str(message) for key, message in errors.items()]


def _by_line(posted, prefix):
    """{line id: value} of the posted fields named <prefix><line id>; a name without an id of ours is ignored."""
    found = {}
    for key, value in posted.items():
        line_id = whole_number(key[len(prefix):]) if key.startswith(prefix) else None
        if line_id is not None:
            found[line_id] = value
    return found


def _bound_form(form_class, posted, errors, **kwargs):
    """The posted form again, with the service's messages on its fields too (a form alone cannot know the rules)."""
    form = form_class(posted, **kwargs)
    if form.is_valid():
        for name, message in errors.items():
            if name in form.fields:
                form.add_error(name, message)
    return form


class OrderPageMixin:
    """Replaces the admin's change form of Order with the order page and its action endpoints."""

    def get_urls(self):
        panel_urls = [url for panel in extensions.order_page_panels() for url in panel.urls(self)]
        return [
            path("<int:pk>/action/<str:action>/", self.admin_site.admin_view(self.action_view),
                 name="fulfillment_order_action"),
            path("<int:pk>/woocommerce-notes/", self.admin_site.admin_view(self.woo_notes_view),
                 name="fulfillment_order_woo_notes"),
            *panel_urls,
        ] + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        order = get_object_or_404(Order, pk=object_id)
        return self.render_order_page(request, order)

    def woo_notes_view(self, request, pk):
        """WooCommerce's own notes of the order, as a fragment the order page loads after it is shown."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        order = get_object_or_404(Order.objects.select_related("store"), pk=pk)
        try:
            notes, error = order_woo_notes(order=order), ""
        except WooError as exc:
            notes, error = [], _("WooCommerce did not give the notes: %(error)s") % {"error": exc}
        return TemplateResponse(request, "admin/fulfillment/order/_woo_notes.html",
                                {"notes": notes, "error": error, "zone": order.store.timezone},
                                status=200 if not error else 502)

    def action_view(self, request, pk, action):
        if action not in ACTIONS:
            raise PermissionDenied
        if not request.user.has_perm(ACTIONS[action]):
            raise PermissionDenied
        if request.method != "POST":
            return redirect(reverse("admin:fulfillment_order_change", args=[pk]))
        order = get_object_or_404(Order.objects.select_related("store"), pk=pk)
        handler = getattr(self, f"do_{action}")
        try:
            message = handler(request, order)
        except OrderActionError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return self.render_order_page(request, order, failed_action=action, errors=exc.errors, status=400)
        self.message_user(request, message, messages.SUCCESS)
        return redirect(reverse("admin:fulfillment_order_change", args=[pk]))

    # -- actions: parse the form, call one service -------------------------------------------

    def _form(self, form, request):
        if not form.is_valid():
            errors = {name: " ".join(errs) for name, errs in form.errors.items()}
            raise OrderActionError(_("Please correct the fields marked below."), errors)
        return form.cleaned_data

    def do_status(self, request, order):
        statuses = [(s, status_label(s)) for s in sorted(order.allowed_statuses())]
        data = self._form(StatusForm(request.POST, statuses=statuses), request)
        order_change_status(order=order, status=data["status"], user=request.user, note=data["note"])
        return _("Status changed to %(status)s; WooCommerce will be told.") % {"status": status_label(data["status"])}

    def do_note(self, request, order):
        data = self._form(NoteForm(request.POST), request)
        order_add_note(order=order, note=data["note"], customer_note=data["customer_note"], user=request.user)
        return _("Note sent to the customer.") if data["customer_note"] else _("Private note added.")

    def do_send_details(self, request, order):
        order_send_details(order=order, user=request.user)
        return _("WooCommerce will email the order details to the customer.")

    def do_address(self, request, order):
        data = self._form(AddressForm(request.POST), request)
        order_update_shipping_address(order=order, address=data, user=request.user)
        return _("Shipping address corrected; WooCommerce will be told.")

    def do_refund(self, request, order):
        amounts = _by_line(request.POST, "amount_")
        quantities = _by_line(request.POST, "quantity_")
        refund = order_refund(order=order, amounts=amounts, quantities=quantities,
                              reason=request.POST.get("reason", ""), restock=request.POST.get("restock") == "on",
                              api_refund=request.POST.get("api_refund") == "on", user=request.user,
                              token=request.POST.get("token", ""))
        return _("Refund of %(amount)s recorded; it is being sent to WooCommerce.") % {
            "amount": f"{quantize(refund.amount, order.currency)} {order.currency}"}

    def do_tracking(self, request, order):
        data = self._form(TrackingForm(request.POST), request)
        lines = {line_id: value or "0" for line_id, value in _by_line(request.POST, "ship_").items()}
        shipment = shipment_add(order=order, carrier=data["carrier"], tracking_number=data["tracking_number"],
                                tracking_link=data["tracking_link"], shipped_on=data["shipped_on"], lines=lines,
                                user=request.user, token=request.POST.get("token", ""),
                                confirm_complete=data["confirm_complete"])
        return _("Shipment %(number)s recorded; the customer will get the tracking number.") % {
            "number": shipment.tracking_number}

    def do_submit(self, request, order):
        try:
            submissions = order_submit(order=order, user=request.user)
        except SubmissionError as exc:
            raise OrderActionError(_("Not submitted: %(why)s") % {"why": exc}) from None
        return _("Queued for %(providers)s.") % {"providers": ", ".join(s.provider.name for s in submissions)}

    def do_reprint(self, request, order):
        try:
            submissions = order_reprint(order=order, reason=request.POST.get("reason", ""), user=request.user)
        except SubmissionError as exc:
            raise OrderActionError(str(exc), {"reason": str(exc)}) from None
        return _("Reprint queued for %(providers)s.") % {"providers": ", ".join(s.provider.name for s in submissions)}

    def _submission(self, request, order):
        submission_id = request.POST.get("submission", "")
        submission = order.submissions.filter(pk=whole_number(submission_id) or 0).first()
        if submission is None:
            raise OrderActionError(_("That submission does not belong to this order."))
        return submission

    def do_retry_submission(self, request, order):
        try:
            submission_retry(submission=self._submission(request, order), user=request.user)
        except SubmissionError as exc:
            raise OrderActionError(str(exc)) from None
        return _("Submission queued again.")

    def do_cancel_submission(self, request, order):
        try:
            submission_cancel(submission=self._submission(request, order), user=request.user)
        except SubmissionError as exc:
            raise OrderActionError(str(exc)) from None
        return _("Submission cancelled.")

    # -- the page ------------------------------------------------------------------------------

    def render_order_page(self, request, order, *, failed_action=None, errors=None, status=200):
        order = selectors.order_for_page(order.pk)
        user = request.user
        posted = request.POST if failed_action else None
        statuses = [(s, status_label(s)) for s in sorted(order.allowed_statuses())]
        items = refundable_items(order)
        for item in items:
            item.posted_quantity = (posted or {}).get(f"quantity_{item.id}", "") if failed_action == "refund" else ""
            item.posted_amount = (posted or {}).get(f"amount_{item.id}", "") if failed_action == "refund" else ""
            item.quantity_error = (errors or {}).get(f"quantity_{item.id}", "") if failed_action == "refund" else ""
            item.amount_error = (errors or {}).get(f"amount_{item.id}", "") if failed_action == "refund" else ""
        shipped = shipped_quantities(order)
        to_ship = left_to_ship(order, shipped)
        charges = order_charges(order)
        history = customer_history(order)
        order_lines = list(order.lines.all())
        error_labels = {}
        if failed_action == "address":
            error_labels = {name: field.label for name, field in AddressForm.base_fields.items()}
        elif failed_action == "tracking":
            error_labels = {name: field.label for name, field in TrackingForm.base_fields.items()}
            # The shipment's quantities are keyed by line: name the line, as it reads in the table above.
            error_labels.update({f"quantity_{line.woo_line_id}": " · ".join(p for p in (line.name, line.variation) if p)
                                 for line in order_lines})
        # Shown beside the box to tick (with the warning it repeats), not once more above the form's button.
        summary = {key: message for key, message in (errors or {}).items()
                   if not (failed_action == "tracking" and key == "confirm_complete")}
        lines_pending = any(r.lines_pending and r.state not in NOT_COUNTING for r in order.refunds.all())
        if lines_pending:
            # Quantities of a refund made in WooCommerce are not known yet: ask for them now rather than wait for the
            # mirror's next write of the order (the first fetch may have found the shop down).
            refund_lines_refresh(order=order)
        shipping_initial = {name: order.shipping.get(name, "") for name in ADDRESS_FIELDS}
        plan = production_plan(order, list(order.store.providers.filter(active=True).order_by("priority", "pk")))
        context = {
            **self.admin_site.each_context(request),
            "submissions": order.submissions.select_related("provider", "requested_by", "reprint_of")
            .order_by("-created_at"),
            "production_problems": plan.problems,
            "countdown": countdown_display(order),
            "opts": self.model._meta,
            "title": _("Order #%(number)s") % {"number": order.number},
            "order": order,
            "woo_order_url": order.store.woo_order_admin_url(order.woo_id),
            "lines": [
                {"line": line, "shipped": shipped.get(line.woo_line_id, 0), "to_ship": to_ship[line.woo_line_id],
                 # Nothing is pre-filled: a parcel of everything left completes the order, which staff confirm.
                 "ship_posted": (posted or {}).get(f"ship_{line.woo_line_id}", "") if failed_action == "tracking"
                 else ""}
                for line in order_lines
            ],
            "shipment_may_complete": shipment_may_complete(order) and any(v > 0 for v in to_ship.values()),
            "completion_warning": completion_warning(),
            "carrier_names": carriers.carrier_names(),
            "items": items,
            "refund_lines_pending": lines_pending,
            # One-time tokens: the same form posted twice makes one refund or shipment. A form shown again after
            # an error keeps its token (nothing was made with it), so correcting and sending it still works once.
            "refund_token": _form_token(posted, failed_action == "refund"),
            "tracking_token": _form_token(posted, failed_action == "tracking"),
            "decimals": currency_decimals(order.currency),
            "charges": charges,
            "refunds": refunds_for_page(order),
            "refunded": quantize(charges.refunded, order.currency),
            "remaining": quantize(charges.net, order.currency),
            "customer_history": history,
            "customer_orders_url": history and (
                reverse("admin:fulfillment_order_changelist") + "?"
                + urlencode({CUSTOMER_PARAM: history.key, STORE_PARAM: order.store_id})),
            "timeline": [{**entry, "can_retry": "push" in entry and push_may_retry(entry["push"], user)}
                         for entry in selectors.order_timeline(order)],
            "failed_action": failed_action,
            "errors": errors or {},
            "posted": posted,
            "can": {name: user.has_perm(perm) for name, perm in ACTIONS.items()},
            "status_form": StatusForm(posted if failed_action == "status" else None, statuses=statuses),
            "note_form": NoteForm(posted if failed_action == "note" else None),
            "error_messages": labelled_errors(summary, error_labels),
            "address_form": _bound_form(AddressForm, posted, errors or {}) if failed_action == "address"
            else AddressForm(initial=shipping_initial),
            "tracking_form": _bound_form(TrackingForm, posted, errors or {}) if failed_action == "tracking"
            else TrackingForm(initial={"shipped_on": date.today()}),
        }
        # What other apps show on the page (projects: each line's personalisation, Reprocess).
        context["order_panels"] = panels = extensions.order_page_panels()
        for panel in panels:
            context.update(panel.context(request, order, context))
        return TemplateResponse(request, "admin/fulfillment/order/order_page.html", context, status=status)


def _form_token(posted, same_form):
    try:
        token = clean_form_token((posted or {}).get("token", "") if same_form else "")
    except OrderActionError:
        token = ""  # a mangled token shown again would refuse the form for ever
    return token or secrets.token_urlsafe(16)
