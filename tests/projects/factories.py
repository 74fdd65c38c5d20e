import hashlib
import io
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from PIL import Image

from projects.models import CustomerProfile, ProductTemplate, Project, ProjectAsset
from tests.factories import StoreFactory

# A square 100 × 100 mm print: one photo slot over most of the page and a caption under it.
PRINT_LAYOUT = {"background": "#ffffff", "slots": [
    {"id": "photo", "kind": "photo", "box": [10, 10, 80, 60]},
    {"id": "caption", "kind": "text", "box": [10, 75, 80, 15], "font": "DejaVuSans", "size_pt": 14,
     "colour": "#202020", "align": "center", "max_chars": 40},
]}


class ProductTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProductTemplate

    store = factory.SubFactory(StoreFactory)
    name = "Square print 10 × 10"
    product_ids = factory.LazyFunction(lambda: [501])
    trim_width_mm = Decimal("100")
    trim_height_mm = Decimal("100")
    bleed_mm = Decimal("3")
    dpi = 100
    min_pages = 1
    max_pages = 1
    page_layouts = factory.LazyFunction(lambda: [PRINT_LAYOUT])


class CustomerFactory(factory.django.DjangoModelFactory):
    """A shop customer with a My Account login (email = username, never staff)."""

    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True  # the hook writes the profile, not the user

    username = factory.Sequence(lambda n: f"customer{n}@example.com")
    email = factory.LazyAttribute(lambda o: o.username)
    is_staff = False
    password = factory.django.Password("pass-1234-word")

    @factory.post_generation
    def profile(user, create, extracted, **kwargs):
        if create:
            store = kwargs.get("store") or StoreFactory(slug="shop")
            CustomerProfile.objects.get_or_create(user=user, defaults={"store": store,
                                                                       "woo_customer_id": kwargs.get("woo_id")})


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    template = factory.SubFactory(ProductTemplateFactory)
    store = factory.LazyAttribute(lambda o: o.template.store)
    owner = None
    title = "Summer print"
    pages = factory.LazyFunction(lambda: [{"slots": {}}])


def make_asset(project, colour=(220, 40, 40), size=(800, 600)):
    """An uploaded photo of one colour in the project (a JPEG as the editor stores it)."""
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG", quality=95)
    data = buffer.getvalue()
    return ProjectAsset.objects.create(project=project, original=ContentFile(data, "original.jpg"),
                                       image=ContentFile(data, "photo.jpg"), format="JPEG", size=len(data),
                                       sha256=hashlib.sha256(data).hexdigest())
