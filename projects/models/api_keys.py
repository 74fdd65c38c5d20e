import hashlib
import secrets

from django.db import models
from django.utils.translation import gettext_lazy as _

KEY_PREFIX = "ek_"


def hash_key(key):
    # The key is 32 random bytes: a plain SHA-256 is enough, there is nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


class EditorApiKey(models.Model):
    """A store's key for the editor-facing API; only its hash is kept, the key is shown once."""

    store = models.ForeignKey("fulfillment.Store", on_delete=models.CASCADE, related_name="editor_api_keys")
    name = models.CharField(_("name"), max_length=100)
    # The first characters of the key, to find its row without scanning every hash; shown to staff.
    prefix = models.CharField(_("prefix"), max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("editor API key")
        verbose_name_plural = _("editor API keys")
        ordering = ["store", "-created_at"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def generate():
        """A new random key and its lookup prefix."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        return key, key[:11]
