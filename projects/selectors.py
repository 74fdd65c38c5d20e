"""Read queries of the customer pages, the editor API, the staff pages, and fulfillment (production files)."""

from django.conf import settings
from django.core.files.storage import default_storage
from django.db.models import OuterRef, Subquery
from django.utils.translation import gettext as _

from backoffice.numbers import whole_number
from fulfillment.print_files import PrintFileSource
from projects.choices import ProjectState, RenderPurpose, RenderState
from projects.models import Project, ProjectAsset, Render

# What a customer sees of their projects: a deleted draft is archived and gone from their side.
CUSTOMER_STATES = (ProjectState.DRAFT, ProjectState.ORDERED)


def _done_with_previews():
    return Render.objects.filter(state=RenderState.DONE).exclude(previews=[])


def customer_projects(*, user):
    """The customer's saved and ordered projects, newest change first, with what the list shows in one query."""
    latest = _done_with_previews().filter(project=OuterRef("pk")).order_by("-version")
    return (Project.objects.filter(owner=user, state__in=CUSTOMER_STATES)
            .select_related("template", "order_line__order")
            .annotate(thumbnail_render_id=Subquery(latest.values("pk")[:1]))
            .order_by("-updated_at", "-id"))


def customer_project(*, user, ref):
    """One of the customer's projects, or None: never another customer's."""
    return (Project.objects.filter(owner=user, state__in=CUSTOMER_STATES, ref=ref)
            .select_related("template", "store", "order_line__order").first())


def customer_asset(*, user, ref, asset_id):
    return (ProjectAsset.objects.filter(pk=asset_id, project__ref=ref, project__owner=user,
                                        project__state__in=CUSTOMER_STATES).first())


def customer_render(*, user, ref, render_id):
    return (Render.objects.filter(pk=render_id, project__ref=ref, project__owner=user,
                                  project__state__in=CUSTOMER_STATES).first())


def latest_preview(project):
    """The newest finished render with page previews (a production render counts: it has them too)."""
    return _done_with_previews().filter(project=project).order_by("-version").first()


def latest_render(project):
    return Render.objects.filter(project=project).order_by("-version").first()


def project_assets(project):
    return ProjectAsset.objects.filter(project=project).order_by("created_at", "pk")


# -- production files, for fulfillment ---------------------------------------------------------------------

_UNSET = object()


def latest_production_render(line):
    """The newest production render of the order line's project, or None; remembered on the line object."""
    cached = getattr(line, "_latest_production_render", _UNSET)
    if cached is _UNSET:
        cached = (Render.objects.filter(project__order_line=line, purpose=RenderPurpose.PRODUCTION)
                  .select_related("project").order_by("-version").first()) if line.pk else None
        line._latest_production_render = cached
    return cached


def production_file_location(name):
    """Where a provider fetches a stored file: under PRODUCTION_FILES_BASE_URL when set (a provider on the
    internet needs a URL), else the local path (the file-drop provider copies it)."""
    base = getattr(settings, "PRODUCTION_FILES_BASE_URL", "")
    if base:
        return base.rstrip("/") + "/" + name
    try:
        return default_storage.path(name)
    except NotImplementedError:  # a remote storage: its URL is the location
        return default_storage.url(name)


def line_production_file(line):
    """The print file of a personalised line from our newest production render, or None."""
    render = latest_production_render(line)
    if render is None or render.state != RenderState.DONE or not render.production_file:
        return None
    return production_file_location(render.production_file.name)


def line_production_problem(line):
    """Why a line's project cannot go to production yet (its newest render failed or is not finished), or None.

    A failed newest version blocks even when an older one is done: that older design is the one staff changed.
    """
    render = latest_production_render(line)
    if render is None or render.state == RenderState.DONE:
        return None
    if render.state == RenderState.FAILED:
        return _("render failed: %(error)s") % {"error": render.error}
    return _("the production file of %(name)s is being rendered (version %(version)s)") % {
        "name": line.name, "version": render.version}


def line_render_pending(line):
    """True while the newest production render of the line's project is queued or running."""
    render = latest_production_render(line)
    return render is not None and render.state in (RenderState.QUEUED, RenderState.RENDERING)


def line_production_files(line):
    location = line_production_file(line)
    return [location] if location else []


def is_production_file(name):
    """Whether a stored file is the print file of one of our renders (any version: a provider may fetch the file of
    an older submission days later)."""
    # Stored as renders/<project ref>/v<version>/<file> (services.rendering._store): the (project, version) key
    # finds the row without a scan of every render's file name.
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != "renders" or whole_number(parts[2][1:]) is None or parts[2][0] != "v":
        return False
    return Render.objects.filter(project__ref=parts[1], version=whole_number(parts[2][1:]),
                                 production_file=name).exists()


# What production asks of a personalised line (fulfillment.print_files), registered in ProjectsConfig.ready().
PRINT_FILES = PrintFileSource(name="projects", claims=lambda line: bool(line.project_ref),
                              files=line_production_files, problem=line_production_problem,
                              pending=line_render_pending, serves=is_production_file)


# -- staff pages ------------------------------------------------------------------------------------------

def staff_projects():
    """The staff project list: owner, template, order and the last render's state, in the list's one query."""
    latest = Render.objects.filter(project=OuterRef("pk")).order_by("-version")
    return (Project.objects.select_related("owner", "template", "store", "order_line__order")
            .annotate(last_render_state=Subquery(latest.values("state")[:1]),
                      last_render_version=Subquery(latest.values("version")[:1])))


def _renders(project):
    # The pages snapshot can be large (a photo book) and no staff page shows it.
    return Render.objects.filter(project=project).defer("pages").select_related("requested_by").order_by("-version")


def project_outputs(project):
    """What staff look at: the newest render, the newest with page previews, the newest production render."""
    return {
        "latest": _renders(project).first(),
        "preview": _renders(project).filter(state=RenderState.DONE).exclude(previews=[]).first(),
        "production": _renders(project).filter(purpose=RenderPurpose.PRODUCTION).first(),
    }


def project_history(project, limit=50):
    return list(_renders(project)[:limit])


def order_personalisation(order):
    """{order line id: {"project", "assets", "latest", "preview", "production"}} of the order's projects."""
    projects = list(Project.objects.filter(order_line__order=order).select_related("template").order_by("pk"))
    assets = {}
    for asset in ProjectAsset.objects.filter(project__in=projects).order_by("created_at", "pk"):
        assets.setdefault(asset.project_id, []).append(asset)
    return {project.order_line_id: {"project": project, "assets": assets.get(project.pk, []),
                                    **project_outputs(project)}
            for project in projects}
