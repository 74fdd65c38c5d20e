"""Customers' VAT numbers asked of VIES before a reverse-charged invoice: the answer is kept as its proof."""

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from accounting.integrations.errors import AccountingError, VatIdFormatError
from accounting.models import VatCheck
from accounting.services import invoice_building as building

logger = logging.getLogger("accounting.invoices")

VAT_CHECK_DAYS = 30  # a VIES answer is proof for a month; after that the number is asked again


def vat_check_due(order, *, now=None):
    """Whether the customer's VAT number must be asked of VIES before the order's invoice (no recent answer)."""
    vat_id = building.buyer_vat_id(order)
    if not vat_id or order.total_tax != 0:
        return False
    now = now or timezone.now()
    return not VatCheck.objects.filter(vat_id=vat_id, checked_at__gt=now - timedelta(days=VAT_CHECK_DAYS)).exists()


def vat_check_refresh(order, *, vies=None, now=None):
    """Ask VIES about the customer's VAT number when an invoice may need it and no recent answer is kept."""
    vat_id = building.buyer_vat_id(order)
    if not vat_id or order.total_tax != 0:
        return None
    now = now or timezone.now()
    known = VatCheck.objects.filter(vat_id=vat_id).first()
    if known is not None and known.checked_at > now - timedelta(days=VAT_CHECK_DAYS):
        return known
    from accounting.integrations.vies import ViesClient  # lazy: VIES is only for orders with a VAT number

    client = vies or ViesClient(settings.VIES_URL)
    try:
        result = client.check(vat_id)
    except VatIdFormatError as exc:
        values = {"valid": False, "name": "", "address": str(exc)[:500], "checked_at": now, "request_identifier": ""}
    except AccountingError as exc:
        logger.warning("order %s: VIES could not check %s: %s", order.pk, vat_id, exc)
        return known
    else:
        values = {"valid": result.valid, "name": result.name[:300], "address": result.address,
                  "checked_at": result.checked_at, "request_identifier": result.request_identifier}
    check, _created = VatCheck.objects.update_or_create(vat_id=vat_id, defaults=values)
    return check
