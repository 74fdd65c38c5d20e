"""The order page of the admin: everything about one order, and the staff actions, each a service call."""

from datetime import date

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _

from fulfillment import selectors
from fulfillment.choices import status_label
from fulfillment.forms import AddressForm, NoteForm, StatusForm, TrackingForm
from fulfillment.models import Order
from fulfillment.money import currency_decimals, quantize
from fulfillment.services.orders import (
    ADDRESS_FIELDS,
    OrderActionError,
    allowed_statuses,
    order_add_note,
    order_change_status,
    order_update_shipping_address,
)
from fulfillment.services.outbox import push_may_retry
from fulfillment.services.refunds import order_refund, refundable_items, refunded_so_far
from fulfillment.services.production import production_plan
from fulfillment.services.submissions import (
    SubmissionError,
    order_reprint,
    order_submit,
    submission_cancel,
    submission_retry,
)
from fulfillment.services.tracking import shipment_add, shipped_quantities
from fulfillment.selectors import countdown_display

# action name → (permission, handler method name)
ACTIONS = {
    "status": "fulfillment.change_order_status",
    "note": "fulfillment.add_order_note",
    "address": "fulfillment.change_order_address",
    "refund": "fulfillment.refund_order",
    "tracking": "fulfillment.add_tracking",
    "submit": "fulfillment.submit_order",
    "reprint": "fulfillment.submit_order",
    "retry_submission": "fulfillment.submit_order",
    "cancel_submission": "fulfillment.submit_order",
}


class OrderPageMixin:
    """Replaces the admin's change form of Order with the order page and its action endpoints."""

    def get_urls(self):
        return [
            path("<int:pk>/action/<str:action>/", self.admin_site.admin_view(self.action_view),
                 name="fulfillment_order_action"),
        ] + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        order = get_object_or_404(Order, pk=object_id)
        return self.render_order_page(request, order)

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
        statuses = [(s, status_label(s)) for s in sorted(allowed_statuses(order))]
        data = self._form(StatusForm(request.POST, statuses=statuses), request)
        order_change_status(order=order, status=data["status"], user=request.user, note=data["note"])
        return _("Status changed to %(status)s; WooCommerce will be told.") % {"status": status_label(data["status"])}

    def do_note(self, request, order):
        data = self._form(NoteForm(request.POST), request)
        order_add_note(order=order, note=data["note"], customer_note=data["customer_note"], user=request.user)
        return _("Note sent to the customer.") if data["customer_note"] else _("Private note added.")

    def do_address(self, request, order):
        data = self._form(AddressForm(request.POST), request)
        order_update_shipping_address(order=order, address=data, user=request.user)
        return _("Shipping address corrected; WooCommerce will be told.")

    def do_refund(self, request, order):
        amounts = {int(k.split("_", 1)[1]): v for k, v in request.POST.items()
                   if k.startswith("amount_") and k.split("_", 1)[1].isdigit()}
        quantities = {int(k.split("_", 1)[1]): v for k, v in request.POST.items()
                      if k.startswith("quantity_") and k.split("_", 1)[1].isdigit()}
        refund = order_refund(order=order, amounts=amounts, quantities=quantities,
                              reason=request.POST.get("reason", ""), restock=request.POST.get("restock") == "on",
                              api_refund=request.POST.get("api_refund") == "on", user=request.user)
        return _("Refund of %(amount)s recorded; it is being sent to WooCommerce.") % {
            "amount": f"{quantize(refund.amount, order.currency)} {order.currency}"}

    def do_tracking(self, request, order):
        data = self._form(TrackingForm(request.POST), request)
        lines = {int(k.split("_", 1)[1]): v or "0" for k, v in request.POST.items()
                 if k.startswith("ship_") and k.split("_", 1)[1].isdigit()}
        shipment = shipment_add(order=order, carrier=data["carrier"], tracking_number=data["tracking_number"],
                                tracking_link=data["tracking_link"], shipped_on=data["shipped_on"], lines=lines,
                                user=request.user)
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
        submission = order.submissions.filter(pk=int(submission_id) if submission_id.isdigit() else 0).first()
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
        statuses = [(s, status_label(s)) for s in sorted(allowed_statuses(order))]
        items = refundable_items(order)
        for item in items:
            item.posted_quantity = (posted or {}).get(f"quantity_{item.id}", "") if failed_action == "refund" else ""
            item.posted_amount = (posted or {}).get(f"amount_{item.id}", "") if failed_action == "refund" else ""
            item.quantity_error = (errors or {}).get(f"quantity_{item.id}", "") if failed_action == "refund" else ""
            item.amount_error = (errors or {}).get(f"amount_{item.id}", "") if failed_action == "refund" else ""
        shipped = shipped_quantities(order)
        refunded = refunded_so_far(order)
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
            "lines": [
                {"line": line, "shipped": shipped.get(line.woo_line_id, 0),
                 "to_ship": max(line.quantity - shipped.get(line.woo_line_id, 0), 0)}
                for line in order.lines.all()
            ],
            "items": items,
            "decimals": currency_decimals(order.currency),
            "refunded": quantize(refunded, order.currency),
            "remaining": quantize(order.total - refunded, order.currency),
            "timeline": [{**entry, "can_retry": "push" in entry and push_may_retry(entry["push"], user)}
                         for entry in selectors.order_timeline(order)],
            "failed_action": failed_action,
            "errors": errors or {},
            "posted": posted,
            "can": {name: user.has_perm(perm) for name, perm in ACTIONS.items()},
            "status_form": StatusForm(posted if failed_action == "status" else None, statuses=statuses),
            "note_form": NoteForm(posted if failed_action == "note" else None),
            "address_form": AddressForm(posted if failed_action == "address" else None, initial=shipping_initial),
            "tracking_form": TrackingForm(posted if failed_action == "tracking" else None,
                                          initial={"shipped_on": date.today()}),
            "raw_lines": {
                "shipping": order.raw.get("shipping_lines") or [], "fees": order.raw.get("fee_lines") or [],
                "coupons": order.raw.get("coupon_lines") or [], "taxes": order.raw.get("tax_lines") or [],
            },
        }
        return TemplateResponse(request, "admin/fulfillment/order/order_page.html", context, status=status)
