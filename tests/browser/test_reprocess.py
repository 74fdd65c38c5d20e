"""Support corrects an ordered project and reprocesses the order, in Debian's Chromium driven by Playwright."""

import hashlib
import importlib
import io

import pytest
from django.apps import apps
from django.core.files.base import ContentFile
from django.urls import reverse
from PIL import Image

from fulfillment.choices import ProviderKind, SubmissionState
from fulfillment.models import Provider, Submission
from fulfillment.services.submissions import order_submit
from projects.choices import ProjectState, RenderPurpose
from projects.models import ProjectAsset
from projects.services.rendering import render_request
from tests.browser.conftest import loaded_width, log_in
from tests.factories import OrderFactory, OrderLineFactory, StoreFactory
from tests.projects.factories import CustomerFactory, ProductTemplateFactory, ProjectFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def submitted_order(staff, tmp_path):
    """Order #3101 with Ana's print, rendered (v1) and sent to the print room."""
    importlib.import_module("projects.migrations.0004_reprocess_permission").grant(apps, None)
    shop = StoreFactory(slug="shop", name="Photo shop")
    project = ProjectFactory(template=ProductTemplateFactory(store=shop), title="Holiday print",
                             owner=CustomerFactory(username="ana@example.com", profile__store=shop))
    buffer = io.BytesIO()
    Image.new("RGB", (800, 600), (220, 40, 40)).save(buffer, "JPEG")
    data = buffer.getvalue()
    asset = ProjectAsset.objects.create(project=project, original=ContentFile(data, "original.jpg"),
                                        image=ContentFile(data, "photo.jpg"), format="JPEG", size=len(data),
                                        sha256=hashlib.sha256(data).hexdigest())
    order = OrderFactory(store=shop, woo_id=3101, number="3101")
    project.pages = [{"slots": {"photo": {"asset": asset.pk}, "caption": {"text": "Lisbon 2026"}}}]
    project.order_line = OrderLineFactory(order=order, project_ref=project.ref, name="Square print", sku="PRINT-10")
    project.state = ProjectState.ORDERED
    project.save()
    Provider.objects.create(store=shop, name="Print room", kind=ProviderKind.FILE_DROP, skus="*",
                            folder=str(tmp_path / "drop"))
    render_request(project=project, purpose=RenderPurpose.PRODUCTION)  # committed: rendered at once (sync tasks)
    order_submit(order=order)
    assert Submission.objects.get().state == SubmissionState.SUBMITTED
    return order, project


def test_support_corrects_the_caption_and_reprocesses_the_order(page, live_server, staff, submitted_order):
    order, project = submitted_order
    staff("support")
    log_in(page, live_server, "support")

    # the order page shows the line's preview, print file and client image
    page.goto(f"{live_server.url}{reverse('admin:fulfillment_order_change', args=[order.pk])}")
    box = page.locator(f".project-box[data-project='{project.ref}']")
    assert "Print file, version 1 (PDF)" in box.inner_text()
    assert loaded_width(box.locator(".live-preview img")) == 1000
    assert box.locator(".client-images img").count() == 1

    # support opens the project and corrects the caption
    box.locator(f"a:has-text('{project.ref}')").click()
    page.wait_for_selector("#project-edit-form")
    page.fill("textarea[name=p0_caption_text]", "Lisboa 2026")
    page.click("#project-edit-form input[type=submit]")
    page.wait_for_selector(".messagelist .success")
    assert "version 2" in page.inner_text(".messagelist")
    assert loaded_width(page.locator(".page-previews img").first) == 1000

    # and reprocesses the order, with a reason
    page.click("#project-order")
    page.click("#reprocess-panel summary")
    page.fill("#reprocess-reason", "Customer asked for Lisboa")
    page.click("#reprocess-form button[type=submit]")
    page.wait_for_selector(".messagelist .success")

    timeline = page.inner_text("#timeline")
    assert f"Customer asked for Lisboa ({project.ref} v1 → v3)" in timeline
    assert f"Rendered again ({project.ref} v3); reprint queued for Print room" in timeline
    assert "support" in timeline
    assert "Print file, version 3 (PDF)" in page.inner_text(f".project-box[data-project='{project.ref}']")
    assert "reprint: Customer asked for Lisboa" in page.inner_text("#production")
