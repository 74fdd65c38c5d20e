"""Money helpers: amounts are Decimal, quantised to their currency's minor unit."""

from decimal import ROUND_HALF_UP, Decimal

# ISO 4217 minor units that are not 2.
ZERO_DECIMAL = {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV", "XAF",
                "XOF", "XPF"}
THREE_DECIMAL = {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"}


def currency_decimals(currency):
    code = (currency or "").upper()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    return 2


def quantize(amount, currency):
    return Decimal(amount).quantize(Decimal(1).scaleb(-currency_decimals(currency)), rounding=ROUND_HALF_UP)


def format_money(amount, currency):
    return f"{quantize(amount, currency)} {currency}"
