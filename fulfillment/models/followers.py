from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class FollowerRetry(models.Model):
    """What followed an order's change failed (fulfillment.followers, rule RETRY): run again until it succeeds."""

    follower = models.CharField(_("follower"), max_length=64)
    source = models.CharField(_("source"), max_length=16)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    changes = models.JSONField(_("changes"), default=list)  # [OrderChange.as_json()]
    error = models.TextField(_("error"), blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=1)
    created_at = models.DateTimeField(_("failed first at"), auto_now_add=True)
    next_attempt_at = models.DateTimeField(_("next attempt at"), db_index=True)

    class Meta:
        verbose_name = _("follower retry")
        verbose_name_plural = _("follower retries")
        ordering = ["next_attempt_at", "pk"]

    def __str__(self):
        return f"{self.follower} ({len(self.changes)} orders)"
