"""What goes to production: eligibility, the provider for each line, and the order as a provider sees it."""

from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from fulfillment import file_links, print_files
from fulfillment.choices import status_label
from fulfillment.models import Reservation
from fulfillment.money import quantize
from fulfillment.providers.base import ProductionItem, ProductionOrder
from fulfillment.providers.registry import ADAPTERS

PAID_STATUSES = ("processing", "completed")
# Line item meta under which the shop (or our projects app) puts the print-ready file of a personalised line.
PRODUCTION_FILE_KEYS = ("_print_file_url", "print_file_url", "_production_file")


@dataclass
class ProductionPlan:
    lines_by_provider: dict = field(default_factory=dict)  # Provider → [OrderLine]
    problems: list = field(default_factory=list)  # reasons in staff's words
    waiting: bool = False  # a production file is being rendered: the order will be eligible soon

    @property
    def eligible(self):
        return not self.problems and bool(self.lines_by_provider)


def production_files(line):
    """The print-ready files of a line: from its meta (the shop editor's URL or path) and the registered sources
    (fulfillment.print_files: our newest render of its project)."""
    files = []
    for item in line.meta or []:
        if isinstance(item, dict) and item.get("key") in PRODUCTION_FILE_KEYS and item.get("value"):
            files.append(str(item["value"]))
    for location in print_files.line_files(line):
        if location and location not in files:
            files.append(location)
    return files


def production_plan(order, providers):
    """Which provider makes each line, or why the order cannot go to production."""
    plan = ProductionPlan()
    if order.trashed:
        plan.problems.append(_("the order is in the trash in WooCommerce"))
        return plan
    if order.status not in PAID_STATUSES:
        plan.problems.append(_("status %(status)s is not a paid status") % {"status": status_label(order.status)})
    lines = [line for line in order.lines.all() if line.quantity > 0]
    if not lines:
        plan.problems.append(_("the order has no product lines"))
    # A dropshipped line goes to its supplier (fulfillment.services.reservations), the rest to production.
    dropshipped = set(Reservation.objects.filter(order_id=order.pk, line__isnull=False)
                      .values_list("line_id", flat=True)) if lines else set()
    if lines and dropshipped and all(line.pk in dropshipped for line in lines):
        plan.problems.append(_("every product of the order is dropshipped by its supplier"))
        return plan
    lines = [line for line in lines if line.pk not in dropshipped]
    for line in lines:
        provider = next((p for p in providers if p.active and p.makes(line.sku)), None)
        if provider is None:
            plan.problems.append(_("no provider makes %(sku)s (%(name)s)") % {"sku": line.sku or "—", "name": line.name})
            continue
        if print_files.claimed(line):
            # The source's newest file failed or is still being made: that, not an older file, is the truth.
            problem = print_files.line_problem(line) or (
                None if production_files(line) else _("no production file yet for %(name)s") % {"name": line.name})
            if problem:
                plan.problems.append(problem)
                plan.waiting = plan.waiting or print_files.line_pending(line)
                continue
        if ADAPTERS[provider.kind].takes_file_urls:
            # Said here, before anything is sent: the provider would refuse a path as "File URL is not valid".
            problem = next((p for location in production_files(line)
                            if (p := file_links.link_problem(location, line_name=line.name))), None)
            if problem:
                plan.problems.append(problem)
                continue
        plan.lines_by_provider.setdefault(provider, []).append(line)
    return plan


def production_order(order, lines, external_id):
    shipping = order.shipping or {}
    billing = order.billing or {}
    recipient = {
        "name": " ".join(p for p in (shipping.get("first_name"), shipping.get("last_name")) if p) or order.customer_name,
        "company": shipping.get("company", ""),
        "address1": shipping.get("address_1", ""),
        "address2": shipping.get("address_2", ""),
        "city": shipping.get("city", ""),
        "state_code": shipping.get("state", ""),
        "country_code": shipping.get("country", ""),
        "zip": shipping.get("postcode", ""),
        "phone": shipping.get("phone") or billing.get("phone", ""),
        "email": order.customer_email,
    }
    items = [
        ProductionItem(line_id=line.woo_line_id, sku=line.sku, name=line.name, quantity=line.quantity,
                       unit_price=str(quantize(line.total / line.quantity, order.currency)) if line.quantity else "0",
                       files=production_files(line))
        for line in lines
    ]
    return ProductionOrder(external_id=external_id, number=order.number, currency=order.currency,
                           recipient=recipient, items=items)
