"""Read queries of the customer pages and the editor API."""

from django.db.models import OuterRef, Subquery

from projects.choices import ProjectState, RenderState
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
