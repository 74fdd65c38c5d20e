"""Rendering projects: asking for a numbered version, making it in a worker, and what follows it.

A production render of an ordered project becomes the line's production file (fulfillment reads it through
`projects.selectors.line_production_file`); its failure is written on the order's timeline and blocks the order's
submission with the reason. A render that belongs to a reprocess is followed by `reprocess_continue` (the render
task runs `projects.services.reprocess.render_and_continue`).
"""

import logging
import tempfile
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from fulfillment.task_queue import enqueue
from projects import events, order_events
from projects.choices import RenderPurpose, RenderState
from projects.models import Project, ProjectAsset, Render
from projects.renderer import Photo, RenderError, TemplateSpec, Text, render

logger = logging.getLogger("projects.rendering")

FONT_DIR = Path(settings.BASE_DIR) / "static" / "projects" / "fonts"
# Far longer than a 24-page book takes (~15 s); a render "rendering" for longer lost its worker.
STALLED_AFTER = timedelta(minutes=15)


def fonts():
    """{name: path} of the fonts shipped in static/projects/fonts; a slot's "font" is the file's name."""
    return {path.stem: str(path) for path in sorted(FONT_DIR.glob("*.ttf"))}


def render_request(*, project, purpose, user=None, reason="", reprocess=None):
    """Ask for the next version of a project's output; a worker renders it once this transaction commits."""
    with transaction.atomic():
        # The project's row lock numbers versions one at a time; the unique constraint backs it up.
        project = Project.objects.select_for_update().get(pk=project.pk)
        last = Render.objects.filter(project=project).aggregate(last=Max("version"))["last"] or 0
        render_row = Render.objects.create(project=project, version=last + 1, purpose=purpose, requested_by=user,
                                           reason=reason, pages=project.pages, reprocess=reprocess)
        events.render_requested_event(render_row).save()
        enqueue("projects.tasks.render_project", render_row.pk)
    return render_row


def render_execute(render_id, *, now=None):
    """Render one version and store its files; safe to run twice (a version taken, done or failed is left)."""
    now = now or timezone.now()
    with transaction.atomic():
        render_row = Render.objects.select_for_update().get(pk=render_id)
        stalled = render_row.state == RenderState.RENDERING and (
            render_row.started_at is None or render_row.started_at < now - STALLED_AFTER)
        if render_row.state != RenderState.QUEUED and not stalled:
            return render_row
        render_row.state, render_row.started_at = RenderState.RENDERING, now
        render_row.save(update_fields=["state", "started_at"])
    render_row = Render.objects.select_related("project__template", "project__order_line__order").get(pk=render_id)

    try:
        with tempfile.TemporaryDirectory(prefix=f"render-{render_id}-") as scratch:
            output = _render_files(render_row, Path(scratch))
            names = _store(render_row, output)
    except RenderError as exc:
        return _record_failure(render_row, str(exc))
    except Exception as exc:  # a bug or a full disk must still show on the order, not leave it "rendering"
        logger.exception("render %s of project %s failed", render_id, render_row.project.ref)
        return _record_failure(render_row, f"unexpected error: {exc.__class__.__name__}: {exc}")
    return _record_done(render_row, output, names)


def _template_spec(template):
    def path(name):
        return default_storage.path(name) if name else None

    layouts = [{**layout, "background_image": path(layout.get("background_image"))}
               for layout in template.page_layouts or []]
    area = template.mockup_area if isinstance(template.mockup_area, list) and len(template.mockup_area) == 4 else None
    return TemplateSpec.from_layouts(
        page_layouts=layouts, trim_width_mm=float(template.trim_width_mm),
        trim_height_mm=float(template.trim_height_mm), bleed_mm=float(template.bleed_mm), dpi=template.dpi,
        min_effective_dpi=template.min_effective_dpi, min_pages=template.min_pages, max_pages=template.max_pages,
        mockup_path=path(template.mockup.name) if template.mockup else None, mockup_area=area)


def _page_contents(project, pages):
    """The pages' slots as the renderer takes them; an image must be one of the project's own."""
    wanted = {value["asset"] for page in pages for value in (page.get("slots") or {}).values()
              if isinstance(value, dict) and value.get("asset") is not None}
    assets = {a.pk: a for a in ProjectAsset.objects.filter(project=project, pk__in=wanted)}
    contents = []
    for number, page in enumerate(pages, start=1):
        content = {}
        for slot_id, value in (page.get("slots") or {}).items():
            if not isinstance(value, dict):
                continue
            if value.get("asset") is not None:
                asset = assets.get(value["asset"])
                if asset is None or not asset.image:
                    raise RenderError(f"page {number}, {slot_id}: image {value['asset']} is not one of this "
                                      f"project's images")
                focal = value.get("focal")
                content[slot_id] = Photo(default_storage.path(asset.image.name),
                                         focal=tuple(focal) if focal else None, scale=value.get("scale") or 1.0)
            elif value.get("text") is not None:
                content[slot_id] = Text(str(value["text"]))
        contents.append(content)
    return contents


def _render_files(render_row, scratch):
    project = render_row.project
    return render(_template_spec(project.template), _page_contents(project, render_row.pages), fonts=fonts(),
                  out_dir=scratch, production=render_row.purpose == RenderPurpose.PRODUCTION,
                  # Not the version: a version of unchanged pages is the same file, with the same checksum.
                  title=project.ref)


def _store(render_row, output):
    """Save the files under renders/<project>/v<version>/; returns {"previews": [...], "mockup", "production"}."""
    folder = f"renders/{render_row.project.ref}/v{render_row.version}"

    def save(path, name):
        with open(path, "rb") as handle:
            return default_storage.save(f"{folder}/{name}", File(handle))

    names = {"previews": [save(p, p.name) for p in output.previews], "mockup": save(output.mockup, "mockup.jpg")}
    if output.production_file:
        names["production"] = save(output.production_file, f"{render_row.project.ref}-v{render_row.version}.pdf")
    return names


def _record_done(render_row, output, names):
    with transaction.atomic():
        render_row.state, render_row.error = RenderState.DONE, ""
        render_row.previews, render_row.mockup = names["previews"], names["mockup"]
        render_row.production_file = names.get("production", "")
        render_row.checksum, render_row.warnings = output.checksum, output.warnings
        render_row.finished_at = timezone.now()
        render_row.save(update_fields=["state", "error", "previews", "mockup", "production_file", "checksum",
                                       "warnings", "finished_at"])
        events.rendered_event(render_row).save()
        # The project's warnings are those of its newest finished version, whichever finished last.
        newest = Render.objects.filter(project_id=render_row.project_id, state=RenderState.DONE).aggregate(
            v=Max("version"))["v"]
        if newest == render_row.version:
            Project.objects.filter(pk=render_row.project_id).update(warnings=output.warnings)
        order = _order_of(render_row)
        if order is not None and render_row.purpose == RenderPurpose.PRODUCTION:
            order_events.rendered(render_row, order=order).save()
    return render_row


def _record_failure(render_row, error):
    logger.warning("render %s (project %s v%s) failed: %s", render_row.pk, render_row.project.ref,
                   render_row.version, error)
    with transaction.atomic():
        render_row.state, render_row.error, render_row.finished_at = RenderState.FAILED, error[:2000], timezone.now()
        render_row.save(update_fields=["state", "error", "finished_at"])
        events.render_failed_event(render_row).save()
        order = _order_of(render_row)
        if order is not None and render_row.purpose == RenderPurpose.PRODUCTION:
            order_events.render_failed(render_row, order=order).save()
    return render_row


def _order_of(render_row):
    line = render_row.project.order_line
    return line.order if line is not None else None


def renders_stalled(now=None):
    """Ids of renders to run again: queued long ago and never taken (a lost task), or left by a dead worker."""
    now = now or timezone.now()
    queued = Render.objects.filter(state=RenderState.QUEUED, created_at__lt=now - STALLED_AFTER)
    stalled = Render.objects.filter(state=RenderState.RENDERING, started_at__lt=now - STALLED_AFTER)
    return list(queued.values_list("pk", flat=True)) + list(stalled.values_list("pk", flat=True))
