import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from tests.factories import StoreFactory
from tests.projects.factories import CustomerFactory, ProductTemplateFactory, ProjectFactory


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    """Uploads and renders go to a directory of the test's own."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def shop(db):
    return StoreFactory(slug="shop", name="Photo shop")


@pytest.fixture
def template(shop):
    return ProductTemplateFactory(store=shop)


@pytest.fixture
def customer(shop):
    return CustomerFactory(username="ana@example.com", profile__store=shop)


@pytest.fixture
def other_customer(shop):
    return CustomerFactory(username="bruno@example.com", profile__store=shop)


@pytest.fixture
def project(customer, template):
    return ProjectFactory(template=template, owner=customer, title="Holiday print")


def jpeg(size=(64, 48), colour=(220, 40, 40)):
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG", quality=95)
    return out.getvalue()


def photo_upload(name="photo.jpg", **kwargs):
    return SimpleUploadedFile(name, jpeg(**kwargs), content_type="image/jpeg")
