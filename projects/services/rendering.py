"""Rendering projects: asking for a numbered version, making it in a worker (a big book: page by page in several
workers, then assembled), and what follows it.

A production render of an ordered project becomes the line's production file (fulfillment reads it through
`projects.selectors.line_production_file`); its failure is written on the order's timeline and blocks the order's
submission with the reason. A render that belongs to a reprocess is followed by `reprocess_continue` (the render
task runs `projects.services.reprocess.render_and_continue`, a page task `render_page_and_continue`).

A production render of RENDER_PAGE_TASKS_FROM pages or more is given to one task per page
(`render_page_execute`), queued costliest first (`renderer.pages_by_cost`): each leaves its preview and print JPEG
in storage and marks its `RenderPage` in, under the render's row lock; the one that marks the last page in
assembles the PDF from the print JPEGs (the same calls as in one process: the same bytes). A page that fails fails
the render with its reason; the pages still running then stop. A page task lost with its worker is queued again
by the stalled-render watchdog, which re-takes the render and queues only the pages not in (or assembles, when
they all are).
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
from projects.models import Project, ProjectAsset, Render, RenderPage
from projects.renderer import (Photo, RenderError, RenderOutput, TemplateSpec, Text, book_check, pages_by_cost,
                               render, render_book_page, sha256_file, write_pdf)

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
    if render_row.purpose == RenderPurpose.PRODUCTION and len(render_row.pages or []) >= settings.RENDER_PAGE_TASKS_FROM:
        return _pages_dispatch(render_row)

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


def _page_contents(project, pages, first_number=1):
    """The pages' slots as the renderer takes them; an image must be one of the project's own."""
    wanted = {value["asset"] for page in pages for value in (page.get("slots") or {}).values()
              if isinstance(value, dict) and value.get("asset") is not None}
    assets = {a.pk: a for a in ProjectAsset.objects.filter(project=project, pk__in=wanted)}
    contents = []
    for number, page in enumerate(pages, start=first_number):
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


def _save(render_row, path, name):
    """Save a file under renders/<project>/v<version>/; returns its storage name."""
    with open(path, "rb") as handle:
        return default_storage.save(f"renders/{render_row.project.ref}/v{render_row.version}/{name}", File(handle))


def _pdf_name(render_row):
    return f"{render_row.project.ref}-v{render_row.version}.pdf"


def _store(render_row, output):
    """Save the files of a render made in one task; returns {"previews": [...], "mockup", "production"}."""
    names = {"previews": [_save(render_row, p, p.name) for p in output.previews],
             "mockup": _save(render_row, output.mockup, "mockup.jpg")}
    if output.production_file:
        names["production"] = _save(render_row, output.production_file, _pdf_name(render_row))
    return names


def _delete(names):
    for name in names:
        if not name:
            continue
        try:
            default_storage.delete(name)
        except OSError as exc:
            logger.warning("render file %s not deleted: %s", name, exc)


# -- a big book: one task per page, assembled by the last ----------------------------------------------------


def _pages_dispatch(render_row):
    """Check the whole project, then queue a task for each page not in yet (all of them, unless taken again)."""
    project = render_row.project
    try:
        spec = _template_spec(project.template)
        book_check(spec, len(render_row.pages))
        contents = _page_contents(project, render_row.pages)  # every image is one of the project's own
    except RenderError as exc:
        return _record_failure(render_row, str(exc))
    order = pages_by_cost(spec, contents)  # the costliest first: the workers take them so and finish together
    with transaction.atomic():
        RenderPage.objects.bulk_create([RenderPage(render=render_row, index=index)
                                        for index in range(len(render_row.pages))], ignore_conflicts=True)
        waiting = set(RenderPage.objects.filter(render=render_row, done_at__isnull=True)
                      .values_list("index", flat=True))
        waiting = [index for index in order if index in waiting]
        for index in waiting:
            enqueue("projects.tasks.render_page", render_row.pk, index)
    if not waiting:  # every page was in and the worker that was to assemble them died: taken again as stalled
        return _pages_assemble(render_row)
    return render_row


def _page_reason(index, error):
    prefix = f"page {index + 1}"
    return error if error.startswith(prefix) else f"{prefix}: {error}"


def render_page_execute(render_id, index, *, now=None):
    """Render one page of a render given to page tasks; the task marking the last page in assembles the PDF.

    Safe to run twice: a page already in, or a render failed or done meanwhile, is left (what it made, deleted).
    """
    render_row = Render.objects.select_related("project__template", "project__order_line__order").get(pk=render_id)
    part = RenderPage.objects.filter(render=render_row, index=index).first()
    if render_row.state != RenderState.RENDERING or part is None or part.done_at is not None:
        return render_row
    project, names = render_row.project, {}
    try:
        spec = _template_spec(project.template)
        (content,) = _page_contents(project, render_row.pages[index:index + 1], first_number=index + 1)
        with tempfile.TemporaryDirectory(prefix=f"render-{render_id}-p{index + 1}-") as scratch:
            made = render_book_page(spec, index, content, fonts=fonts(), out_dir=scratch, production=True)
            names["preview"] = _save(render_row, made.preview, made.preview.name)
            names["print_file"] = _save(render_row, made.print_file, f"parts/{made.print_file.name}")
            if made.mockup:
                names["mockup"] = _save(render_row, made.mockup, made.mockup.name)
    except RenderError as exc:
        _delete(names.values())
        return _pages_failed(render_row, _page_reason(index, str(exc)))
    except Exception as exc:  # a bug or a full disk: the render fails with it, never waits for ever
        logger.exception("page %s of render %s (project %s) failed", index + 1, render_id, project.ref)
        _delete(names.values())
        return _pages_failed(render_row, _page_reason(index, f"unexpected error: {exc.__class__.__name__}: {exc}"))
    with transaction.atomic():
        # The render's row lock: of two last pages finishing at once, the second sees the first one in.
        locked = Render.objects.select_for_update().get(pk=render_id)
        marked = locked.state == RenderState.RENDERING and RenderPage.objects.filter(
            pk=part.pk, done_at__isnull=True).update(
            done_at=now or timezone.now(), width=made.pixel_size[0], height=made.pixel_size[1],
            warnings=made.warnings, **names) == 1
        last = marked and not RenderPage.objects.filter(render_id=render_id, done_at__isnull=True).exists()
    if not marked:
        _delete(names.values())
        return locked
    return _pages_assemble(render_row) if last else locked


def _pages_assemble(render_row):
    """The PDF from the pages' print JPEGs, in page order, neither decoded nor encoded again; then the render done."""
    parts = list(RenderPage.objects.filter(render=render_row).order_by("index"))
    template = render_row.project.template

    def print_pages():
        for part in parts:
            with default_storage.open(part.print_file, "rb") as handle:
                yield handle.read(), (part.width, part.height)

    try:
        with tempfile.TemporaryDirectory(prefix=f"render-{render_row.pk}-pdf-") as scratch:
            path = Path(scratch) / "production.pdf"
            with open(path, "wb") as pdf:
                write_pdf(pdf, print_pages(), dpi=template.dpi, bleed_mm=float(template.bleed_mm),
                          title=render_row.project.ref)
            checksum = sha256_file(path).hexdigest()
            production = _save(render_row, path, _pdf_name(render_row))
    except Exception as exc:
        logger.exception("the PDF of render %s (project %s) was not assembled", render_row.pk, render_row.project.ref)
        return _pages_failed(render_row, f"unexpected error assembling the PDF: {exc.__class__.__name__}: {exc}")
    output = RenderOutput(checksum=checksum, warnings=[w for part in parts for w in part.warnings],
                          page_count=len(parts))
    names = {"previews": [part.preview for part in parts], "mockup": parts[0].mockup, "production": production}
    done = _record_done(render_row, output, names)
    if done.production_file.name != production:  # assembled twice (a stalled render taken again): not ours
        _delete([production])
    _delete([part.print_file for part in parts])
    return done


def _pages_failed(render_row, error):
    """The render failed with a page's reason; what its pages left is deleted (a failed render has no files)."""
    failed = _record_failure(render_row, error)
    if failed.state == RenderState.FAILED and failed.error == error[:2000]:
        parts = RenderPage.objects.filter(render=render_row).values_list("preview", "print_file", "mockup")
        _delete([name for row in parts for name in row])
    return failed


def _record_done(render_row, output, names):
    with transaction.atomic():
        locked = Render.objects.select_for_update().get(pk=render_row.pk)
        if locked.state != RenderState.RENDERING:  # finished meanwhile: done by another task, or failed by a page
            return locked
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
    with transaction.atomic():
        locked = Render.objects.select_for_update().get(pk=render_row.pk)
        if locked.state != RenderState.RENDERING:  # another page of it failed first, or it is done
            return locked
        logger.warning("render %s (project %s v%s) failed: %s", render_row.pk, render_row.project.ref,
                       render_row.version, error)
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
