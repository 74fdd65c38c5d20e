"""The admin says which outside systems are the demo's local stand-ins (DEMO_SYSTEMS, set by scripts/run.sh)."""

from django.urls import reverse

from tests.factories import UserFactory


def test_the_admin_lists_the_demo_stand_ins_when_there_are_some(client, db, settings):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    settings.DEMO_SYSTEMS = [("WooCommerce shop demo-eu", "http://127.0.0.1:8089"),
                             ("Printful (provider)", "http://127.0.0.1:8090")]

    page = client.get(reverse("admin:index")).content.decode()

    assert "Demo: every outside system is a local stand-in on this machine" in page
    assert "WooCommerce shop demo-eu" in page and 'href="http://127.0.0.1:8090"' in page

    settings.DEMO_SYSTEMS = []
    assert "local stand-in" not in client.get(reverse("admin:index")).content.decode()
