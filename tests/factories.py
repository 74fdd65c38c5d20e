from datetime import UTC, datetime
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from fulfillment.models import Order, OrderLine, Provider, Store


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"shop{n}")
    name = factory.LazyAttribute(lambda o: f"Shop {o.slug}")
    base_url = "http://127.0.0.1:9"  # nothing listens there: tests that talk to a shop set a real server
    consumer_key = "ck_test_0123456789abcdef"
    consumer_secret = "cs_test_fedcba9876543210"
    webhook_secret = "whsecret123"
    timezone = "Europe/Amsterdam"
    currency = "EUR"


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    store = factory.SubFactory(StoreFactory)
    woo_id = factory.Sequence(lambda n: 1000 + n)
    number = factory.LazyAttribute(lambda o: str(o.woo_id))
    status = "processing"
    created_at = factory.LazyFunction(lambda: datetime(2026, 11, 1, 10, 0, tzinfo=UTC))
    modified_at = factory.LazyAttribute(lambda o: o.created_at)
    customer_name = "Ben Schmidt"
    customer_email = factory.LazyAttribute(lambda o: f"customer{o.woo_id}@example.com")
    city = "Wien"
    country = "AT"
    currency = "EUR"
    total = Decimal("40.08")
    payment_method_title = "Direct bank transfer"
    item_count = 1
    shipping = factory.LazyFunction(lambda: {"first_name": "Ben", "last_name": "Schmidt", "address_1": "Hauptstraße 2",
                                             "city": "Wien", "postcode": "1010", "country": "AT"})


class OrderLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrderLine

    order = factory.SubFactory(OrderFactory)
    woo_line_id = factory.Sequence(lambda n: 5000 + n)
    name = "Photo mug"
    sku = "MUG-11"
    quantity = 1
    total = Decimal("9.50")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"staff{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    is_staff = True
    password = factory.django.Password("pass-1234-word")


class ProviderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Provider

    store = factory.SubFactory(StoreFactory)
    name = "Printful"
    kind = "printful"
    skus = "*"
    base_url = "http://127.0.0.1:9"  # nothing listens there: tests that submit point it at the fake provider
    credentials_env = "PRINTFUL_TEST_TOKEN"
