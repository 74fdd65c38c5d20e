"""The stores' keys for the editor-facing API."""

import hmac

from projects.models import EditorApiKey
from projects.models.api_keys import KEY_PREFIX, hash_key


def editor_key_create(*, store, name):
    """Make a key for a store's editor; returns (row, key): the key itself is never stored, show it once."""
    key, prefix = EditorApiKey.generate()
    row = EditorApiKey.objects.create(store=store, name=name, prefix=prefix, key_hash=hash_key(key))
    return row, key


def editor_key_authenticate(key):
    """The live key row (with its store) matching a presented key, or None."""
    if not key or not key.startswith(KEY_PREFIX) or len(key) > 100:
        return None
    row = (EditorApiKey.objects.select_related("store")
           .filter(prefix=key[:11], revoked_at__isnull=True).first())
    if row is None or not hmac.compare_digest(row.key_hash, hash_key(key)):
        return None
    return row
