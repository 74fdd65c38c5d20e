from django.db import models
from django.utils.translation import gettext_lazy as _


class ProjectState(models.TextChoices):
    DRAFT = "draft", _("Saved")  # being made in the editor; the customer may change it
    ORDERED = "ordered", _("Ordered")  # its cart line became an order line: read-only to the customer
    ARCHIVED = "archived", _("Archived")


class RenderState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RENDERING = "rendering", _("Rendering")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class RenderPurpose(models.TextChoices):
    PREVIEW = "preview", _("Preview")  # previews and mock-up only, while editing
    PRODUCTION = "production", _("Production")  # with the print PDF, for an order


class ReprocessState(models.TextChoices):
    RENDERING = "rendering", _("Rendering")
    REPRINTED = "reprinted", _("Sent to production again")
    RENDERED = "rendered", _("Rendered; nothing had been submitted")  # the next submission uses the new files
    FAILED = "failed", _("Render failed")
