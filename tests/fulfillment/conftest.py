"""Staff in their roles (groups made by the roles migration), for the fulfillment tests that act as one; the shop and
its Printful provider of the submission tests."""

import pytest

from tests.factories import StoreFactory
from tests.fulfillment.production import printful_provider, staff


@pytest.fixture
def ops(db):
    return staff("operations")


@pytest.fixture
def support(db):
    return staff("support")


@pytest.fixture
def finance(db):
    return staff("finance")


@pytest.fixture
def shop(db):
    return StoreFactory(slug="dasto", name="Dastomize")


@pytest.fixture
def pf(shop, printful):
    """The shop's Printful provider, talking to the `printful` stand-in."""
    return printful_provider(shop, printful)
