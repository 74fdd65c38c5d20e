"""The stored secrets are write-only in the admin: the store, provider and supplier change forms never send a stored
value to the browser (a password input; empty keeps it, a hint says whether one is set), and staff who may only look
see "set" / "not set"."""

import pytest
from django import forms
from django.urls import reverse

from fulfillment.models import Provider, Store, Supplier
from tests.factories import ProviderFactory, StoreFactory, UserFactory
from tests.fulfillment.production import staff

pytestmark = pytest.mark.django_db

STORE_SECRETS = {"consumer_key": "ck_adm_5e4d3c2b1a", "consumer_secret": "cs_adm_0f9e8d7c6b",
                 "webhook_secret": "whsec_adm_A1b2C3"}
TOKEN, API_KEY = "tok_adm_Zx9Yw8Vu7", "apikey_adm_Ts6Rq5"


@pytest.fixture
def root(client):
    client.force_login(UserFactory(username="root", is_superuser=True))
    return client


@pytest.fixture
def objects(db):
    store = StoreFactory(slug="adm", **STORE_SECRETS)
    provider = ProviderFactory(store=store, webhook_token=TOKEN)
    supplier = Supplier.objects.create(store=store, name="BDroppy", base_url="http://127.0.0.1:9", api_user=API_KEY,
                                       credentials_env="REWIX_TEST_PASSWORD")
    return {"store": store, "provider": provider, "supplier": supplier}


def change_url(obj):
    return reverse(f"admin:fulfillment_{obj._meta.model_name}_change", args=[obj.pk])


def posted(response, **changes):
    """The change form's data as the browser would post it (the secret inputs come empty), with `changes`."""
    form = response.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if isinstance(field.widget, forms.PasswordInput):
            data[name] = ""
        elif isinstance(field, forms.BooleanField):
            if value:
                data[name] = "on"
        elif value is not None:
            data[name] = value
    return {**data, **changes, "_save": "Save"}


@pytest.mark.parametrize(("kind", "secrets"), [
    ("store", list(STORE_SECRETS.values())), ("provider", [TOKEN]), ("supplier", [API_KEY])])
def test_the_change_form_shows_no_stored_secret_only_that_it_is_set(root, objects, kind, secrets):
    response = root.get(change_url(objects[kind]))

    html = response.content.decode()
    assert response.status_code == 200
    assert not [secret for secret in secrets if secret in html]
    assert html.count('type="password"') == len(secrets)
    assert "Stored. Leave blank to keep it." in html


@pytest.mark.parametrize("kind", ["store", "provider", "supplier"])
def test_saving_with_the_secret_fields_empty_keeps_them(root, objects, kind):
    obj = objects[kind]
    before = {name: getattr(obj, name) for name in ("consumer_key", "consumer_secret", "webhook_secret",
                                                     "webhook_token", "api_user") if hasattr(obj, name)}
    form = root.get(change_url(obj))

    response = root.post(change_url(obj), posted(form, name="Renamed"))

    assert response.status_code == 302, response.context["adminform"].form.errors
    fresh = type(obj).objects.get(pk=obj.pk)
    assert fresh.name == "Renamed"
    assert {name: getattr(fresh, name) for name in before} == before


def test_a_new_secret_typed_in_replaces_the_stored_one(root, objects):
    store = objects["store"]
    form = root.get(change_url(store))

    root.post(change_url(store), posted(form, consumer_secret="cs_typed_in_new"))

    fresh = Store.objects.get(pk=store.pk)
    assert (fresh.consumer_key, fresh.consumer_secret) == (STORE_SECRETS["consumer_key"], "cs_typed_in_new")


def test_a_provider_s_token_is_removed_only_with_its_box_ticked(root, objects):
    provider = objects["provider"]
    form = root.get(change_url(provider))
    assert f"/webhooks/providers/{provider.pk}/ followed by the token" in form.content.decode()

    root.post(change_url(provider), posted(form, webhook_token_clear="on"))

    assert Provider.objects.get(pk=provider.pk).webhook_token == ""
    assert "Not set." in root.get(change_url(provider)).content.decode()


def test_staff_who_may_only_look_see_set_or_not_set_never_the_value(client, objects):
    Provider.objects.create(store=objects["store"], name="Polled", kind="printful", webhook_token="")
    client.force_login(staff("operations"))

    for kind, secrets in (("store", STORE_SECRETS.values()), ("provider", [TOKEN]), ("supplier", [API_KEY])):
        html = client.get(change_url(objects[kind])).content.decode()
        assert not [secret for secret in secrets if secret in html], kind
        assert "Stored secrets:" in html and "<div>webhook secret: set</div>" * (kind == "store") in html, kind
        assert 'type="password"' not in html, kind
    polled = client.get(change_url(Provider.objects.get(name="Polled"))).content.decode()
    assert "<div>webhook token: not set</div>" in polled
