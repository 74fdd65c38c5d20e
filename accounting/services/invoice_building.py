"""What an order's invoice and its credit notes say: built from the mirror's copy of WooCommerce's order.

WooCommerce computed every amount (the OSS rate of the customer's country included) and the customer paid those:
the invoice copies the lines' net amounts and VAT, the shipping and fee lines, and each line's rate from the
order's tax lines; it recomputes nothing. Discounts are already in the items' amounts. A document whose totals are
not the order's to the cent, or that lacks what an EU invoice must show, is not issued: `NotIssuable` says why.
"""

from dataclasses import replace
from datetime import timezone as dt_timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils.translation import gettext as _, gettext_noop as N_

from accounting.documents import Document, DocumentLine, Party, check, totals, vat_subtotals
from accounting.documents.arithmetic import LANGUAGES, ZERO, decimal_text
from fulfillment.money import quantize


# The member states (VIES's codes: Greece is EL; XI is Northern Ireland for goods).
EU = {"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "EL", "GR", "ES", "FI", "FR", "HR", "HU", "IE", "IT", "LT",
      "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK", "XI"}
# Where the EU VAT plugins of WooCommerce keep the customer's VAT number (order meta or a billing field).
VAT_ID_KEYS = ("_billing_vat_number", "billing_vat_number", "_vat_number", "vat_number", "_billing_vat",
               "billing_vat", "_billing_eu_vat_number", "_eu_vat_number", "eu_vat_number", "_vat_id", "vat_id",
               "vat")
UNIT_PRICE = Decimal("0.0001")


class NotIssuable(Exception):
    """The document cannot be issued as it is; the message is for staff (and stays on the order page)."""


def _money(value):
    try:
        return Decimal(str(value if value not in (None, "") else "0"))
    except InvalidOperation:
        raise NotIssuable(_("WooCommerce sent %(value)s where an amount was expected.") % {"value": repr(value)}) \
            from None


def buyer_vat_id(order):
    """The customer's VAT number as the shop's VAT plugin stored it, compact and upper-case ("" when none)."""
    raw = order.raw or {}
    candidates = [(order.billing or {}).get(key) for key in VAT_ID_KEYS]
    meta = {str(m.get("key")): m.get("value") for m in raw.get("meta_data") or [] if isinstance(m, dict)}
    candidates += [meta.get(key) for key in VAT_ID_KEYS]
    for value in candidates:
        if isinstance(value, str) and value.strip():
            return "".join(value.split()).replace(".", "").replace("-", "").upper()
    return ""


def vat_country(vat_id):
    country = vat_id[:2].upper()
    return "EL" if country == "GR" else country


def seller_party(rule):
    return Party(name=rule.seller_name, street=rule.seller_street, postcode=rule.seller_postcode,
                 city=rule.seller_city, country=rule.seller_country, vat_id=rule.seller_vat_id,
                 email=rule.seller_email)


def buyer_party(order, vat_id):
    billing = order.billing or {}
    address = billing if (billing.get("address_1") or billing.get("city")) else (order.shipping or {})
    name = " ".join(str(address.get(k) or billing.get(k) or "").strip() for k in ("first_name", "last_name")).strip()
    street = ", ".join(s for s in (str(address.get("address_1") or "").strip(),
                                   str(address.get("address_2") or "").strip()) if s)
    return Party(name=name or order.customer_name or str(billing.get("email") or ""), street=street,
                 postcode=str(address.get("postcode") or "").strip(), city=str(address.get("city") or "").strip(),
                 country=str(address.get("country") or order.country or "").strip().upper(),
                 company=str(address.get("company") or billing.get("company") or "").strip(),
                 vat_id=vat_id, email=str(billing.get("email") or order.customer_email or ""),
                 region=str(address.get("state") or "").strip())


def store_zone(store):
    """The shop's time zone: its days are the invoices' dates."""
    try:
        return ZoneInfo(store.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return dt_timezone.utc


def document_language(rule, store):
    language = (rule.language or store.language or "en")[:2]
    return language if language in LANGUAGES else "en"


class TaxRates:
    """The order's tax rates by WooCommerce's rate id: {rate_id: percent}."""

    def __init__(self, order):
        self.rates = {}
        for tax in (order.raw or {}).get("tax_lines") or []:
            if isinstance(tax, dict) and tax.get("rate_id") is not None:
                percent = tax.get("rate_percent")
                self.rates[int(tax["rate_id"])] = None if percent in (None, "") else _money(percent)

    def of(self, taxes, net, vat, where):
        """(rate, had_tax) of an item with WooCommerce's `taxes` list; raises NotIssuable for compound taxes.

        where(): the item in staff's words, asked only for the message (gettext is not free on every line)."""
        charged = [t for t in taxes or [] if isinstance(t, dict) and t.get("id") is not None
                   and _money(t.get("total")) != 0]
        listed = [t for t in taxes or [] if isinstance(t, dict) and t.get("id") is not None]
        if len(charged) > 1:
            raise NotIssuable(_("%(line)s carries more than one tax (compound taxes): an invoice line has one VAT "
                                "rate.") % {"line": where()})
        chosen = charged or listed[:1]
        if not chosen:
            return None, False
        rate = self.rates.get(int(chosen[0]["id"]))
        if rate is None:
            # An order from before WooCommerce kept rate_percent on its tax lines: the rate the amounts show.
            rate = (vat / net * 100).quantize(Decimal("0.01"), ROUND_HALF_UP) if net else ZERO
        return rate, True


def _category(rate, had_tax, *, reverse_charge, buyer_country):
    if rate and rate > 0:
        return "S"
    if reverse_charge:
        return "AE"
    if buyer_country and buyer_country not in EU and not had_tax:
        return "G"
    return "Z"


def _line(*, description, quantity, net, vat, rate, had_tax, kind, sku="", reverse_charge, buyer_country, currency):
    category = _category(rate, had_tax, reverse_charge=reverse_charge, buyer_country=buyer_country)
    rate = rate if category == "S" else ZERO
    quantity = Decimal(quantity)
    unit = (net / quantity).quantize(UNIT_PRICE, ROUND_HALF_UP) if quantity else net
    return DocumentLine(description=description, quantity=quantity, unit_price=unit,
                        net_amount=quantize(net, currency), vat_rate=rate, vat_category=category,
                        vat_amount=quantize(vat, currency), kind=kind, sku=sku)


def invoice_document(order, *, rule, number, issue_date, reverse_charge, vat_id):
    """The invoice of the order as it is now; raises NotIssuable with every reason it cannot be issued."""
    raw, currency = order.raw or {}, order.currency
    rates = TaxRates(order)
    buyer = buyer_party(order, vat_id)
    common = {"reverse_charge": reverse_charge, "buyer_country": vat_country(buyer.country) if buyer.country else "",
              "currency": currency}
    raw_items = {int(i["id"]): i for i in raw.get("line_items") or [] if isinstance(i, dict) and "id" in i}
    lines = []
    for line in sorted(order.lines.all(), key=lambda item: item.pk):
        if line.quantity <= 0:
            continue  # a line taken out of the order entirely
        rate, had_tax = rates.of((raw_items.get(line.woo_line_id) or {}).get("taxes"), line.total, line.total_tax,
                                 lambda line=line: _("The line %(name)s") % {"name": line.name})
        description = f"{line.name} — {line.variation}" if line.variation and line.variation not in line.name \
            else line.name
        lines.append(_line(description=description, quantity=line.quantity, net=line.total, vat=line.total_tax,
                           rate=rate, had_tax=had_tax, kind="item", sku=line.sku, **common))
    for group, kind, name_key, default in (("shipping_lines", "shipping", "method_title", N_("Shipping")),
                                           ("fee_lines", "fee", "name", N_("Fee"))):
        for item in raw.get(group) or []:
            if not isinstance(item, dict):
                continue
            net, vat = _money(item.get("total")), _money(item.get("total_tax"))
            name = str(item.get(name_key) or "").strip() or _(default)
            if net < 0:
                raise NotIssuable(_("%(name)s is a negative fee of %(amount)s: an invoice line cannot be negative; "
                                    "give the discount as a coupon in WooCommerce.") % {
                    "name": name, "amount": decimal_text(net)})
            if net == 0 and vat == 0 and kind == "fee":
                continue
            rate, had_tax = rates.of(item.get("taxes"), net, vat, lambda name=name: name)
            lines.append(_line(description=name, quantity=1, net=net, vat=vat, rate=rate, had_tax=had_tax,
                               kind=kind, **common))
    document = _document(order, rule=rule, kind="invoice", number=number, issue_date=issue_date, lines=lines,
                         buyer=buyer, reverse_charge=reverse_charge)
    order_total = quantize(order.total, currency)
    if document.gross_total != order_total:
        raise NotIssuable(_("The invoice's lines add up to %(lines)s, but the order's total is %(total)s: the order "
                            "holds an amount the invoice cannot show (check its fees and taxes in WooCommerce).") % {
            "lines": decimal_text(document.gross_total), "total": decimal_text(order_total)})
    _checked(document)
    return document


def _document(order, *, rule, kind, number, issue_date, lines, buyer, reverse_charge, corrects=None, note=""):
    lines = tuple(lines)
    sums = totals(lines)
    supply = next((moment for moment in (order.completed_at, order.paid_at, order.created_at) if moment), None)
    supply_date = supply.astimezone(store_zone(order.store)).date() if supply else None
    notes = [text for text in (note, rule.note.strip()) if text]
    return Document(
        kind=kind, number=number, issue_date=issue_date, supply_date=supply_date, currency=order.currency,
        seller=seller_party(rule), buyer=buyer, lines=lines, vat_subtotals=vat_subtotals(lines),
        net_total=sums.net_total, vat_total=sums.vat_total, gross_total=sums.gross_total,
        order_number=str(order.number), corrects_number=corrects.number if corrects else "",
        corrects_issue_date=corrects.issue_date if corrects else None, reverse_charge=reverse_charge,
        note="\n".join(notes), language=document_language(rule, order.store), paid=True,
    )


def _checked(document):
    problems = check(document)
    if problems:
        raise NotIssuable(" ".join(problems))
    return document


# -- credit notes ------------------------------------------------------------------------------------------------

def _split_gross(gross, rate, currency):
    """(net, VAT) of an amount that includes VAT at `rate` percent."""
    if not rate:
        return gross, ZERO
    net = quantize(gross * 100 / (100 + rate), currency)
    return net, gross - net


def refund_credit_note(order, refund, *, rule, invoice, invoice_document_, number, issue_date, credited_so_far=()):
    """The credit note of a refund: its lines as WooCommerce recorded them, the rest of its amount by VAT rate
    (over what of each rate the earlier credit notes left)."""
    currency = order.currency
    credited = invoice_document_
    by_kind_name = {}
    for line in credited.lines:
        by_kind_name.setdefault((line.kind, line.description.split(" — ")[0]), line)
    order_lines = {line.woo_line_id: line for line in order.lines.all()}
    raw = order.raw or {}
    extra = {int(i["id"]): (kind, str(i.get(key) or "")) for group, kind, key in (
        ("shipping_lines", "shipping", "method_title"), ("fee_lines", "fee", "name"))
        for i in raw.get(group) or [] if isinstance(i, dict) and "id" in i}
    lines, booked = [], ZERO
    for part in refund.lines or []:
        gross = _money(part.get("amount"))
        if gross <= 0:
            continue
        tax = _money(part.get("tax"))
        woo_line = order_lines.get(int(part.get("line_id") or 0))
        kind = {"product": "item", "line_item": "item"}.get(part.get("kind") or "item", part.get("kind") or "item")
        name = woo_line.name if woo_line else (extra.get(int(part.get("line_id") or 0), (kind, ""))[1]
                                               or str(part.get("name") or ""))
        original = by_kind_name.get((kind, name)) or next(
            (line for line in credited.lines if line.kind == kind), None)
        rate = original.vat_rate if original else ZERO
        category = original.vat_category if original else "Z"
        if tax > 0:
            net, vat = gross - tax, tax
        else:
            # A refund typed as one amount per line, VAT left at 0: the money returned holds the line's VAT.
            net, vat = _split_gross(gross, rate, currency)
        quantity = Decimal(int(part.get("quantity") or 0) or 1)
        description = name or _("Refund")
        lines.append(DocumentLine(description=description, quantity=quantity,
                                  unit_price=(net / quantity).quantize(UNIT_PRICE, ROUND_HALF_UP), net_amount=net,
                                  vat_rate=rate, vat_category=category, vat_amount=vat, kind=kind,
                                  sku=woo_line.sku if woo_line else ""))
        booked += gross
    rest = quantize(refund.amount, currency) - booked
    if rest < 0:
        raise NotIssuable(_("The refund's lines add up to %(lines)s, more than its amount %(amount)s.") % {
            "lines": decimal_text(booked), "amount": decimal_text(refund.amount)})
    if rest > 0:
        reason = (refund.reason or "").strip()
        label = _("Refund: %(reason)s") % {"reason": reason} if reason else _("Refund")
        lines += _amount_lines(rest, credited, label, currency, credited_so_far=credited_so_far)
    note = _("Refund of %(amount)s %(currency)s.") % {"amount": decimal_text(refund.amount), "currency": currency}
    return _credit_document(rule, invoice=invoice, credited=credited, number=number, issue_date=issue_date,
                            lines=lines, note=note)


def _amount_lines(amount, credited, label, currency, *, credited_so_far=()):
    """An amount spread over the invoice's VAT rates in proportion to what each of them still holds: what the
    invoice has at that rate less what earlier credit notes took of it (so a rate is never credited beyond it)."""
    def taken(group):
        return sum((g.taxable_amount + g.vat_amount for d in credited_so_far for g in d.vat_subtotals
                    if (g.category, g.rate) == (group.category, group.rate)), ZERO)

    holds = [(g, g.taxable_amount + g.vat_amount - taken(g)) for g in credited.vat_subtotals]
    holds = [(g, held) for g, held in holds if held > 0]
    groups = [g for g, _held in holds]
    whole = sum((held for _g, held in holds), ZERO)
    if not groups or not whole:
        return [DocumentLine(description=label, quantity=Decimal(1), unit_price=amount, net_amount=amount,
                             vat_rate=ZERO, vat_category="Z", vat_amount=ZERO, kind="item")]
    lines, left = [], amount
    for index, (group, held) in enumerate(holds):
        share = left if index == len(groups) - 1 else quantize(amount * held / whole, currency)
        left -= share
        if share <= 0:
            continue
        net, vat = _split_gross(share, group.rate, currency) if group.category == "S" else (share, ZERO)
        description = label if len(groups) == 1 else f"{label} ({decimal_text(group.rate, 0)}%)"
        lines.append(DocumentLine(description=description, quantity=Decimal(1), unit_price=net, net_amount=net,
                                  vat_rate=group.rate, vat_category=group.category, vat_amount=vat, kind="item"))
    return lines


def full_credit_note(*, rule, invoice, invoice_document_, credited_so_far, number, issue_date, note):
    """The credit note for what of the invoice is not credited yet (an order cancelled, a correction)."""
    credited = invoice_document_
    if not credited_so_far:
        lines = list(credited.lines)
    else:
        lines = []
        for group in credited.vat_subtotals:
            done_net = sum((g.taxable_amount for d in credited_so_far for g in d.vat_subtotals
                            if (g.category, g.rate) == (group.category, group.rate)), ZERO)
            done_vat = sum((g.vat_amount for d in credited_so_far for g in d.vat_subtotals
                            if (g.category, g.rate) == (group.category, group.rate)), ZERO)
            net, vat = group.taxable_amount - done_net, group.vat_amount - done_vat
            if net <= 0 and vat <= 0:
                continue
            lines.append(DocumentLine(
                description=_("Rest of invoice %(number)s") % {"number": credited.number}, quantity=Decimal(1),
                unit_price=max(net, ZERO), net_amount=max(net, ZERO), vat_rate=group.rate,
                vat_category=group.category, vat_amount=max(vat, ZERO), kind="item"))
    if not lines:
        return None
    return _credit_document(rule, invoice=invoice, credited=credited, number=number, issue_date=issue_date,
                            lines=lines, note=note)


def _credit_document(rule, *, invoice, credited, number, issue_date, lines, note):
    lines = tuple(lines)
    sums = totals(lines)
    document = replace(credited, kind="credit_note", number=number, issue_date=issue_date, lines=lines,
                       vat_subtotals=vat_subtotals(lines), net_total=sums.net_total, vat_total=sums.vat_total,
                       gross_total=sums.gross_total, corrects_number=invoice.number,
                       corrects_issue_date=invoice.issue_date,
                       note="\n".join(t for t in (note, rule.note.strip()) if t))
    return _checked(document)
