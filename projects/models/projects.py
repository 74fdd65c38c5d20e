import secrets

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from fulfillment.texts import render as render_text
from projects.choices import ProjectState, RenderPurpose, RenderState


def new_ref():
    return f"p{secrets.token_hex(8)}"


def new_token():
    return secrets.token_urlsafe(24)


class CustomerProfile(models.Model):
    """A shop customer's account here, linked to the WooCommerce customer by id or email."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="customer_profile")
    store = models.ForeignKey("fulfillment.Store", on_delete=models.CASCADE, related_name="customers")
    woo_customer_id = models.BigIntegerField(_("WooCommerce customer id"), null=True, blank=True)
    # Set when the customer opened the link mailed at sign-up: only then is the account linked to the shop's
    # customer by email, or anyone could sign up with someone else's address and receive their projects.
    email_confirmed_at = models.DateTimeField(_("email confirmed"), null=True, blank=True)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        constraints = [
            models.UniqueConstraint(fields=["store", "woo_customer_id"], condition=models.Q(woo_customer_id__isnull=False),
                                    name="customer_unique_woo_id"),
        ]

    def __str__(self):
        return self.user.email or self.user.username


class ProductTemplate(models.Model):
    """What a personalised product looks like: size, bleed, DPI, pages and their slots, mock-up."""

    store = models.ForeignKey("fulfillment.Store", on_delete=models.CASCADE, related_name="product_templates")
    name = models.CharField(_("name"), max_length=200)
    product_ids = models.JSONField(_("WooCommerce product/variation ids"), default=list, blank=True)
    trim_width_mm = models.DecimalField(_("trim width (mm)"), max_digits=7, decimal_places=2)
    trim_height_mm = models.DecimalField(_("trim height (mm)"), max_digits=7, decimal_places=2)
    bleed_mm = models.DecimalField(_("bleed (mm)"), max_digits=5, decimal_places=2, default=3)
    dpi = models.PositiveIntegerField(_("DPI"), default=300)
    min_pages = models.PositiveIntegerField(_("minimum pages"), default=1)
    max_pages = models.PositiveIntegerField(_("maximum pages"), default=1)
    # [{"background": "#RRGGBB", "slots": [{"id", "kind": "photo"|"text", "box": [x, y, w, h] (mm, trim box),
    #   "font", "size_pt", "colour", "align"}]}]; a book repeats its last page layout up to max_pages.
    page_layouts = models.JSONField(_("page layouts"), default=list)
    mockup = models.ImageField(_("mock-up base image"), upload_to="templates/mockups/", blank=True)
    mockup_area = models.JSONField(_("design area on the mock-up (px)"), default=list, blank=True)
    min_effective_dpi = models.PositiveIntegerField(_("warn below effective DPI"), default=150)

    class Meta:
        verbose_name = _("product template")
        verbose_name_plural = _("product templates")
        ordering = ["store", "name"]

    def __str__(self):
        return self.name


class Project(models.Model):
    """A personalisation made in the editor: saved, or linked to the order line it became."""

    ref = models.CharField(_("reference"), max_length=32, unique=True, default=new_ref,
                           help_text=_("Put in the cart line's meta as _project_id."))
    store = models.ForeignKey("fulfillment.Store", on_delete=models.CASCADE, related_name="projects")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="projects")
    # Anonymous editors resume with this; it is never shown to staff lists.
    resume_token = models.CharField(max_length=64, default=new_token)
    template = models.ForeignKey(ProductTemplate, on_delete=models.PROTECT, related_name="projects")
    title = models.CharField(_("title"), max_length=200, blank=True)
    # [{"slots": {"<slot id>": {"asset": <ProjectAsset id>, "focal": [fx, fy], "scale": 1.0} | {"text": "..."}}}]
    pages = models.JSONField(_("pages"), default=list)
    state = models.CharField(_("state"), max_length=16, choices=ProjectState.choices, default=ProjectState.DRAFT)
    order_line = models.OneToOneField("fulfillment.OrderLine", null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="project")
    warnings = models.JSONField(_("warnings"), default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("project")
        verbose_name_plural = _("projects")
        ordering = ["-updated_at", "-id"]
        permissions = [
            ("reprocess_project", _("Can reprocess orders: render their projects again and produce them again")),
        ]
        indexes = [
            models.Index(fields=["owner", "-updated_at"], name="project_owner_idx"),
            models.Index(fields=["store", "state", "-updated_at"], name="project_store_state_idx"),
        ]

    def __str__(self):
        return self.title or self.ref


class ProjectAsset(models.Model):
    """A client image, validated and normalised (orientation applied); the original is kept beside it."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="assets")
    original = models.FileField(upload_to="assets/originals/%Y/%m/")
    image = models.ImageField(upload_to="assets/images/%Y/%m/", width_field="width", height_field="height")
    # A small JPEG for the customer's pages: a phone should not load 20 MB photos to pick one.
    thumbnail = models.ImageField(upload_to="assets/thumbnails/%Y/%m/", blank=True)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    format = models.CharField(max_length=10)
    size = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("client image")
        verbose_name_plural = _("client images")
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"{self.project.ref}/{self.pk}"


class Render(models.Model):
    """A numbered version of a project's output: previews, mock-up and (for production) the print PDF."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="renders")
    version = models.PositiveIntegerField()
    purpose = models.CharField(max_length=16, choices=RenderPurpose.choices, default=RenderPurpose.PRODUCTION)
    state = models.CharField(_("state"), max_length=16, choices=RenderState.choices, default=RenderState.QUEUED)
    error = models.TextField(blank=True)
    # The pages as they were when the version was asked for: an edit made while it waits is the next version's.
    pages = models.JSONField(default=list, blank=True)
    # Set when staff reprocess an order: the reprint follows once every render of the reprocess is done.
    reprocess = models.ForeignKey("projects.Reprocess", null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="renders")
    previews = models.JSONField(default=list, blank=True)  # storage names of the page previews (JPEG)
    mockup = models.FileField(upload_to="renders/", blank=True)
    production_file = models.FileField(upload_to="renders/", blank=True)
    checksum = models.CharField(max_length=64, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # When a worker took it: a render "rendering" for long after this lost its worker and is taken again.
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("render")
        verbose_name_plural = _("renders")
        ordering = ["project", "-version"]
        constraints = [models.UniqueConstraint(fields=["project", "version"], name="render_unique_version")]

    def __str__(self):
        return f"{self.project.ref} v{self.version}"


class RenderPage(models.Model):
    """One page of a render made by a task of its own (a big book's pages are rendered side by side).

    A page is in once `done_at` is set, with the storage names of what it left: its preview (final), its print
    JPEG (until the PDF is assembled from them) and, for the first page, the mock-up. The task that marks the last
    page in, under the render's row lock, assembles the PDF: once, however many pages finish at the same moment.
    """

    render = models.ForeignKey(Render, on_delete=models.CASCADE, related_name="page_parts")
    index = models.PositiveSmallIntegerField()  # 0 = the first page
    done_at = models.DateTimeField(null=True, blank=True)
    preview = models.CharField(max_length=255, blank=True)
    print_file = models.CharField(max_length=255, blank=True)
    mockup = models.CharField(max_length=255, blank=True)
    width = models.PositiveIntegerField(default=0)  # px of the print JPEG
    height = models.PositiveIntegerField(default=0)
    warnings = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["render", "index"]
        constraints = [models.UniqueConstraint(fields=["render", "index"], name="renderpage_unique_index")]

    def __str__(self):
        return f"{self.render} p{self.index + 1}"


class ProjectEvent(models.Model):
    """A project's history: saved, rendered, edited by staff, reprocessed."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=32)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    message = models.TextField(blank=True)  # in English; the project page shows `text` when set
    data = models.JSONField(default=dict, blank=True)
    text = models.JSONField(null=True, blank=True)  # the message as data (fulfillment.texts), for every language
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "-created_at"], name="projectevent_project_idx")]

    def display_message(self):
        """The message in the active language (older events: as written)."""
        return render_text(self.text) if isinstance(self.text, dict) else self.message
