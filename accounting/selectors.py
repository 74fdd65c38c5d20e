"""Read queries of the accounting app, for the admin, the dashboard, the order page and the customers' pages."""

from decimal import Decimal

from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

from accounting.choices import DocumentKind, ExportState
from accounting.models import AccountingExport, ExportRule, Invoice, InvoiceProblem
from projects.models import CustomerProfile


def export_counts_of_stores_with_a_rule(store_ids):
    """{store_id: {"open": n, "failed": n}} of those of the stores that have an export rule, in one query (two
    counts per rule, each read from acctexport_store_state_idx); trashed orders left out as below."""
    def count(state):
        exports = (AccountingExport.objects.filter(store_id=OuterRef("store_id"), state=state, order__trashed=False)
                   .order_by().values("store_id").annotate(n=Count("id")).values("n"))
        return Coalesce(Subquery(exports), 0)

    rows = (ExportRule.objects.filter(store_id__in=store_ids).order_by()
            .annotate(n_open=count(ExportState.OPEN), n_failed=count(ExportState.FAILED))
            .values_list("store_id", "n_open", "n_failed"))
    return {store_id: {ExportState.OPEN.value: n_open, ExportState.FAILED.value: n_failed}
            for store_id, n_open, n_failed in rows}


def export_counts_by_store():
    """{store_id: {"open": n, "failed": n}}: exports still to do, one grouped query for every store.

    Orders in WooCommerce's trash are left out: they are never exported, so they are not work to do.
    """
    counts = {}
    for store_id, state, n in (
        AccountingExport.objects.filter(state__in=[ExportState.OPEN, ExportState.FAILED], order__trashed=False)
        .values_list("store_id", "state").annotate(n=Count("id")).order_by()
    ):
        counts.setdefault(store_id, {ExportState.OPEN.value: 0, ExportState.FAILED.value: 0})[state] = n
    return counts


# -- the order page -------------------------------------------------------------------------------------------

def order_documents(order_id):
    """The order's invoices and credit notes, oldest first, with the invoice each credit note corrects (one query)."""
    return list(Invoice.objects.filter(order_id=order_id).select_related("corrects").order_by("issue_date", "pk"))


def order_invoice_problems(order_id):
    """Why the order's invoice or credit notes are not issued (yet), oldest first (one query)."""
    return list(InvoiceProblem.objects.filter(order_id=order_id).order_by("first_at", "pk"))


def invoice_in_force(documents):
    """Of an order's documents, the invoice not credited in full, or None (at most one: a constraint says so)."""
    return next((d for d in documents if d.kind == DocumentKind.INVOICE and not d.credited), None)


def credited_so_far(invoice, documents):
    """What the credit notes among the order's documents have taken off the invoice already."""
    return sum((d.gross_total for d in documents if d.kind == DocumentKind.CREDIT_NOTE and d.corrects_id == invoice.pk),
               Decimal(0))


# -- My Account -----------------------------------------------------------------------------------------------

def _customer_orders(user):
    """A filter of invoices to those of the customer's orders, or None when the user is no shop customer.

    The customer is who projects knows (projects.services.customers): their account's store and, once linked, its
    WooCommerce customer id; every order of that id is theirs. A guest order (no customer id) is theirs by its email
    address, and only once they confirmed that address: an unconfirmed one could be anyone's. A registered
    customer's order is never matched by email: whoever typed someone else's address at the checkout would hand that
    person their invoice, and an account not linked yet would see the orders of the account that is.
    """
    profile = CustomerProfile.objects.filter(user_id=user.pk).only("store_id", "woo_customer_id",
                                                                  "email_confirmed_at").first()
    if profile is None:
        return None
    mine = Q(pk__in=[])
    if profile.woo_customer_id:
        mine |= Q(order__customer_woo_id=profile.woo_customer_id)
    if profile.email_confirmed_at is not None and user.email:
        mine |= Q(order__customer_woo_id=0, order__customer_email__iexact=user.email.strip())
    return Q(order__store_id=profile.store_id) & mine


def customer_documents(*, user):
    """The customer's invoices and credit notes, newest first, with their orders (one query after the profile's)."""
    mine = _customer_orders(user)
    if mine is None:
        return Invoice.objects.none()
    return Invoice.objects.filter(mine).select_related("order").order_by("-issue_date", "-pk")


def customer_document(*, user, pk):
    """One of the customer's invoices or credit notes, or None: never another customer's."""
    mine = _customer_orders(user)
    if mine is None:
        return None
    return Invoice.objects.filter(mine, pk=pk).select_related("store", "order").first()


def vat_summary(*, store=None, since, until):
    """Per currency, country, VAT category and rate: taxable amount and VAT of the period's invoices minus its
    credit notes, and how many of each; plus the totals per currency. Reads the documents' VAT breakdowns in chunks
    (their JSON only), never one query per document."""
    documents = Invoice.objects.filter(issue_date__gte=since, issue_date__lte=until)
    if store is not None:
        documents = documents.filter(store=store)
    groups, totals = {}, {}
    for kind, currency, country, document in documents.order_by("pk").values_list(
            "kind", "currency", "buyer_country", "document").iterator(chunk_size=2000):
        sign = -1 if kind == DocumentKind.CREDIT_NOTE else 1
        for subtotal in document.get("vat_subtotals", []):
            key = (currency, country, subtotal["category"], Decimal(subtotal["rate"]))
            row = groups.setdefault(key, {"taxable": Decimal("0"), "vat": Decimal("0"), "invoices": set(),
                                          "credit_notes": set()})
            row["taxable"] += sign * Decimal(subtotal["taxable_amount"])
            row["vat"] += sign * Decimal(subtotal["vat_amount"])
            row["credit_notes" if sign < 0 else "invoices"].add(document.get("number"))
    rows = []
    for (currency, country, category, rate), row in sorted(groups.items(), key=lambda item: (
            item[0][0], item[0][1], -item[0][3], item[0][2])):
        rows.append({"currency": currency, "country": country, "category": category, "rate": format(rate, "f"),
                     "taxable": format(row["taxable"], "f"), "vat": format(row["vat"], "f"),
                     "invoices": len(row["invoices"]), "credit_notes": len(row["credit_notes"])})
        total = totals.setdefault(currency, {"currency": currency, "taxable": Decimal("0"), "vat": Decimal("0")})
        total["taxable"] += row["taxable"]
        total["vat"] += row["vat"]
    return rows, list(totals.values())
