from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from projects.choices import ReprocessState


class Reprocess(models.Model):
    """Staff asked for an order's projects to be rendered again and the order to be produced again."""

    order = models.ForeignKey("fulfillment.Order", on_delete=models.CASCADE, related_name="reprocesses")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    reason = models.TextField(_("reason"))
    state = models.CharField(_("state"), max_length=16, choices=ReprocessState.choices,
                             default=ReprocessState.RENDERING)
    outcome = models.TextField(_("outcome"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("reprocess")
        verbose_name_plural = _("reprocesses")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"#{self.order_id} {self.created_at:%Y-%m-%d %H:%M}"
