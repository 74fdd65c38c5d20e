"""My Account's "not found" is the site's own page, never Django's debug page, whatever DEBUG says."""

import pytest
from django.urls import reverse

DEBUG_PAGE_MARKERS = ("Using the URLconf", "You're seeing this error because you have", "technical_404")


@pytest.mark.parametrize("debug", [True, False])
def test_another_customers_project_is_the_sites_own_404_page(client, project, other_customer, settings, debug):
    settings.DEBUG = debug
    client.force_login(other_customer)

    response = client.get(reverse("account:project", args=[project.ref]))

    assert response.status_code == 404
    assert "projects/404.html" in [t.name for t in response.templates]
    page = response.content.decode()
    assert "Page not found" in page and reverse("account:projects") in page
    assert not any(marker in page for marker in DEBUG_PAGE_MARKERS)


@pytest.mark.parametrize("path", ["/account/no-such-page/", "/account/invoices/999999/pdf/"])
def test_other_missing_account_pages_are_the_same_page_with_debug_on(client, customer, settings, path):
    settings.DEBUG = True
    client.force_login(customer)

    response = client.get(path)

    assert response.status_code == 404
    assert "projects/404.html" in [t.name for t in response.templates]
    assert not any(marker in response.content.decode() for marker in DEBUG_PAGE_MARKERS)


def test_a_404_outside_my_account_is_left_to_django(client, settings):
    settings.DEBUG = True
    response = client.get("/nowhere-at-all/")
    assert response.status_code == 404
    assert "projects/404.html" not in [t.name for t in response.templates or []]
