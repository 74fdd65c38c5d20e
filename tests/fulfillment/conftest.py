"""Staff in their roles (groups made by the roles migration), for the fulfillment tests that act as one."""

import pytest

from tests.fulfillment.production import staff


@pytest.fixture
def ops(db):
    return staff("operations")


@pytest.fixture
def support(db):
    return staff("support")


@pytest.fixture
def finance(db):
    return staff("finance")
