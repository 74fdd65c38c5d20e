"""Staff pages of projects: the list of every project with its order, and a project's page to change it."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from backoffice.numbers import whole_number
from projects import selectors
from projects.choices import RenderState
from projects.errors import ProjectError
from projects.models import ProductTemplate, Project, ProjectEvent
from projects.services.projects import page_layout
from projects.services.staff import project_staff_edit
from projects.views.files import stored_file_response

FILE_MAX_AGE = 3600
RENDER_STATE_CLASS = {RenderState.FAILED: "render-failed", RenderState.DONE: "render-done"}


class RenderStatusFilter(admin.SimpleListFilter):
    title = _("last render")
    parameter_name = "render"

    def lookups(self, request, model_admin):
        return [*RenderState.choices, ("none", _("Never rendered"))]

    def queryset(self, request, queryset):
        if self.value() == "none":
            return queryset.filter(last_render_state__isnull=True)
        if self.value() in RenderState.values:
            return queryset.filter(last_render_state=self.value())
        return queryset


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("project_column", "title", "owner_column", "template", "updated_at", "order_column",
                    "render_column")
    list_display_links = ("project_column",)
    list_filter = ("state", "store", "template", RenderStatusFilter)
    search_fields = ("=ref", "title", "owner__email", "=order_line__order__number")
    search_help_text = _("Project reference, title, owner's email or WooCommerce order number")
    list_per_page = 50
    show_full_result_count = False

    def get_queryset(self, request):
        # The list shows neither the pages (a photo book's are long) nor the warnings.
        return selectors.staff_projects().defer("pages", "warnings")

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if term.startswith("#") and whole_number(term[1:]) is not None:  # "#143": an order number, as staff write it
            return queryset.filter(order_line__order__number=term[1:]), False
        return super().get_search_results(request, queryset, term)

    def has_add_permission(self, request):
        return False  # projects are made in the shop's editor

    def has_delete_permission(self, request, obj=None):
        return False  # a project stays with its order and its history

    @admin.display(description=_("project"), ordering="pk")
    def project_column(self, project):
        return format_html("<strong>{}</strong><br><small>{}</small>", project.pk, project.ref)

    @admin.display(description=_("owner"), ordering="owner__email")
    def owner_column(self, project):
        if project.owner is None:
            return format_html('<span class="quiet">{}</span>', _("anonymous"))
        return project.owner.email or project.owner.get_username()

    @admin.display(description=_("WooCommerce order"), ordering="order_line__order__number")
    def order_column(self, project):
        if project.order_line is None:
            return "—"
        order = project.order_line.order
        return format_html('<a href="{}">#{}</a>', reverse("admin:fulfillment_order_change", args=[order.pk]),
                           order.number)

    @admin.display(description=_("last render"))
    def render_column(self, project):
        if project.last_render_state is None:
            return "—"
        return format_html('<span class="{}">v{} · {}</span>', RENDER_STATE_CLASS.get(project.last_render_state, ""),
                           project.last_render_version, RenderState(project.last_render_state).label)

    # -- the project's page --------------------------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/renders/<int:render_id>/pages/<int:page>/", view(self.render_page_file),
                 name="projects_project_render_page"),
            path("<int:pk>/renders/<int:render_id>/<str:kind>/", view(self.render_file),
                 name="projects_project_render_file"),
            path("<int:pk>/images/<int:asset_id>/<str:variant>/", view(self.asset_file),
                 name="projects_project_asset"),
        ] + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        project = get_object_or_404(selectors.staff_projects(), pk=object_id)
        if request.method == "POST":
            if not self.has_change_permission(request, project):
                raise PermissionDenied
            try:
                render = project_staff_edit(project=project, pages=pages_from_post(project, request.POST),
                                            user=request.user)
            except ProjectError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return self.render_project_page(request, project, errors={exc.field: exc.message},
                                                posted=request.POST, status=400)
            if render is None:
                self.message_user(request, _("Nothing changed."), messages.INFO)
            else:
                self.message_user(request, _("Saved; the preview (version %(version)s) is being rendered. The print "
                                             "file changes when the order is reprocessed.") % {
                                      "version": render.version}, messages.SUCCESS)
            return redirect(reverse("admin:projects_project_change", args=[project.pk]))
        return self.render_project_page(request, project)

    def render_project_page(self, request, project, *, errors=None, posted=None, status=200):
        assets = list(selectors.project_assets(project))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Project %(ref)s") % {"ref": project.ref},
            "project": project,
            "order": project.order_line.order if project.order_line else None,
            "outputs": selectors.project_outputs(project),
            "history": selectors.project_history(project),
            "events": ProjectEvent.objects.filter(project=project).select_related("user")[:50],
            "assets": assets,
            "pages": edit_rows(project, assets, posted, errors),
            "errors": errors or {},
            "can_change": self.has_change_permission(request, project),
            "can_reprocess": request.user.has_perm("projects.reprocess_project"),
        }
        return TemplateResponse(request, "admin/projects/project/project_page.html", context, status=status)

    # -- files: only through these views, after the admin's permission check; never a public /media/ URL ---

    def _project(self, request, pk):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        return get_object_or_404(Project, pk=pk)

    def render_page_file(self, request, pk, render_id, page):
        render = get_object_or_404(self._project(request, pk).renders, pk=render_id)
        if not 1 <= page <= len(render.previews):
            raise Http404
        return stored_file_response(render.previews[page - 1], max_age=FILE_MAX_AGE)

    def render_file(self, request, pk, render_id, kind):
        render = get_object_or_404(self._project(request, pk).renders, pk=render_id)
        field = {"mockup": render.mockup, "production": render.production_file}.get(kind)
        if not field:
            raise Http404
        return stored_file_response(field.name, max_age=FILE_MAX_AGE)

    def asset_file(self, request, pk, asset_id, variant):
        asset = get_object_or_404(self._project(request, pk).assets, pk=asset_id)
        field = {"thumbnail": asset.thumbnail or asset.image, "image": asset.image, "original": asset.original}.get(
            variant)
        if not field:
            raise Http404
        return stored_file_response(field.name, max_age=FILE_MAX_AGE)


def edit_rows(project, assets, posted=None, errors=None):
    """The edit form's pages: each slot of the template's layout with its value (saved, or as posted)."""
    template = project.template
    pages = project.pages or []
    count = max(len(pages), template.min_pages, 1)
    rows = []
    for index in range(count):
        saved = (pages[index] if index < len(pages) else {}).get("slots") or {}
        slots = []
        for slot in page_layout(template, index).get("slots", []):
            value = saved.get(slot["id"]) or {}
            prefix = f"p{index}_{slot['id']}"
            if posted is not None:
                value = _posted_value(slot, prefix, posted) or {}
            focal = value.get("focal") or [0.5, 0.5]
            field = f"pages[{index}].slots.{slot['id']}"
            error = next((message for name, message in (errors or {}).items()
                          if name and (name == field or name.startswith(field + "."))), "")
            slots.append({"slot": slot, "prefix": prefix, "kind": slot.get("kind"), "text": value.get("text", ""),
                          "asset": value.get("asset"), "fx": focal[0], "fy": focal[1],
                          "scale": value.get("scale") or 1.0, "error": error})
        rows.append({"number": index + 1, "slots": slots})
    return rows


def _number(text):
    try:
        return float(str(text).replace(",", "."))
    except ValueError:
        return text  # validate_pages names the field and says what it expects


def _posted_value(slot, prefix, post):
    if slot.get("kind") == "photo":
        asset = post.get(f"{prefix}_asset", "")
        if not asset:
            return None
        value = {"asset": asset if whole_number(asset) is None else whole_number(asset)}
        fx, fy, scale = (post.get(f"{prefix}_{name}", "") for name in ("fx", "fy", "scale"))
        if fx != "" or fy != "":
            value["focal"] = [_number(fx or "0.5"), _number(fy or "0.5")]
        if scale != "":
            value["scale"] = _number(scale)
        return value
    return {"text": post.get(f"{prefix}_text", "")}


def pages_from_post(project, post):
    """The pages as the staff form posted them, in the editor's JSON shape (validate_pages checks them)."""
    count = max(len(project.pages or []), project.template.min_pages, 1)
    pages = []
    for index in range(count):
        slots = {}
        for slot in page_layout(project.template, index).get("slots", []):
            value = _posted_value(slot, f"p{index}_{slot['id']}", post)
            if value is not None:
                slots[slot["id"]] = value
        pages.append({"slots": slots})
    return pages


@admin.register(ProductTemplate)
class ProductTemplateAdmin(admin.ModelAdmin):
    list_display = ("name", "store", "trim_size", "bleed_mm", "dpi", "pages", "min_effective_dpi")
    list_filter = ("store",)
    search_fields = ("name",)
    list_select_related = ("store",)
    fieldsets = (
        (None, {"fields": ("store", "name", "product_ids")}),
        (_("Print"), {"fields": ("trim_width_mm", "trim_height_mm", "bleed_mm", "dpi", "min_effective_dpi")}),
        (_("Pages"), {"fields": ("min_pages", "max_pages", "page_layouts")}),
        (_("Mock-up"), {"fields": ("mockup", "mockup_area")}),
    )

    @admin.display(description=_("trim size (mm)"))
    def trim_size(self, template):
        return f"{template.trim_width_mm.normalize():f} × {template.trim_height_mm.normalize():f}"

    @admin.display(description=_("pages"))
    def pages(self, template):
        if template.min_pages == template.max_pages:
            return template.min_pages
        return f"{template.min_pages}–{template.max_pages}"
