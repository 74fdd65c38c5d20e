"""Reprocess: staff changed an ordered project; its order is rendered again and produced again on purpose.

Two steps, because rendering takes a worker a few seconds: `order_reprocess` asks for a new production
version of each of the order's projects; when the last of them is done, `reprocess_continue` (called by the
render task) sends the order back to production as a reprint linked to the first submission. If nothing had
been submitted yet there is nothing to reprint: the next submission simply takes the new files.
"""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from fulfillment.models import Order
from fulfillment.services.submissions import SubmissionError, order_reprint
from projects import events, order_events
from projects.choices import RenderPurpose, RenderState, ReprocessState
from projects.errors import ProjectError
from projects.models import Project, Render, Reprocess
from projects.services.rendering import render_execute, render_page_execute, render_request


def order_reprocess(*, order, reason, user):
    """Render the order's projects again as new versions; the reprint follows when they are done."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise ProjectError(_("Say why the order is reprocessed."), field="reason")
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        projects = list(Project.objects.filter(order_line__order=order).select_related("template").order_by("pk"))
        if not projects:
            raise ProjectError(_("Order #%(number)s has no personalisation project to render again.") % {
                "number": order.number})
        if Reprocess.objects.filter(order=order, state=ReprocessState.RENDERING).exists():
            raise ProjectError(_("Order #%(number)s is being reprocessed already; wait until its new version is "
                                 "rendered.") % {"number": order.number})
        reprocess = Reprocess.objects.create(order=order, requested_by=user, reason=reason)
        versions = []
        for project in projects:
            before = (Render.objects.filter(project=project, purpose=RenderPurpose.PRODUCTION,
                                            state=RenderState.DONE).order_by("-version").values_list("version", flat=True)
                      .first())
            render = render_request(project=project, purpose=RenderPurpose.PRODUCTION, user=user, reason=reason,
                                    reprocess=reprocess)
            events.reprocessed_event(render, order=order).save()
            versions.append((project.ref, before, render.version))
        order_events.reprocessed(reprocess, versions=versions).save()
    return reprocess


def orders_bulk_reprocess(*, orders, reason, user):
    """Reprocess a selection, each order on its own: ([reprocessed numbers], [(number, why not)])."""
    done, refused = [], []
    for order in orders:
        try:
            order_reprocess(order=order, reason=reason, user=user)
        except ProjectError as exc:
            refused.append((order.number, exc.message))
        else:
            done.append(order.number)
    return done, refused


def render_and_continue(render_id):
    """Render one version (the render task); a version that belongs to a reprocess then lets it go on."""
    render = render_execute(render_id)
    if render.reprocess_id and render.state in (RenderState.DONE, RenderState.FAILED):
        reprocess_continue(reprocess_id=render.reprocess_id)
    return render


def render_page_and_continue(render_id, index):
    """Render one page of a big book (a page task); the page that finishes or fails the render lets its reprocess go on."""
    render = render_page_execute(render_id, index)
    if render.reprocess_id and render.state in (RenderState.DONE, RenderState.FAILED):
        reprocess_continue(reprocess_id=render.reprocess_id)
    return render


def reprocess_continue(*, reprocess_id):
    """Once every render of a reprocess is finished: reprint the order, or say why not. Safe to call twice."""
    with transaction.atomic():
        # The row lock makes "all done → reprint" happen once when two renders finish at the same moment.
        reprocess = (Reprocess.objects.select_for_update(of=("self",)).select_related("order", "requested_by")
                     .get(pk=reprocess_id))
        if reprocess.state != ReprocessState.RENDERING:
            return reprocess
        renders = list(reprocess.renders.select_related("project").order_by("pk"))
        if any(r.state in (RenderState.QUEUED, RenderState.RENDERING) for r in renders):
            return reprocess
        failed = [r for r in renders if r.state == RenderState.FAILED]
        versions = ", ".join(f"{r.project.ref} v{r.version}" for r in renders)
        if failed:
            reprocess.state = ReprocessState.FAILED
            reprocess.outcome = "Not produced again: " + "; ".join(
                f"{r.project.ref} v{r.version} failed: {r.error}" for r in failed)
        else:
            try:
                submissions = order_reprint(order=reprocess.order, reason=reprocess.reason,
                                            user=reprocess.requested_by)
            except SubmissionError:
                reprocess.state = ReprocessState.RENDERED
                reprocess.outcome = (f"Rendered again ({versions}); nothing had been submitted, so the next "
                                     f"submission sends the new files")
            else:
                reprocess.state = ReprocessState.REPRINTED
                reprocess.outcome = f"Rendered again ({versions}); reprint queued for " + ", ".join(
                    s.provider.name for s in submissions)
        reprocess.finished_at = timezone.now()
        reprocess.save(update_fields=["state", "outcome", "finished_at"])
        order_events.reprocess_outcome(reprocess).save()
    return reprocess
