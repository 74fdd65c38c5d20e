"""A Document as JSON and back: how an issued invoice keeps its content (amounts as strings, dates ISO)."""

from dataclasses import fields, is_dataclass
from datetime import date
from decimal import Decimal

from accounting.documents.model import Document, DocumentLine, Party, VatSubtotal

VERSION = 1
_DECIMALS = {"quantity", "unit_price", "net_amount", "vat_rate", "vat_amount", "rate", "taxable_amount",
             "net_total", "vat_total", "gross_total"}
_DATES = {"issue_date", "supply_date", "corrects_issue_date"}


def _plain(value):
    # Walks the dataclasses itself: dataclasses.asdict deep-copies every value first, a third of issuing's time here.
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    names = _FIELD_NAMES.get(type(value))
    if names is None and is_dataclass(value):
        names = _FIELD_NAMES[type(value)] = tuple(f.name for f in fields(value))
    if names is not None:
        return {name: _plain(getattr(value, name)) for name in names}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


_FIELD_NAMES = {}  # dataclass → its fields' names, in their order (asdict's)


def document_to_json(document):
    return {"version": VERSION, **_plain(document)}


def _build(cls, data):
    values = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        value = data[f.name]
        if f.name in _DECIMALS and value is not None:
            value = Decimal(value)
        elif f.name in _DATES and value:
            value = date.fromisoformat(value)
        values[f.name] = value
    return cls(**values)


def document_from_json(data):
    data = dict(data)
    data.pop("version", None)
    data["seller"] = _build(Party, data["seller"])
    data["buyer"] = _build(Party, data["buyer"])
    data["lines"] = tuple(_build(DocumentLine, line) for line in data["lines"])
    data["vat_subtotals"] = tuple(_build(VatSubtotal, row) for row in data["vat_subtotals"])
    return _build(Document, data)
