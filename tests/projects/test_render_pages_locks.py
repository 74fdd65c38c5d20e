"""The last two pages of a book finishing at the same moment in two workers (PostgreSQL): one assembly, one PDF."""

import hashlib
import threading

import pytest
from django.core.files.storage import default_storage

from projects.choices import RenderPurpose, RenderState
from projects.models import ProjectEvent, Render, RenderPage
from projects.services import rendering
from projects.services.rendering import render_execute, render_page_execute, render_request
from tests.concurrency import in_threads
from tests.projects.factories import PRINT_LAYOUT, make_asset

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_last_pages_finishing_at_once_assemble_the_pdf_once(project, template, settings, monkeypatch):
    # given a 3-page book given to page tasks, its first page in
    template.min_pages, template.max_pages, template.page_layouts = 1, 3, [PRINT_LAYOUT]
    template.save()
    project.pages = [{"slots": {"photo": {"asset": make_asset(project, (60 * n, 90, 200)).pk},
                                "caption": {"text": f"Page {n + 1}"}}} for n in range(3)]
    project.save()
    settings.RENDER_PAGE_TASKS_FROM = 2
    monkeypatch.setattr(rendering, "enqueue", lambda *args, **kwargs: None)  # the page tasks are run below
    render = render_request(project=project, purpose=RenderPurpose.PRODUCTION)
    render_execute(render.pk)
    render_page_execute(render.pk, 0)

    # and pages 2 and 3 rendered side by side, both done drawing before either marks itself in
    drawn = threading.Barrier(2)
    draw = rendering.render_book_page

    def drawn_together(*args, **kwargs):
        made = draw(*args, **kwargs)
        drawn.wait(timeout=120)
        return made

    assemblies = []
    assemble = rendering._pages_assemble

    def counted(render_row):
        assemblies.append(render_row.pk)
        return assemble(render_row)

    monkeypatch.setattr(rendering, "render_book_page", drawn_together)
    monkeypatch.setattr(rendering, "_pages_assemble", counted)

    # when both finish at once
    outcomes = in_threads(2, lambda i: render_page_execute(render.pk, i + 1).state)

    # then exactly one of them assembled the PDF, and the render is done once
    assert assemblies == [render.pk]
    assert sorted(outcomes) == [RenderState.DONE, RenderState.RENDERING]
    render = Render.objects.get(pk=render.pk)
    assert render.state == RenderState.DONE
    with default_storage.open(render.production_file.name, "rb") as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == render.checksum
    assert render.previews == [f"renders/{project.ref}/v1/page-{n:02d}.jpg" for n in (1, 2, 3)]
    assert RenderPage.objects.filter(render=render, done_at__isnull=False).count() == 3
    assert ProjectEvent.objects.filter(project=project, type="rendered").count() == 1
    _dirs, files = default_storage.listdir(f"renders/{project.ref}/v1")
    assert sorted(files) == sorted(["mockup.jpg", "page-01.jpg", "page-02.jpg", "page-03.jpg", f"{project.ref}-v1.pdf"])
