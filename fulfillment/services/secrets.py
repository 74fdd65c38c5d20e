"""The stored secrets' keys: re-encrypting every encrypted column with the first key of FIELD_ENCRYPTION_KEYS."""

import logging
from dataclasses import dataclass, field

from django.apps import apps

from backoffice.encrypted import SecretUnreadable, encrypted_fields, reencrypt, store_raw, stored_values, under_first_key

logger = logging.getLogger(__name__)


@dataclass
class ColumnKeys:
    """One encrypted column: its values (empty ones left out), those (re-)encrypted or found not under the first
    key, and the rows no key opens."""

    label: str
    values: int = 0
    changed: int = 0
    unreadable: list = field(default_factory=list)


def encrypted_columns():
    """(model, field name) of every encrypted column of every installed app."""
    return [(model, name) for model in apps.get_models() for name in encrypted_fields(model)]


def secrets_rotate(*, check=False):
    """Re-encrypt every stored secret not under the first key (plaintext included); `check`: only count them."""
    report = []
    for model, name in encrypted_columns():
        column = ColumnKeys(label=f"{model._meta.label}.{name}")
        rows = model._base_manager.all()
        for pk, stored in stored_values(rows, name):
            if not stored:
                continue
            column.values += 1
            if under_first_key(stored):
                continue
            try:
                new = reencrypt(stored, label=f"{column.label} (row {pk})")
            except SecretUnreadable:
                column.unreadable.append(pk)
                continue
            # Only while the row still holds what was read: a secret staff saved meanwhile is already under it.
            if check or store_raw(rows, pk, name, new, expected=stored):
                column.changed += 1
        if column.changed and not check:
            logger.info("%s: %d values re-encrypted with the first key", column.label, column.changed)
        report.append(column)
    return report
