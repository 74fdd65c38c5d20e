"""Secrets at rest: a model field stored as a Fernet token under the keys of the FIELD_ENCRYPTION_KEYS setting.

The shops' REST keys and webhook secrets, a provider's webhook token and a supplier's API key are kept encrypted, so
that a dump of the database alone opens no shop. FIELD_ENCRYPTION_KEYS is a list of Fernet keys (the environment
gives them comma-separated): the first encrypts, every one decrypts, so a new key is put first, `manage.py
rotate_secrets` re-encrypts every value with it, and the old key is removed afterwards.

A stored value is `fernet:` + the token (Fernet is random: the same secret gives another token each time); an empty
value stays empty (staff see "not set" anyway, and `webhook_token=""` says a provider is polled). A value without the
mark is plaintext a migration or raw SQL left: it is read as it is and encrypted by the next save or rotation.
A token no key opens raises `SecretUnreadable`, never a garbled secret. Such a column cannot be queried by value:
only `=""` and `isnull` are allowed, anything else raises at once instead of silently matching nothing.
"""

import logging
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import models
from django.db.models.functions import Cast
from django.db.models.lookups import Exact, IsNull

logger = logging.getLogger(__name__)

MARK = "fernet:"
SETTING = "FIELD_ENCRYPTION_KEYS"


class SecretUnreadable(Exception):
    """A stored secret that no key of FIELD_ENCRYPTION_KEYS decrypts (a missing old key, or a foreign database)."""


def parse_keys(text):
    """The keys of a FIELD_ENCRYPTION_KEYS environment value: comma-separated, blanks ignored."""
    return [key.strip() for key in (text or "").split(",") if key.strip()]


@lru_cache(maxsize=1)
def _fernets():
    keys = getattr(settings, SETTING, None) or []
    if isinstance(keys, str):
        keys = parse_keys(keys)
    if not keys:
        raise ImproperlyConfigured(f"{SETTING} is empty: the stored secrets (shop keys, webhook secrets) cannot be "
                                   "encrypted or read. Set it to one or more Fernet keys, comma-separated.")
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key))
        except (ValueError, TypeError):
            # Never the key itself in the message: it ends up in logs.
            raise ImproperlyConfigured(
                f"{SETTING}: key {position} is not a Fernet key (32 url-safe base64-encoded bytes; make one with "
                "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')."
            ) from None
    return MultiFernet(fernets), fernets[0]


def _forget_keys(*, setting, **kwargs):
    if setting == SETTING:
        _fernets.cache_clear()


setting_changed.connect(_forget_keys)


def is_encrypted(stored):
    return bool(stored) and stored.startswith(MARK)


def encrypt(plaintext):
    """The stored form of a secret: the mark and a token under the first key; empty stays empty."""
    if plaintext in (None, ""):
        return plaintext
    return MARK + _fernets()[0].encrypt(str(plaintext).encode()).decode()


def decrypt(stored, *, label="a secret"):
    """The secret a stored value holds: plaintext as it is, a token decrypted with any key, else SecretUnreadable."""
    if not is_encrypted(stored):
        return stored
    try:
        # About 2 µs a value (no cache needed: a page of 100 orders with their store's 3 secrets costs 0.6 ms).
        return _fernets()[0].decrypt(stored[len(MARK):].encode()).decode()
    except InvalidToken:
        logger.error("%s cannot be decrypted with any key of %s", label, SETTING)
        raise SecretUnreadable(
            f"{label} cannot be decrypted with any key of {SETTING}: check that setting holds the key it was "
            "encrypted with (an old key stays in the list until manage.py rotate_secrets has run)."
        ) from None


def under_first_key(stored):
    """Whether a stored value is encrypted with the first key (empty counts as such: there is nothing to rotate)."""
    if not stored:
        return True
    if not is_encrypted(stored):
        return False
    try:
        _fernets()[1].decrypt(stored[len(MARK):].encode())
    except InvalidToken:
        return False
    return True


def reencrypt(stored, *, label="a secret"):
    """The stored value under the first key: plaintext encrypted, another key's token rotated (its time kept)."""
    if not stored:
        return stored
    if not is_encrypted(stored):
        return encrypt(stored)
    try:
        return MARK + _fernets()[0].rotate(stored[len(MARK):].encode()).decode()
    except InvalidToken:
        decrypt(stored, label=label)  # logs and raises the clear error
        raise


def stored_values(queryset, name):
    """(pk, stored value) of every row: what the column holds, not decrypted."""
    return queryset.order_by("pk").values_list("pk", Cast(name, output_field=models.TextField()))


def store_raw(queryset, pk, name, stored, *, expected=None):
    """Write a stored value as it is (already encrypted, or plaintext for a reverse migration); with `expected`, only
    while the row still holds that stored value (a secret staff changed meanwhile is not overwritten). Rows written."""
    rows = queryset.filter(pk=pk)
    if expected is not None:
        rows = rows.alias(_stored=Cast(name, output_field=models.TextField())).filter(_stored=expected)
    return rows.update(**{name: models.Value(stored, output_field=models.TextField())})


def encrypted_fields(model):
    return [field.name for field in model._meta.concrete_fields if isinstance(field, EncryptedCharField)]


class EmptyOnlyExact(Exact):
    """`field=""` only: a secret cannot be looked up by value, its tokens differ each time."""

    def get_prep_lookup(self):
        if self.rhs not in ("", None) and not hasattr(self.rhs, "resolve_expression"):
            raise FieldError(f"{self.lhs.output_field.label} is encrypted: it cannot be queried by value (only "
                             "=\"\" and isnull); find the row by another field and compare in Python.")
        return super().get_prep_lookup()


class EncryptedCharField(models.CharField):
    """A CharField whose value is stored as a Fernet token; max_length limits the plaintext, the column is text."""

    description = "An encrypted string"

    @property
    def label(self):
        return f"{self.model._meta.label}.{self.name}" if hasattr(self, "model") else self.name

    def get_internal_type(self):
        # A token is about 1.4× the secret plus 80 characters: a text column, whatever max_length says.
        return "TextField"

    def from_db_value(self, value, expression, connection):
        return decrypt(value, label=self.label)

    def get_prep_value(self, value):
        return encrypt(super().get_prep_value(value))

    def get_lookup(self, lookup_name):
        if lookup_name == "exact":
            return EmptyOnlyExact
        if lookup_name == "isnull":
            return IsNull
        raise FieldError(f"{self.label} is encrypted: it cannot be queried with {lookup_name!r} (only =\"\" and "
                         "isnull).")

    def get_transform(self, lookup_name):
        return None
