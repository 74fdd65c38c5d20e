"""What an invoice's lines add up to, and the check a document passes before it is issued.

WooCommerce computed every line's net and VAT amount (the OSS rate of the customer's country included) and the
customer paid those: a document copies them and never recomputes them. So the VAT breakdown is the sum of the
lines per category and rate, and `check` tells staff where a document does not add up to the cent, holds an
amount of more than two decimals, or lacks what an EU invoice must show (VAT Directive art. 226, EN 16931).
"""

from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

from django.utils.translation import gettext as _, gettext_noop as N_

from accounting.documents.model import VatSubtotal

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
KINDS = ("invoice", "credit_note")
LANGUAGES = ("en", "nl", "fr", "es", "it")
# UNCL5305 categories a shop's documents use; O (outside the scope of VAT) is left out: it has no rate in UBL.
VAT_CATEGORIES = ("S", "Z", "E", "AE", "K", "G")
ZERO_RATED = ("Z", "E", "AE", "K", "G")  # their rate and VAT amount are 0 (BR-Z-06, BR-E-06, BR-AE-06, ...)
BUYER_LIABLE = ("AE", "K")  # the customer accounts for the VAT: their VAT number must be on the document
# A unit price has at most 4 decimals: times the quantity it can miss the line amount by half a unit of
# the 4th decimal per piece, plus the half cent WooCommerce rounded the line to.
UNIT_PRICE_SLACK = Decimal("0.00005")
LINE_SLACK = Decimal("0.005")
# A line's VAT was rounded by WooCommerce from an amount that may itself have been rounded: one cent at most.
LINE_VAT_SLACK = Decimal("0.01")


class Totals(NamedTuple):
    net_total: Decimal
    vat_total: Decimal
    gross_total: Decimal


def vat_subtotals(lines):
    """One VatSubtotal per (category, rate) of the lines, highest rate first: the sums of their amounts."""
    groups = {}
    for line in lines:
        key = (line.vat_category, line.vat_rate)
        taxable, vat = groups.get(key, (ZERO, ZERO))
        groups[key] = (taxable + line.net_amount, vat + line.vat_amount)
    ordered = sorted(groups.items(), key=lambda item: (-item[0][1], item[0][0]))
    return tuple(VatSubtotal(category=category, rate=rate, taxable_amount=taxable, vat_amount=vat)
                 for (category, rate), (taxable, vat) in ordered)


def totals(lines):
    """Net, VAT and gross total of the lines."""
    net = sum((line.net_amount for line in lines), ZERO)
    vat = sum((line.vat_amount for line in lines), ZERO)
    return Totals(net_total=net, vat_total=vat, gross_total=net + vat)


def check(document):
    """Every reason the document may not be issued as it is, in staff's words; empty when it may."""
    problems = _header_problems(document)
    # Labels are translated only for a problem found: a document that passes (nearly all) asks gettext nothing.
    problems += _party_problems(document.seller, label=N_("Seller"), is_seller=True)
    problems += _party_problems(document.buyer, label=N_("Customer"), is_seller=False)
    for number, line in enumerate(document.lines, 1):
        problems += _line_problems(number, line, document)
    problems += _subtotal_problems(document)
    problems += _total_problems(document)
    return problems


def decimal_text(value, places=2):
    """A Decimal as staff write it: at least `places` decimals, no exponent, no trailing zeros beyond them.

    9.50, 28.9256 and 12.15 for amounts and prices (places=2); 2.5, 1 and 21 for quantities and rates (places=0).
    """
    whole, dot, decimals = format(value, "f").partition(".")
    decimals = decimals.rstrip("0").ljust(places, "0")
    return f"{whole}.{decimals}" if decimals else whole


def plain(value):
    return decimal_text(value, places=0)


def rate_text(rate):
    return f"{plain(rate)}%"


def has_cents_only(amount):
    return amount == amount.quantize(CENT)


def rounded(amount):
    """To the cent, half up (EN 16931's rounding)."""
    return amount.quantize(CENT, ROUND_HALF_UP)


def _header_problems(document):
    problems = []
    if document.kind not in KINDS:
        problems.append(_("Unknown document kind %(kind)s: expected an invoice or a credit note.")
                        % {"kind": document.kind})
    if not document.number.strip():
        problems.append(_("The document has no number."))
    if document.issue_date is None:
        problems.append(_("The document has no issue date."))
    if len(document.currency) != 3 or not document.currency.isalpha() or not document.currency.isupper():
        problems.append(_("The currency %(currency)s is not a three-letter ISO 4217 code.")
                        % {"currency": document.currency})
    if not document.order_number.strip():
        problems.append(_("The document has no order number."))
    if document.language not in LANGUAGES:
        problems.append(_("The language %(language)s is not one of en, nl, fr, es, it.")
                        % {"language": document.language})
    if document.kind == "credit_note":
        if not document.corrects_number.strip():
            problems.append(_("The credit note does not say which invoice it corrects."))
        if document.corrects_issue_date and document.issue_date and document.corrects_issue_date > document.issue_date:
            problems.append(_("The credit note is dated before the invoice it corrects."))
    if not document.lines:
        problems.append(_("The document has no lines."))
    return problems


def _party_problems(party, *, label, is_seller):
    """`label`: the party's msgid (Seller, Customer)."""
    required = [(party.name, N_("name")), (party.street, N_("street")), (party.city, N_("city")),
                (party.country, N_("country"))]
    if is_seller:
        required += [(party.postcode, N_("postcode")), (party.vat_id, N_("VAT number"))]
    problems = [_("%(party)s: %(field)s missing.") % {"party": _(label), "field": _(field)}
                for value, field in required if not value.strip()]
    if party.country.strip() and not (len(party.country) == 2 and party.country.isalpha() and party.country.isupper()):
        problems.append(_("%(party)s: the country %(country)s is not a two-letter ISO 3166 code.")
                        % {"party": _(label), "country": party.country})
    vat_id = party.vat_id.strip()
    if vat_id and not (vat_id[:2].isalpha() and vat_id[:2].isupper()):
        problems.append(_("%(party)s: the VAT number %(vat_id)s does not start with its country code.")
                        % {"party": _(label), "vat_id": vat_id})
    return problems


def _line_problems(number, line, document):
    def problem(message, **values):
        return message % {"line": number, **values}

    problems = []
    if not line.description.strip():
        problems.append(problem(_("Line %(line)s has no description.")))
    if line.quantity <= 0:
        problems.append(problem(_("Line %(line)s: the quantity must be more than 0, not %(quantity)s."),
                                quantity=plain(line.quantity)))
    if line.unit_price < 0:
        problems.append(problem(_("Line %(line)s: the unit price %(price)s is negative (a discount belongs in "
                                  "the item amounts)."), price=decimal_text(line.unit_price)))
    if line.unit_price != line.unit_price.quantize(Decimal("0.0001")):
        problems.append(problem(_("Line %(line)s: the unit price %(price)s has more than 4 decimals."),
                                price=decimal_text(line.unit_price)))
    for amount, what in ((line.net_amount, N_("the amount excl. VAT")), (line.vat_amount, N_("the VAT"))):
        if not has_cents_only(amount):
            problems.append(problem(_("Line %(line)s: %(what)s %(amount)s has more than 2 decimals."),
                                    what=_(what), amount=decimal_text(amount)))
    slack = line.quantity.copy_abs() * UNIT_PRICE_SLACK + LINE_SLACK
    if line.quantity > 0 and abs(line.quantity * line.unit_price - line.net_amount) > slack:
        problems.append(problem(_("Line %(line)s: %(quantity)s × %(price)s is %(expected)s, not %(amount)s."),
                                quantity=plain(line.quantity), price=decimal_text(line.unit_price),
                                expected=decimal_text(rounded(line.quantity * line.unit_price)),
                                amount=decimal_text(line.net_amount)))
    problems += _line_vat_problems(problem, line, document)
    return problems


def _line_vat_problems(problem, line, document):
    category, rate = line.vat_category, rate_text(line.vat_rate)
    if category not in VAT_CATEGORIES:
        return [problem(_("Line %(line)s: unknown VAT category %(category)s."), category=category)]
    problems = []
    if category == "S" and line.vat_rate <= 0:
        problems.append(problem(_("Line %(line)s: standard-rated VAT (S) needs a rate above 0.")))
    if category in ZERO_RATED and (line.vat_rate != 0 or line.vat_amount != 0):
        problems.append(problem(_("Line %(line)s: VAT category %(category)s has a rate and VAT of 0, not "
                                  "%(rate)s and %(amount)s."), category=category, rate=rate,
                                amount=decimal_text(line.vat_amount)))
    expected = line.net_amount * line.vat_rate / 100
    if category == "S" and abs(line.vat_amount - expected) > LINE_VAT_SLACK:
        problems.append(problem(_("Line %(line)s: the VAT %(amount)s is not %(rate)s of %(net)s (%(expected)s)."),
                                amount=decimal_text(line.vat_amount), rate=rate,
                                net=decimal_text(line.net_amount),
                                expected=decimal_text(rounded(expected))))
    if category == "AE" and not document.reverse_charge:
        problems.append(problem(_("Line %(line)s is reverse charged (AE), but the document is not marked reverse "
                                  "charge: the legal wording would be missing.")))
    if document.reverse_charge and category not in BUYER_LIABLE:
        problems.append(problem(_("The document is marked reverse charge, but line %(line)s is VAT category "
                                  "%(category)s at %(rate)s."), category=category, rate=rate))
    if category in BUYER_LIABLE and not document.buyer.vat_id.strip():
        problems.append(problem(_("Line %(line)s: the customer accounts for the VAT (%(category)s), so their "
                                  "VAT number must be on the document."), category=category))
    return problems


def _subtotal_problems(document):
    expected = {(s.category, s.rate): s for s in vat_subtotals(document.lines)}
    problems, seen = [], set()
    for subtotal in document.vat_subtotals:
        key = (subtotal.category, subtotal.rate)
        values = {"rate": rate_text(subtotal.rate), "category": subtotal.category}
        for amount in (subtotal.taxable_amount, subtotal.vat_amount):
            if not has_cents_only(amount):
                problems.append(_("VAT %(rate)s (%(category)s): %(amount)s has more than 2 decimals.")
                                % {**values, "amount": decimal_text(amount)})
        if key in seen:
            problems.append(_("VAT %(rate)s (%(category)s) appears twice in the VAT breakdown.") % values)
            continue
        seen.add(key)
        lines = expected.get(key)
        if lines is None:
            problems.append(_("VAT %(rate)s (%(category)s) in the VAT breakdown matches no line.") % values)
            continue
        if subtotal.taxable_amount != lines.taxable_amount:
            problems.append(_("VAT %(rate)s (%(category)s): the taxable amount is %(amount)s, but the lines add "
                              "up to %(expected)s.") % {**values, "amount": decimal_text(subtotal.taxable_amount),
                                                        "expected": decimal_text(lines.taxable_amount)})
        if subtotal.vat_amount != lines.vat_amount:
            problems.append(_("VAT %(rate)s (%(category)s): the VAT is %(amount)s, but the lines add up to "
                              "%(expected)s.") % {**values, "amount": decimal_text(subtotal.vat_amount),
                                                  "expected": decimal_text(lines.vat_amount)})
    for key, lines in expected.items():
        if key not in seen:
            problems.append(_("The VAT breakdown has no row for VAT %(rate)s (%(category)s) of the lines.")
                            % {"rate": rate_text(lines.rate), "category": lines.category})
    return problems


def _total_problems(document):
    problems = []
    labels = ((document.net_total, N_("Total excl. VAT")), (document.vat_total, N_("Total VAT")),
              (document.gross_total, N_("Total incl. VAT")))
    for amount, what in labels:
        if not has_cents_only(amount):
            problems.append(_("%(what)s: %(amount)s has more than 2 decimals.")
                            % {"what": _(what), "amount": decimal_text(amount)})
    lines = totals(document.lines)
    if document.net_total != lines.net_total:
        problems.append(_("The total excl. VAT is %(amount)s, but the lines add up to %(expected)s.")
                        % {"amount": decimal_text(document.net_total), "expected": decimal_text(lines.net_total)})
    breakdown = sum((s.vat_amount for s in document.vat_subtotals), ZERO)
    if document.vat_total != breakdown:
        problems.append(_("The total VAT is %(amount)s, but the VAT breakdown adds up to %(expected)s.")
                        % {"amount": decimal_text(document.vat_total), "expected": decimal_text(breakdown)})
    if document.gross_total != document.net_total + document.vat_total:
        problems.append(_("The total incl. VAT is %(amount)s, but %(net)s + %(vat)s is %(expected)s.")
                        % {"amount": decimal_text(document.gross_total), "net": decimal_text(document.net_total),
                           "vat": decimal_text(document.vat_total),
                           "expected": decimal_text(document.net_total + document.vat_total)})
    if document.gross_total < 0:
        problems.append(_("The total is negative: amounts on invoices and credit notes are positive."))
    return problems
