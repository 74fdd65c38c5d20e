"""The invoice and credit note as a document: plain frozen dataclasses, no Django models, Decimal everywhere.

This shape is shared with the accounting connectors (the Moneybird helper writes against it): change it only
together with them. Amounts on a credit note are positive (the UBL 381 convention); a connector that needs
negative amounts makes them so.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal


@dataclass(frozen=True)
class Party:
    name: str                 # person or company name
    street: str               # street + number (address line 1, line 2 joined with ", ")
    postcode: str
    city: str
    country: str              # ISO 3166-1 alpha-2
    company: str = ""
    vat_id: str = ""          # "NL123456789B01" (with country prefix); seller always has one
    email: str = ""
    region: str = ""


@dataclass(frozen=True)
class DocumentLine:
    description: str
    quantity: Decimal         # may be fractional; positive on both invoice and credit note
    unit_price: Decimal       # excluding VAT, up to 4 decimals allowed
    net_amount: Decimal       # line total excluding VAT, 2 decimals (as WooCommerce computed it)
    vat_rate: Decimal         # percent, e.g. Decimal("21.00"); 0 for reverse charge / zero rated
    vat_category: str         # UBL UNCL5305: "S" standard, "Z" zero, "E" exempt, "AE" reverse charge, "K" intra-EU
    vat_amount: Decimal       # 2 decimals, as WooCommerce computed it
    kind: str = "item"        # "item" | "shipping" | "fee"  (discounts are already in the item amounts)
    sku: str = ""


@dataclass(frozen=True)
class VatSubtotal:
    category: str
    rate: Decimal
    taxable_amount: Decimal
    vat_amount: Decimal


@dataclass(frozen=True)
class Document:
    kind: str                 # "invoice" (UBL 380) | "credit_note" (UBL 381)
    number: str               # "2026-000123"
    issue_date: date
    supply_date: date | None
    currency: str             # ISO 4217
    seller: Party
    buyer: Party
    lines: tuple              # of DocumentLine
    vat_subtotals: tuple      # of VatSubtotal, one per (category, rate)
    net_total: Decimal        # sum of line net amounts
    vat_total: Decimal
    gross_total: Decimal      # net_total + vat_total = what the customer paid (invoice) / gets back (credit note)
    order_number: str         # the shop's order number (BuyerReference / OrderReference)
    corrects_number: str = "" # credit note: the invoice it corrects
    corrects_issue_date: date | None = None
    reverse_charge: bool = False
    note: str = ""            # free text printed under the lines
    language: str = "en"      # "en" | "nl" | "fr" | "es" | "it": the language of the PDF's labels
    paid: bool = True
