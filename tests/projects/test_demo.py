"""Projects' part of the demo: templates, the projects the demo's order lines name, a My Account customer, reprocess."""

import re
import zipfile
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounting.models import Invoice
from fulfillment import demo
from fulfillment.choices import EventType, ProviderKind, SubmissionState
from fulfillment.demo import demo_logins, load_demo
from fulfillment.models import OrderEvent, OrderLine, Provider, Store, Submission
from fulfillment.services.production import production_files
from fulfillment.services.submissions import order_submit
from projects.choices import ProjectState, RenderPurpose, RenderState, ReprocessState
from projects.demo import DEMO_CUSTOMER_EMAIL, demo_projects
from projects.models import ProductTemplate, Project, ProjectAsset, Render, Reprocess
from projects.services.projects import validate_pages
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
ORDERS = 20
PRINT_PAGES = 3


@pytest.fixture
def loaded(settings, tmp_path, django_capture_on_commit_callbacks):
    settings.ACCOUNTING_EXPORT_DIR = tmp_path / "exports"
    settings.DEMO_PRINT_PAGES = PRINT_PAGES
    settings.DEMO_DIR = tmp_path / "demo"  # the demo's print room and uploads
    with django_capture_on_commit_callbacks(execute=True):
        load_demo(orders_per_store=ORDERS)
    return Store.objects.order_by("slug")


def rendered_for_print(project):
    return project.renders.filter(purpose=RenderPurpose.PRODUCTION, state=RenderState.DONE).exclude(production_file="")


def check_templates(loaded):
    for store in loaded:
        templates = {t.product_ids[0]: t for t in ProductTemplate.objects.filter(store=store)}
        assert sorted(templates) == [101, 102, 103]  # photo book, mug, canvas of fulfillment.demo.PRODUCTS
        book = templates[101]
        assert (book.min_pages, book.max_pages, book.dpi, len(book.page_layouts)) == (24, 24, 300, 2)
        assert (templates[103].trim_width_mm, templates[103].trim_height_mm, templates[103].dpi) == (400, 600, 150)
        for template in templates.values():
            assert template.mockup and default_storage.exists(template.mockup.name)
            assert len(template.mockup_area) == 4
            for layout in template.page_layouts:
                assert default_storage.exists(layout["background_image"])


def check_projects_of_the_lines():
    lines = list(OrderLine.objects.exclude(project_ref="").select_related("order"))
    assert len(lines) > ORDERS  # both shops, one to three products an order
    projects = {p.ref: p for p in Project.objects.filter(ref__in=[line.project_ref for line in lines])
                .select_related("template", "order_line")}
    assert set(projects) == {line.project_ref for line in lines}
    for line in lines:
        project = projects[line.project_ref]
        assert (project.order_line_id, project.store_id, project.state) == (line.pk, line.order.store_id,
                                                                            ProjectState.ORDERED)
        assert line.product_id in project.template.product_ids
        assets = set(ProjectAsset.objects.filter(project=project).values_list("pk", flat=True))
        # the pages are what the editor could have saved: every slot filled, with the project's own photos
        assert validate_pages(project.template, project.pages, asset_ids=assets) == project.pages
        used = {v["asset"] for page in project.pages for v in page["slots"].values() if "asset" in v}
        assert used and used <= assets
    for asset in ProjectAsset.objects.all():
        assert default_storage.exists(asset.image.name) and default_storage.exists(asset.thumbnail.name)


def check_print_renders(loaded):
    rendered = [p for p in Project.objects.filter(order_line__isnull=False).select_related("template", "order_line")
                if rendered_for_print(p).exists()]
    for store in loaded:
        mine = [p for p in rendered if p.store_id == store.pk]
        assert mine and sum(p.template.min_pages for p in mine) <= PRINT_PAGES
    for project in rendered:
        render = rendered_for_print(project).get()
        assert render.version == 1 and len(render.previews) == project.template.min_pages
        assert default_storage.exists(render.production_file.name) and default_storage.exists(render.mockup.name)
        # production takes the file, and the order's timeline says where it came from
        assert production_files(project.order_line) == [default_storage.path(render.production_file.name)]
        assert set(OrderEvent.objects.filter(order_id=project.order_line.order_id, data__project_id=project.pk)
                   .values_list("type", flat=True)) == {EventType.PROJECT_LINKED, EventType.PROJECT_RENDERED}
    # the others are linked without a version yet (staff render them by reprocessing their order)
    others = Project.objects.filter(order_line__isnull=False).exclude(pk__in=[p.pk for p in rendered])
    assert others.exists() and not Render.objects.filter(project__in=others).exists()


def test_the_demo_has_templates_and_every_named_line_its_project_a_budget_of_them_rendered_for_print(
        loaded, django_capture_on_commit_callbacks):
    # each shop has the templates of its personalised products
    check_templates(loaded)
    # every line naming a project has it, linked, with its photos and pages
    check_projects_of_the_lines()
    # the print files of a budget of orders are rendered at load, through the render service
    check_print_renders(loaded)

    # and loaded again, the demo makes nothing twice
    before = (Project.objects.count(), ProjectAsset.objects.count(), Render.objects.count(),
              ProductTemplate.objects.count(), list(Project.objects.order_by("pk").values_list("pk", "order_line")))

    with django_capture_on_commit_callbacks(execute=True):
        load_demo(orders_per_store=ORDERS)

    assert (Project.objects.count(), ProjectAsset.objects.count(), Render.objects.count(),
            ProductTemplate.objects.count(),
            list(Project.objects.order_by("pk").values_list("pk", "order_line"))) == before


def test_the_demo_customer_logs_in_to_my_account_and_sees_only_their_own_projects_and_invoices(loaded, client):
    # load_demo's command prints the login it makes
    logins = demo_logins(lambda: "a-demo-password")
    assert logins == [("My Account customer login (/account/login/)", DEMO_CUSTOMER_EMAIL, "a-demo-password")]
    response = client.post(reverse("account:login"), {"username": DEMO_CUSTOMER_EMAIL, "password": "a-demo-password"})
    assert response.status_code == 302

    html = client.get(reverse("account:projects")).content.decode()

    user = response.wsgi_request.user
    profile = user.customer_profile
    mine = Project.objects.filter(owner=user)
    ordered = mine.filter(state=ProjectState.ORDERED)
    assert ordered.exists() and set(ordered.values_list("order_line__order__customer_woo_id", flat=True)) == {
        profile.woo_customer_id}
    assert mine.filter(state=ProjectState.DRAFT, order_line__isnull=True).count() == 3  # saved, not ordered
    assert html.count('class="project-card"') == mine.count()
    for project in mine:
        assert f'data-ref="{project.ref}"' in html
        render = project.renders.filter(state=RenderState.DONE).get()  # a preview in the list for every one
        assert client.get(reverse("account:render_page", args=[project.ref, render.pk, 0])).status_code == 200
    someone_else = Project.objects.exclude(owner=user).first()
    assert f'data-ref="{someone_else.ref}"' not in html
    assert client.get(reverse("account:project", args=[someone_else.ref])).status_code == 404
    # accounting's pages show the invoices of the customer's orders
    invoices = Invoice.objects.filter(store=profile.store, order__customer_woo_id=profile.woo_customer_id)
    assert invoices.exists()
    page = client.get(reverse("accounting:invoices")).content.decode()
    assert sorted(re.findall(r'data-number="([^"]+)"', page)) == sorted(invoices.values_list("number", flat=True))


def staff_post(project, **texts):
    """The staff project form as posted with the project's pages, some texts changed."""
    data = {}
    for index, page in enumerate(project.pages):
        for slot_id, value in page["slots"].items():
            prefix = f"p{index}_{slot_id}"
            if "asset" in value:
                focal = value.get("focal") or [0.5, 0.5]
                data.update({f"{prefix}_asset": str(value["asset"]), f"{prefix}_fx": str(focal[0]),
                             f"{prefix}_fy": str(focal[1]), f"{prefix}_scale": str(value.get("scale") or 1)})
            else:
                data[f"{prefix}_text"] = texts.get(slot_id, value["text"])
    return data


def test_staff_edit_a_demo_project_and_reprocess_its_order_which_is_produced_again(
        loaded, client, tmp_path, django_capture_on_commit_callbacks):
    # Given a demo order rendered at load with a single-page product, sent to a print room
    project = next(p for p in Project.objects.filter(order_line__order__status="processing")
                   .select_related("template", "order_line__order").order_by("pk")
                   if p.template.min_pages == 1 and rendered_for_print(p).exists())
    order = project.order_line.order
    first = (Submission.objects.filter(order=order, state=SubmissionState.SUBMITTED).select_related("provider")
             .first())  # the demo sends its rendered orders to its print room at load
    if first is None:
        Provider.objects.create(store=order.store, name="Print room", kind=ProviderKind.FILE_DROP, skus="*",
                                folder=str(tmp_path / "drop"))
        with django_capture_on_commit_callbacks(execute=True):
            order_submit(order=order)
        first = Submission.objects.select_related("provider").get(order=order, state=SubmissionState.SUBMITTED)
    assert first.provider.kind == ProviderKind.FILE_DROP
    staff = UserFactory(username="sofia", is_superuser=True)
    client.force_login(staff)
    text_slot = next(slot for slot, value in project.pages[0]["slots"].items() if "text" in value)

    # when support changes its text in the admin, then reprocesses the order
    with django_capture_on_commit_callbacks(execute=True):
        edited = client.post(reverse("admin:projects_project_change", args=[project.pk]),
                             staff_post(project, **{text_slot: "Happy birthday, Noor!"}))
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:projects_order_reprocess", args=[order.pk]), {"reason": "Customer's new text"})

    # then the edit made a preview (v2), the reprocess a new print version (v3) sent again as a reprint
    assert edited.status_code == 302
    project.refresh_from_db()
    assert project.pages[0]["slots"][text_slot] == {"text": "Happy birthday, Noor!"}
    versions = list(project.renders.order_by("version").values_list("version", "purpose", "state"))
    assert versions == [(1, RenderPurpose.PRODUCTION, RenderState.DONE), (2, RenderPurpose.PREVIEW, RenderState.DONE),
                        (3, RenderPurpose.PRODUCTION, RenderState.DONE)]
    old, new = project.renders.get(version=1), project.renders.get(version=3)
    assert new.checksum != old.checksum
    assert Reprocess.objects.get(order=order).state == ReprocessState.REPRINTED
    reprint = Submission.objects.get(reprint_of=first)
    assert reprint.state == SubmissionState.SUBMITTED
    with zipfile.ZipFile(Path(first.provider.folder) / f"{reprint.external_id}.zip") as archive:
        assert f"files/{project.order_line.woo_line_id}-1-{project.ref}-v3.pdf" in archive.namelist()


def test_the_demo_writes_its_projects_in_bulk(settings, tmp_path, monkeypatch, django_capture_on_commit_callbacks):
    # Given demo shops whose orders are loaded without projects, first 10 orders each, then 40
    settings.ACCOUNTING_EXPORT_DIR = tmp_path / "exports"
    settings.DEMO_PRINT_PAGES = 0
    monkeypatch.delitem(demo._store_loaded, "projects")

    def projects_of_new_orders(orders):
        with django_capture_on_commit_callbacks(execute=True):
            load_demo(orders_per_store=orders)
        store = Store.objects.get(slug="demo-uk")
        with CaptureQueriesContext(connection) as queries:
            made = demo_projects(store, 1)
        return made, len(queries)

    few, few_queries = projects_of_new_orders(10)
    many, many_queries = projects_of_new_orders(40)

    # then three times the projects take no more queries (the photos are found, not uploaded, the second time)
    assert many > 2 * few > 0
    assert many_queries <= few_queries <= 60
