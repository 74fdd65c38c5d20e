"""My Account as a customer uses it, on a phone-sized screen, in Debian's Chromium driven by Playwright."""

import io

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from PIL import Image

from projects.choices import RenderState
from projects.models import ProjectAsset, Render
from tests.factories import StoreFactory
from tests.projects.factories import CustomerFactory, ProductTemplateFactory, ProjectFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "pass-1234-word"
RED = (220, 30, 30)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def shop_projects(db):
    shop = StoreFactory(slug="shop", name="Photo shop")
    template = ProductTemplateFactory(store=shop)
    ana = CustomerFactory(username="ana@example.com", profile__store=shop)
    bruno = CustomerFactory(username="bruno@example.com", profile__store=shop)
    return {
        "mine": ProjectFactory(template=template, owner=ana, title="Holiday print"),
        "theirs": ProjectFactory(template=template, owner=bruno, title="Bruno's print"),
    }


def red_photo():
    out = io.BytesIO()
    Image.new("RGB", (800, 600), RED).save(out, "JPEG", quality=95)
    return out.getvalue()


def test_customer_uploads_a_photo_puts_it_in_a_slot_and_sees_the_preview(phone, live_server, shop_projects):
    page, project = phone, shop_projects["mine"]
    page.goto(f"{live_server.url}{reverse('account:projects')}")
    page.wait_for_url("**/account/login/?next=**")
    page.fill("#id_username", "ana@example.com")
    page.fill("#id_password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}{reverse('account:projects')}")

    cards = page.locator("#project-list .project-card")
    assert cards.count() == 1  # Bruno's print is not listed
    assert "Holiday print" in cards.first.inner_text()
    cards.first.locator("a.title").click()
    page.wait_for_selector("#editor-form")
    assert page.locator("#no-preview").is_visible()

    page.set_input_files("#id_file", files=[{"name": "beach.jpg", "mimeType": "image/jpeg", "buffer": red_photo()}])
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector(".message.success")
    asset = ProjectAsset.objects.get(project=project)
    page.check(f"input[name='slot-0-photo'][value='{asset.pk}']")
    page.fill("textarea[name='slot-0-caption']", "Summer 2026")
    page.click("#save")

    # The save asks for a preview render; the page shows it once done (polling while it is being made).
    page.wait_for_selector("img.preview-image")
    page.wait_for_function("document.querySelector('img.preview-image').naturalWidth > 0")
    render = Render.objects.get(project=project)
    assert render.state == RenderState.DONE, render.error
    assert page.locator("img.preview-image").get_attribute("src") == reverse(
        "account:render_page", args=[project.ref, render.pk, 0])
    with default_storage.open(render.previews[0]) as stored, Image.open(stored) as preview:
        width, height = preview.size
        # The photo slot's middle (trim box 10..90 × 10..70 mm, plus 3 mm of bleed) is the uploaded red.
        assert preview.convert("RGB").getpixel((width // 2, int(height * 43 / 106))) == pytest.approx(RED, abs=12)
    assert page.locator("textarea[name='slot-0-caption']").input_value() == "Summer 2026"

    page.goto(f"{live_server.url}{reverse('account:projects')}")
    thumb = page.locator("#project-list img.thumb")
    assert thumb.get_attribute("src") == reverse("account:render_page", args=[project.ref, render.pk, 0])

    # Another customer's project, its images and its previews do not exist for Ana.
    theirs = shop_projects["theirs"]
    response = page.goto(f"{live_server.url}{reverse('account:project', args=[theirs.ref])}")
    assert response.status == 404
    response = page.goto(f"{live_server.url}{reverse('account:project_delete', args=[theirs.ref])}")
    assert response.status == 404
