"""My Account → Projects: a customer's own projects, and a simple editor for their drafts.

Every lookup is filtered by owner=request.user: another customer's project, image or preview is a 404, never a 403
that would tell it exists.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from backoffice.numbers import whole_number
from projects import selectors
from projects.choices import ProjectState, RenderPurpose, RenderState
from projects.errors import ProjectError
from projects.forms import RenameForm, UploadForm
from projects.services.assets import asset_upload
from projects.services.projects import (
    TEXT_MAX_CHARS, page_layout, project_delete, project_duplicate, project_rename, project_save_pages,
)
from projects.services.rendering import render_request
from projects.views.files import stored_file_response

TEMPLATES = "projects/my_projects/"
PENDING = (RenderState.QUEUED, RenderState.RENDERING)

customer_required = login_required(login_url="account:login")


def _stored(name):
    return stored_file_response(name, max_age=86400)


def _project_or_404(request, ref):
    project = selectors.customer_project(user=request.user, ref=ref)
    if project is None:
        raise Http404
    return project


def _preview_urls(project, render_row):
    if render_row is None:
        return []
    return [reverse("account:render_page", args=[project.ref, render_row.pk, index])
            for index in range(len(render_row.previews))]


def _editor_pages(project):
    """Each page's slots with what the project holds in them, in the template's order, for the form."""
    pages = []
    for index, page in enumerate(project.pages):
        values = page.get("slots", {})
        slots = []
        for slot in page_layout(project.template, index).get("slots", []):
            value = values.get(slot["id"], {})
            slots.append({"id": slot["id"], "kind": slot.get("kind"), "field": f"slot-{index}-{slot['id']}",
                          "asset": value.get("asset"), "text": value.get("text", ""),
                          "max_chars": slot.get("max_chars") or TEXT_MAX_CHARS})
        pages.append({"number": index + 1, "slots": slots})
    return pages


def _pages_from_post(project, data):
    """The pages as the form sends them; a photo kept in its slot keeps its focal point and scale."""
    pages = []
    for index, page in enumerate(project.pages):
        before = page.get("slots", {})
        slots = {}
        for slot in page_layout(project.template, index).get("slots", []):
            name = f"slot-{index}-{slot['id']}"
            if slot.get("kind") == "photo":
                chosen = data.get(name, "")
                if not chosen:
                    continue
                asset = chosen if whole_number(chosen) is None else whole_number(chosen)
                previous = before.get(slot["id"], {})
                slots[slot["id"]] = {**previous, "asset": asset} if previous.get("asset") == asset else {"asset": asset}
            elif data.get(name, "").strip():
                slots[slot["id"]] = {"text": data[name]}
        pages.append({"slots": slots})
    return pages


@customer_required
@require_GET
def project_list(request):
    paginator = Paginator(selectors.customer_projects(user=request.user), 24)
    page = paginator.get_page(request.GET.get("page"))
    return render(request, TEMPLATES + "list.html", {"page": page, "projects": page.object_list})


@customer_required
@require_GET
def project_detail(request, ref):
    project = _project_or_404(request, ref)
    preview = selectors.latest_preview(project)
    latest = selectors.latest_render(project)
    context = {
        "project": project,
        "editable": project.state == ProjectState.DRAFT,
        "pages": _editor_pages(project),
        "assets": selectors.project_assets(project),
        "preview": preview,
        "preview_urls": _preview_urls(project, preview),
        "pending": latest is not None and latest.state in PENDING,
        "failed": latest is not None and latest.state == RenderState.FAILED,
        "rename_form": RenameForm(initial={"title": project.title}),
        "upload_form": UploadForm(),
    }
    return render(request, TEMPLATES + "detail.html", context)


def _refused(request, project, error):
    messages.error(request, error.message)
    return redirect("account:project", ref=project.ref)


@customer_required
@require_POST
def project_save(request, ref):
    project = _project_or_404(request, ref)
    try:
        project = project_save_pages(project=project, pages=_pages_from_post(project, request.POST),
                                     user=request.user, source="my_account")
    except ProjectError as error:
        return _refused(request, project, error)
    render_request(project=project, purpose=RenderPurpose.PREVIEW, user=request.user,
                   reason="Saved in My Account")
    messages.success(request, _("Saved. The preview is being updated."))
    return redirect("account:project", ref=project.ref)


@customer_required
@require_POST
def project_upload(request, ref):
    project = _project_or_404(request, ref)
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, _("Choose a photo to upload."))
        return redirect("account:project", ref=project.ref)
    try:
        asset_upload(project=project, uploaded_file=form.cleaned_data["file"], user=request.user)
    except ProjectError as error:
        return _refused(request, project, error)
    messages.success(request, _("Photo uploaded: choose it for a photo slot and save."))
    return redirect("account:project", ref=project.ref)


@customer_required
@require_POST
def project_rename_view(request, ref):
    project = _project_or_404(request, ref)
    try:
        project_rename(project=project, title=request.POST.get("title", ""), user=request.user)
    except ProjectError as error:
        return _refused(request, project, error)
    messages.success(request, _("Renamed."))
    return redirect("account:project", ref=project.ref)


@customer_required
@require_POST
def project_duplicate_view(request, ref):
    project = _project_or_404(request, ref)
    try:
        copy = project_duplicate(project=project, user=request.user)
    except ProjectError as error:
        return _refused(request, project, error)
    messages.success(request, _("Copied: this is the new copy, saved as a draft."))
    return redirect("account:project", ref=copy.ref)


@customer_required
def project_delete_view(request, ref):
    project = _project_or_404(request, ref)
    if request.method == "POST":
        try:
            project_delete(project=project, user=request.user)
        except ProjectError as error:
            return _refused(request, project, error)
        messages.success(request, _("The project “%(title)s” was deleted.") % {"title": project.title})
        return redirect("account:projects")
    if project.state != ProjectState.DRAFT:
        return _refused(request, project, ProjectError(
            _("Only saved projects can be deleted; ordered ones stay with their order.")))
    return render(request, TEMPLATES + "confirm_delete.html", {"project": project})


@customer_required
@require_GET
def project_preview_state(request, ref):
    """For the editor page's script: is a newer preview still being made?"""
    project = _project_or_404(request, ref)
    latest = selectors.latest_render(project)
    preview = selectors.latest_preview(project)
    return JsonResponse({
        "state": latest.state if latest else None,
        "pending": latest is not None and latest.state in PENDING,
        "version": preview.version if preview else None,
        "previews": _preview_urls(project, preview),
    })


@customer_required
@require_GET
def asset_file(request, ref, asset_id):
    asset = selectors.customer_asset(user=request.user, ref=ref, asset_id=asset_id)
    if asset is None:
        raise Http404
    wanted = asset.thumbnail if request.GET.get("size") == "thumb" and asset.thumbnail else asset.image
    return _stored(wanted.name)


@customer_required
@require_GET
def render_page(request, ref, render_id, page):
    render_row = selectors.customer_render(user=request.user, ref=ref, render_id=render_id)
    if render_row is None or not 0 <= page < len(render_row.previews):
        raise Http404
    return _stored(render_row.previews[page])


@customer_required
@require_GET
def render_mockup(request, ref, render_id):
    render_row = selectors.customer_render(user=request.user, ref=ref, render_id=render_id)
    if render_row is None or not render_row.mockup:
        raise Http404
    return _stored(render_row.mockup.name)
