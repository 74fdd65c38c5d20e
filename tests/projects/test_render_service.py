"""Render versions in tasks: files in storage, failures on the project and the order, orders arriving with projects."""

import hashlib
import zipfile
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image

from fulfillment.choices import EventSource, EventType, ProviderKind, SubmissionState
from fulfillment.models import OrderEvent, OrderLine, Provider, Submission
from fulfillment.services.mirror import orders_upsert
from fulfillment.services.production import production_files, production_plan
from fulfillment.services.submissions import NotEligible, order_submit
from projects.choices import ProjectState, RenderPurpose, RenderState
from projects.models import ProjectEvent, Render
from projects.services.ordering import projects_link_order_lines
from projects.services.rendering import render_execute, render_request, renders_stalled
from tests.factories import OrderFactory, OrderLineFactory, StoreFactory
from tests.projects.factories import ProjectFactory, make_asset
from tests.woo_payloads import line_item, order_payload

pytestmark = pytest.mark.django_db


def file_drop(store, folder):
    return Provider.objects.create(store=store, name="Print room", kind=ProviderKind.FILE_DROP, skus="*",
                                   folder=str(folder))


@pytest.fixture
def designed(project):
    """The project with a photo and a caption (template: 100 × 100 mm at 100 DPI, photo slot 80 × 60 mm)."""
    asset = make_asset(project)
    project.pages = [{"slots": {"photo": {"asset": asset.pk}, "caption": {"text": "Lisbon 2026"}}}]
    project.save()
    return project


@pytest.fixture
def ordered(designed, shop):
    """The project bought: linked to a line of a processing order of its shop."""
    line = OrderLineFactory(order=OrderFactory(store=shop, number="3101"), project_ref=designed.ref,
                            name="Square print", sku="PRINT-10")
    designed.order_line, designed.state = line, ProjectState.ORDERED
    designed.save()
    return designed


def test_a_render_is_numbered_rendered_after_commit_and_stored(designed, django_capture_on_commit_callbacks):
    # when
    with django_capture_on_commit_callbacks(execute=True):
        render = render_request(project=designed, purpose=RenderPurpose.PRODUCTION, reason="check")

    # then
    render.refresh_from_db()
    ref = designed.ref
    assert (render.version, render.state, render.error, render.reason) == (1, RenderState.DONE, "", "check")
    assert render.pages == designed.pages
    assert render.previews == [f"renders/{ref}/v1/page-01.jpg"]
    assert render.mockup.name == f"renders/{ref}/v1/mockup.jpg"
    assert render.production_file.name == f"renders/{ref}/v1/{ref}-v1.pdf"
    with default_storage.open(render.production_file.name, "rb") as handle:
        pdf = handle.read()
    assert pdf.startswith(b"%PDF-1.4") and render.checksum == hashlib.sha256(pdf).hexdigest()
    with default_storage.open(render.previews[0], "rb") as handle:
        assert Image.open(handle).size == (1000, 1000)
    assert render.started_at is not None and render.finished_at is not None
    assert list(ProjectEvent.objects.filter(project=designed).order_by("pk").values_list("type", "message")) == [
        ("render_requested", "Version 1 (production) asked for: check"),
        ("rendered", "Version 1 rendered (1 page)"),
    ]


def test_the_next_version_of_the_same_pages_has_the_same_checksum(designed, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = render_request(project=designed, purpose=RenderPurpose.PRODUCTION)
    with django_capture_on_commit_callbacks(execute=True):
        second = render_request(project=designed, purpose=RenderPurpose.PRODUCTION)
    designed.pages[0]["slots"]["caption"]["text"] = "Porto 2026"
    designed.save()
    with django_capture_on_commit_callbacks(execute=True):
        third = render_request(project=designed, purpose=RenderPurpose.PRODUCTION)

    first.refresh_from_db(), second.refresh_from_db(), third.refresh_from_db()
    assert [first.version, second.version, third.version] == [1, 2, 3]
    assert first.checksum == second.checksum
    assert third.checksum != first.checksum


def test_a_render_runs_once_even_when_its_task_runs_twice(designed, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        render = render_request(project=designed, purpose=RenderPurpose.PREVIEW)

    again = render_execute(render.pk)

    assert again.state == RenderState.DONE
    assert ProjectEvent.objects.filter(project=designed, type="rendered").count() == 1
    assert again.production_file.name == ""  # a preview has no print file


def test_the_pages_are_those_of_the_request_not_of_a_later_edit(designed, django_capture_on_commit_callbacks):
    # given a version asked for, then the caption changed before a worker took it
    render = render_request(project=designed, purpose=RenderPurpose.PREVIEW)
    designed.pages = [{"slots": {"caption": {"text": "Changed"}}}]
    designed.save()

    # when
    render = render_execute(render.pk)

    # then it has the photo of the pages it was asked for (a photo-less page would warn of an empty slot)
    assert render.state == RenderState.DONE and render.warnings == []


def test_low_resolution_photos_are_warned_about_on_the_render_and_the_project(project,
                                                                              django_capture_on_commit_callbacks):
    # given an 80 × 60 mm slot at 100 DPI (315 × 236 px) filled by a 100 × 75 px photo
    asset = make_asset(project, size=(100, 75))
    project.pages = [{"slots": {"photo": {"asset": asset.pk}}}]
    project.save()

    with django_capture_on_commit_callbacks(execute=True):
        render = render_request(project=project, purpose=RenderPurpose.PREVIEW)

    render.refresh_from_db(), project.refresh_from_db()
    warning = {"page": 1, "slot": "photo", "code": "low_resolution", "effective_dpi": 32, "minimum_dpi": 150,
               "message": "page 1, photo: the photo prints at 32 DPI, below 150"}
    assert render.warnings == [warning]
    assert project.warnings == [warning]


def test_a_failed_render_shows_on_the_project_and_the_order_and_blocks_submission(
        ordered, shop, django_capture_on_commit_callbacks):
    # given the client image lost from storage
    asset = ordered.assets.get()
    default_storage.delete(asset.image.name)
    provider = file_drop(shop, "/nonexistent")

    # when
    with django_capture_on_commit_callbacks(execute=True):
        render = render_request(project=ordered, purpose=RenderPurpose.PRODUCTION)

    # then
    render.refresh_from_db()
    order = ordered.order_line.order
    image_name = asset.image.name.rsplit("/", 1)[1]
    error = f"cannot read image {image_name}: [Errno 2] No such file or directory: '{asset.image.path}'"
    assert (render.state, render.error) == (RenderState.FAILED, error)
    assert ProjectEvent.objects.filter(project=ordered, type="render_failed").get().message == (
        f"Version 1 failed: {error}")
    event = OrderEvent.objects.get(order=order, type=EventType.RENDER_FAILED)
    assert event.message == f"Project {ordered.ref} v1: {error}"
    assert event.get_type_display() == "Production file failed"
    assert production_plan(order, [provider]).problems == [f"render failed: {error}"]
    with pytest.raises(NotEligible, match="render failed: cannot read image"):
        order_submit(order=order)
    assert not Submission.objects.exists()


def test_a_newer_failed_version_blocks_even_with_an_older_file(ordered, shop, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        good = render_request(project=ordered, purpose=RenderPurpose.PRODUCTION)
    Render.objects.create(project=ordered, version=2, purpose=RenderPurpose.PRODUCTION, state=RenderState.FAILED,
                          error="cannot read image x.jpg")
    provider = file_drop(shop, "/nonexistent")
    order = ordered.order_line.order

    assert production_plan(order, [provider]).problems == ["render failed: cannot read image x.jpg"]
    good.refresh_from_db()
    assert good.state == RenderState.DONE


def test_a_version_still_rendering_blocks_submission_with_its_reason(ordered, shop):
    render_request(project=ordered, purpose=RenderPurpose.PRODUCTION)  # not committed: no worker ran it
    provider = file_drop(shop, "/nonexistent")

    assert production_plan(ordered.order_line.order, [provider]).problems == [
        "the production file of Square print is being rendered (version 1)"]


def test_production_files_of_a_line_are_its_newest_done_print_file(ordered, settings,
                                                                    django_capture_on_commit_callbacks):
    line = ordered.order_line
    assert production_files(line) == []

    with django_capture_on_commit_callbacks(execute=True):
        render_request(project=ordered, purpose=RenderPurpose.PRODUCTION)
    with django_capture_on_commit_callbacks(execute=True):
        render_request(project=ordered, purpose=RenderPurpose.PREVIEW)  # a preview never becomes the print file

    name = f"renders/{ordered.ref}/v1/{ordered.ref}-v1.pdf"
    assert production_files(OrderLine.objects.get(pk=line.pk)) == [default_storage.path(name)]
    settings.PRODUCTION_FILES_BASE_URL = "https://files.example.com/media/"
    assert production_files(OrderLine.objects.get(pk=line.pk)) == [f"https://files.example.com/media/{name}"]


def test_the_print_file_goes_into_the_file_drop(ordered, shop, tmp_path, django_capture_on_commit_callbacks):
    file_drop(shop, tmp_path / "drop")
    with django_capture_on_commit_callbacks(execute=True):
        render = render_request(project=ordered, purpose=RenderPurpose.PRODUCTION)
    render.refresh_from_db()
    order = ordered.order_line.order

    with django_capture_on_commit_callbacks(execute=True):
        order_submit(order=order)

    submission = Submission.objects.get(order=order)
    assert submission.state == SubmissionState.SUBMITTED
    with zipfile.ZipFile(tmp_path / "drop" / f"{submission.external_id}.zip") as archive:
        pdf_name = f"files/{ordered.order_line.woo_line_id}-1-{ordered.ref}-v1.pdf"
        assert pdf_name in archive.namelist()
        assert hashlib.sha256(archive.read(pdf_name)).hexdigest() == render.checksum


def test_an_arriving_order_links_its_project_and_renders_it(designed, shop, django_capture_on_commit_callbacks):
    payload = order_payload(4242, line_items=[
        line_item(42421, name="Square print", sku="PRINT-10", meta=[{"id": 1, "key": "_project_id",
                                                                     "value": designed.ref}]),
        line_item(42422, name="Gift wrap", sku="WRAP"),
    ])

    with django_capture_on_commit_callbacks(execute=True):
        orders_upsert(store=shop, payloads=[payload], source=EventSource.WEBHOOK)

    designed.refresh_from_db()
    assert designed.state == ProjectState.ORDERED
    assert designed.order_line.woo_line_id == 42421 and designed.order_line.order.number == "4242"
    render = designed.renders.get()
    assert (render.version, render.purpose, render.state, render.reason) == (
        1, RenderPurpose.PRODUCTION, RenderState.DONE, "order #4242")
    order = designed.order_line.order
    timeline = list(OrderEvent.objects.filter(order=order).order_by("pk").values_list("type", "message"))
    assert timeline == [
        (EventType.CREATED, "Order #4242 received (Processing)"),
        (EventType.PROJECT_LINKED, f"Square print: project {designed.ref} (Holiday print); production file being "
                                   f"rendered (v1)"),
        (EventType.PROJECT_RENDERED, f"Project {designed.ref} v1: 1 page"),
    ]
    assert production_files(order.lines.get(woo_line_id=42421)) == [default_storage.path(render.production_file.name)]


def test_the_same_order_arriving_again_does_not_render_again(designed, shop, django_capture_on_commit_callbacks):
    meta = [{"id": 1, "key": "_project_id", "value": designed.ref}]
    with django_capture_on_commit_callbacks(execute=True):
        orders_upsert(store=shop, payloads=[order_payload(4243, line_items=[line_item(1, meta=meta)])],
                      source=EventSource.WEBHOOK)
    with django_capture_on_commit_callbacks(execute=True):
        orders_upsert(store=shop, payloads=[order_payload(4243, status="completed", line_items=[
            line_item(1, meta=meta)], modified=timezone.now())], source=EventSource.WEBHOOK)

    assert designed.renders.count() == 1
    assert OrderEvent.objects.filter(type=EventType.PROJECT_LINKED).count() == 1


def test_a_project_of_another_shop_is_not_linked(designed, shop, django_capture_on_commit_callbacks):
    other = StoreFactory(slug="other")
    meta = [{"id": 1, "key": "_project_id", "value": designed.ref}]

    with django_capture_on_commit_callbacks(execute=True):
        orders_upsert(store=other, payloads=[order_payload(4244, line_items=[line_item(1, meta=meta)])],
                      source=EventSource.WEBHOOK)

    designed.refresh_from_db()
    assert (designed.order_line, designed.state, designed.renders.count()) == (None, ProjectState.DRAFT, 0)


def test_linking_ignores_refs_that_are_no_project(shop, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert projects_link_order_lines(store=shop, refs={"prj_unknown", ""}) == []


def test_renders_left_by_a_dead_worker_are_run_again(designed):
    now = timezone.now()
    lost = Render.objects.create(project=designed, version=1, pages=designed.pages, state=RenderState.RENDERING,
                                 started_at=now - timedelta(minutes=20))
    busy = Render.objects.create(project=designed, version=2, pages=designed.pages, state=RenderState.RENDERING,
                                 started_at=now - timedelta(minutes=2))

    assert renders_stalled(now) == [lost.pk]
    assert render_execute(busy.pk, now=now).state == RenderState.RENDERING  # its worker is still on it
    assert render_execute(lost.pk, now=now).state == RenderState.DONE
