"""A big book rendered page by page in tasks of their own: the same PDF, failures with their page, the reprint after."""

import hashlib
import zipfile

import pytest
from django.core.files.storage import default_storage

from fulfillment.choices import EventType, ProviderKind, SubmissionState
from fulfillment.models import OrderEvent, Provider, Submission
from fulfillment.services.submissions import order_submit
from projects.choices import ProjectState, RenderPurpose, RenderState, ReprocessState
from projects.models import ProjectAsset, ProjectEvent, Render, RenderPage
from projects.services import rendering
from projects.services.rendering import render_execute, render_page_execute, render_request, renders_stalled
from projects.services.reprocess import order_reprocess
from tests.factories import OrderFactory, OrderLineFactory
from tests.projects.factories import PRINT_LAYOUT, make_asset

pytestmark = pytest.mark.django_db
PAGES = 5


@pytest.fixture
def book(project, template):
    """A 5-page book: a photo and a caption on each page, page 4's photo too small for print (a warning)."""
    template.min_pages, template.max_pages, template.page_layouts = 1, 10, [PRINT_LAYOUT]
    template.save()
    assets = [make_asset(project, (40 * n, 200 - 30 * n, 90), size=(80, 60) if n == 3 else (800, 600))
              for n in range(PAGES)]
    project.pages = [{"slots": {"photo": {"asset": a.pk, "focal": [0.3, 0.5]}, "caption": {"text": f"Day {n + 1}"}}}
                     for n, a in enumerate(assets)]
    project.save()
    return project


def read(name):
    with default_storage.open(name, "rb") as handle:
        return handle.read()


def stored_under(folder):
    _dirs, files = default_storage.listdir(folder)
    return sorted(files)


def test_a_book_rendered_page_by_page_is_the_same_pdf_as_in_one_task(book, settings,
                                                                      django_capture_on_commit_callbacks):
    # given the book rendered in one task
    settings.RENDER_PAGE_TASKS_FROM = 100
    with django_capture_on_commit_callbacks(execute=True):
        whole = render_request(project=book, purpose=RenderPurpose.PRODUCTION)
    whole.refresh_from_db()
    assert whole.state == RenderState.DONE and not RenderPage.objects.filter(render=whole).exists()

    # when the same pages are rendered again, one task per page
    settings.RENDER_PAGE_TASKS_FROM = 2
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        split = render_request(project=book, purpose=RenderPurpose.PRODUCTION)

    # then the print file is byte for byte the same, and so are the previews, the mock-up and the warnings
    split.refresh_from_db()
    assert len(callbacks) == 1 + PAGES  # the render's task, then one per page
    assert (split.state, split.error) == (RenderState.DONE, "")
    assert split.checksum == whole.checksum == hashlib.sha256(read(split.production_file.name)).hexdigest()
    assert read(split.production_file.name) == read(whole.production_file.name)
    ref = book.ref
    assert split.production_file.name == f"renders/{ref}/v2/{ref}-v2.pdf"
    assert split.previews == [f"renders/{ref}/v2/page-{n:02d}.jpg" for n in range(1, PAGES + 1)]
    assert [read(p) for p in split.previews] == [read(p) for p in whole.previews]
    assert split.mockup.name == f"renders/{ref}/v2/mockup.jpg" and read(split.mockup.name) == read(whole.mockup.name)
    assert split.warnings == whole.warnings
    assert [(w["page"], w["code"]) for w in split.warnings] == [(4, "low_resolution")]
    # the pages' print JPEGs are gone once the PDF holds them; the rows say when each page was in
    assert stored_under(f"renders/{ref}/v2/parts") == []
    assert list(RenderPage.objects.filter(render=split).values_list("index", flat=True)) == list(range(PAGES))
    assert not RenderPage.objects.filter(render=split, done_at__isnull=True).exists()
    assert ProjectEvent.objects.filter(project=book, type="rendered").count() == 2


def test_a_page_task_run_again_changes_nothing(book, settings, django_capture_on_commit_callbacks):
    settings.RENDER_PAGE_TASKS_FROM = 2
    with django_capture_on_commit_callbacks(execute=True):
        render = render_request(project=book, purpose=RenderPurpose.PRODUCTION)
    render.refresh_from_db()
    files = stored_under(f"renders/{book.ref}/v1")

    again = render_page_execute(render.pk, 2)

    assert (again.state, again.checksum) == (RenderState.DONE, render.checksum)
    assert stored_under(f"renders/{book.ref}/v1") == files
    assert ProjectEvent.objects.filter(project=book, type="rendered").count() == 1


def test_a_failed_page_fails_the_render_with_its_reason_and_leaves_no_file(book, shop, settings,
                                                                           django_capture_on_commit_callbacks):
    # given the book ordered, and page 3's photo broken on disk
    line = OrderLineFactory(order=OrderFactory(store=shop, number="3102"), project_ref=book.ref, name="Photo book",
                            sku="BOOK-20")
    book.order_line, book.state = line, ProjectState.ORDERED
    book.save()
    broken = ProjectAsset.objects.get(pk=book.pages[2]["slots"]["photo"]["asset"])
    with default_storage.open(broken.image.name, "wb") as handle:
        handle.write(b"not a jpeg")
    settings.RENDER_PAGE_TASKS_FROM = 2

    # when it is rendered page by page
    with django_capture_on_commit_callbacks(execute=True):
        render = render_request(project=book, purpose=RenderPurpose.PRODUCTION)

    # then the render failed with the page and its reason, on the project and on the order, once
    render.refresh_from_db()
    assert render.state == RenderState.FAILED
    assert render.error.startswith("page 3: cannot read image photo")
    assert (render.production_file.name, render.previews, render.checksum) == ("", [], "")
    assert ProjectEvent.objects.filter(project=book, type="render_failed").count() == 1
    failed = OrderEvent.objects.get(order=line.order, type=EventType.RENDER_FAILED)
    assert "page 3: cannot read image photo" in failed.message
    # the broken page was queued first (an unreadable photo counts as the costliest): nothing else was rendered
    assert not default_storage.exists(f"renders/{book.ref}/v1")
    assert not RenderPage.objects.filter(render=render, done_at__isnull=False).exists()


def test_a_page_lost_with_its_worker_is_rendered_again_and_assembled_by_the_watchdog(
        book, settings, monkeypatch, django_capture_on_commit_callbacks):
    # given a book whose last page task never ran (its worker died with it)
    settings.RENDER_PAGE_TASKS_FROM = 2
    queued = []
    monkeypatch.setattr(rendering, "enqueue", lambda func, *args: queued.append((func, args)))
    render = render_request(project=book, purpose=RenderPurpose.PRODUCTION)
    render_execute(render.pk)
    for func, args in queued[1:-1]:
        render_page_execute(*args)
    lost = queued[-1][1][1]
    assert Render.objects.get(pk=render.pk).state == RenderState.RENDERING

    # when the watchdog finds it stalled and takes it again
    later = Render.objects.get(pk=render.pk).started_at + rendering.STALLED_AFTER * 2
    assert renders_stalled(now=later) == [render.pk]
    queued.clear()
    render_execute(render.pk, now=later)

    # then only the lost page is queued again, and it completes the book
    assert queued == [("projects.tasks.render_page", (render.pk, lost))]
    done = render_page_execute(render.pk, lost)
    assert done.state == RenderState.DONE
    assert done.checksum == hashlib.sha256(read(done.production_file.name)).hexdigest()


def test_reprocess_of_a_book_rendered_page_by_page_reprints_it(book, shop, tmp_path, settings,
                                                                django_capture_on_commit_callbacks):
    # given a book ordered, rendered and sent to the print room
    Provider.objects.create(store=shop, name="Print room", kind=ProviderKind.FILE_DROP, skus="*",
                            folder=str(tmp_path / "drop"))
    line = OrderLineFactory(order=OrderFactory(store=shop, woo_id=3103, number="3103"), project_ref=book.ref,
                            name="Photo book", sku="BOOK-20")
    book.order_line, book.state = line, ProjectState.ORDERED
    book.save()
    settings.RENDER_PAGE_TASKS_FROM = 2
    with django_capture_on_commit_callbacks(execute=True):
        render_request(project=book, purpose=RenderPurpose.PRODUCTION)
    with django_capture_on_commit_callbacks(execute=True):
        (first,) = order_submit(order=line.order)
    first.refresh_from_db()
    assert first.state == SubmissionState.SUBMITTED

    # when support reprocesses it
    with django_capture_on_commit_callbacks(execute=True):
        reprocess = order_reprocess(order=line.order, reason="Brighter cover", user=None)

    # then the reprint follows the last page of the new version, with its print file
    reprocess.refresh_from_db()
    new = book.renders.get(version=2)
    assert (new.state, reprocess.state) == (RenderState.DONE, ReprocessState.REPRINTED)
    reprint = Submission.objects.get(reprint_of=first)
    with zipfile.ZipFile(tmp_path / "drop" / f"{reprint.external_id}.zip") as archive:
        pdf = archive.read(f"files/{line.woo_line_id}-1-{book.ref}-v2.pdf")
    assert hashlib.sha256(pdf).hexdigest() == new.checksum


def test_the_page_tasks_are_queued_costliest_first(book, settings, monkeypatch):
    # given a book whose page 2 holds a bigger photo and page 4 a tiny one
    big = make_asset(book, (10, 20, 30), size=(1600, 1200))
    book.pages[1]["slots"]["photo"]["asset"] = big.pk
    book.save()
    settings.RENDER_PAGE_TASKS_FROM = 2
    queued = []
    monkeypatch.setattr(rendering, "enqueue", lambda func, *args: queued.append((func, args)))

    # when it is given to page tasks
    render = render_request(project=book, purpose=RenderPurpose.PRODUCTION)
    render_execute(render.pk)

    # then the workers get the biggest page first and the tiny one last (the others in page order), so that they
    # finish together rather than one of them waiting for the other's last big page
    assert [args[1] for func, args in queued if func == "projects.tasks.render_page"] == [1, 0, 2, 4, 3]
