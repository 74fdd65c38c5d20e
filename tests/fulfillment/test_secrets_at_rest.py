"""The stored secrets (shop REST keys, webhook secrets, a provider's webhook token, a supplier's API key) are
encrypted at rest: a dump of the rows holds none of them, keys rotate, a missing key is a clear error, the data
migration encrypts what was stored before, and the webhook and the REST client work with them as before."""

import importlib
import logging
from io import StringIO

import pytest
from django.apps import apps
from django.core.exceptions import FieldError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from backoffice.encrypted import MARK, SecretUnreadable, store_raw, stored_values
from fulfillment.integrations.woocommerce.client import WooClient
from fulfillment.models import Provider, Store, Supplier
from fulfillment.services.webhooks import delivery_receive_for, signature_for
from tests.factories import StoreFactory
from tests.woo_payloads import order_payload

pytestmark = pytest.mark.django_db

OLD_KEY, NEW_KEY = "Mz1sK8dF4hP0wQ7yV2bN6cX9rT3gJ5uE1aL8mZ4kS0o=", "q0bG8wH3r7n1mJk2Zp5xYc9vLs4tUe6aRd0fQi3oWgA="
OTHER_KEY = "J0rV7s5cxecRqVQZvrtSlMha9lmeBKAZOaclvxU-VoY="
SECRETS = {"consumer_key": "ck_live_4f1d9a0b7c3e2d5f6a8b", "consumer_secret": "cs_live_9e8d7c6b5a4f3e2d1c0b",
           "webhook_secret": "whsec_Q2xyZ7pLm3Nv"}
COLUMNS = [("fulfillment_store", "consumer_key"), ("fulfillment_store", "consumer_secret"),
           ("fulfillment_store", "webhook_secret"), ("fulfillment_provider", "webhook_token"),
           ("fulfillment_supplier", "api_user")]
MIGRATION = importlib.import_module("fulfillment.migrations.0032_secrets_at_rest")


def shop_with_secrets():
    """A store with its keys, a provider with a webhook token and a supplier with an API key."""
    store = StoreFactory(slug="secretshop", **SECRETS)
    Provider.objects.create(store=store, name="Printful", kind="printful", webhook_token="tok_Hq7Zr2Lp9Xv4")
    Supplier.objects.create(store=store, name="BDroppy", base_url="http://127.0.0.1:9", api_user="apikey_Ws8Nc3Tf6",
                            credentials_env="REWIX_TEST_PASSWORD")
    return store


def plaintexts():
    return [*SECRETS.values(), "tok_Hq7Zr2Lp9Xv4", "apikey_Ws8Nc3Tf6"]


def raw_rows():
    """What a dump would hold: every column of the three tables, read with SQL."""
    rows = []
    with connection.cursor() as cursor:
        for table in ("fulfillment_store", "fulfillment_provider", "fulfillment_supplier"):
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 - table names of our own
            rows += [tuple(map(str, row)) for row in cursor.fetchall()]
    return rows


def raw(table, column):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table}")  # noqa: S608 - names of our own
        return [value for (value,) in cursor.fetchall()]


def read_all():
    store = Store.objects.get(slug="secretshop")
    return ({name: getattr(store, name) for name in SECRETS}, Provider.objects.get().webhook_token,
            Supplier.objects.get().api_user)


EXPECTED = (SECRETS, "tok_Hq7Zr2Lp9Xv4", "apikey_Ws8Nc3Tf6")


def test_a_dump_of_the_rows_holds_no_secret_and_the_models_read_them_back():
    shop_with_secrets()

    dump = "\n".join(" ".join(row) for row in raw_rows())
    for secret in plaintexts():
        assert secret not in dump
    for table, column in COLUMNS:
        assert all(value.startswith(MARK + "gAAAAA") for value in raw(table, column)), column
    assert read_all() == EXPECTED
    assert Store.objects.filter(slug="secretshop").values_list("consumer_secret", flat=True).get() == \
        SECRETS["consumer_secret"]


def test_an_update_is_encrypted_too_and_the_same_secret_never_gives_the_same_token():
    store = shop_with_secrets()
    before = raw("fulfillment_store", "consumer_secret")

    Store.objects.filter(pk=store.pk).update(consumer_secret=SECRETS["consumer_secret"])
    StoreFactory(slug="twin", **SECRETS)

    tokens = raw("fulfillment_store", "consumer_secret")
    assert len(set(tokens + before)) == 3 and SECRETS["consumer_secret"] not in tokens
    assert set(Store.objects.values_list("consumer_secret", flat=True)) == {SECRETS["consumer_secret"]}


def test_an_empty_secret_stays_empty_and_is_the_only_value_a_query_may_ask_for():
    store = shop_with_secrets()
    Provider.objects.create(store=store, name="Polled", kind="printful", webhook_token="")

    assert list(Provider.objects.filter(webhook_token="").values_list("name", flat=True)) == ["Polled"]
    assert list(Provider.objects.exclude(webhook_token="").values_list("name", flat=True)) == ["Printful"]
    assert "" in raw("fulfillment_provider", "webhook_token")
    # Fernet is random: a query by value would match nothing, silently. It is refused instead.
    with pytest.raises(FieldError, match=r"fulfillment.Store.webhook_secret is encrypted: it cannot be queried"):
        Store.objects.filter(webhook_secret=SECRETS["webhook_secret"]).first()
    with pytest.raises(FieldError, match=r"fulfillment.Provider.webhook_token is encrypted: .* 'startswith'"):
        Provider.objects.filter(webhook_token__startswith="tok_").first()


def test_keys_rotate_old_rows_stay_readable_rotate_secrets_reencrypts_then_the_old_key_can_go(settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    shop_with_secrets()
    under_old = {column: raw(table, column) for table, column in COLUMNS}

    # An operator puts a new key first: rows encrypted with the old one are still read.
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    assert read_all() == EXPECTED
    with pytest.raises(CommandError, match="5 stored secrets are not under the first key"):
        call_command("rotate_secrets", "--check", stdout=(out := StringIO()))
    assert "fulfillment.Store.consumer_key: 1 of 1 not under the first key" in out.getvalue()

    call_command("rotate_secrets", stdout=(out := StringIO()))
    assert "fulfillment.Store.webhook_secret: 1 of 1 re-encrypted with the first key" in out.getvalue()
    assert out.getvalue().strip().endswith("5 re-encrypted; all 5 stored secrets are under the first key.")
    assert all(raw(table, column) != under_old[column] for table, column in COLUMNS)

    # Safe to run again: nothing left to do.
    call_command("rotate_secrets", stdout=(out := StringIO()))
    assert out.getvalue().strip().endswith("0 re-encrypted; all 5 stored secrets are under the first key.")
    call_command("rotate_secrets", "--check", stdout=(out := StringIO()))
    assert out.getvalue().strip().endswith("All 5 stored secrets are under the first key.")

    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    assert read_all() == EXPECTED


def test_a_secret_no_key_opens_is_a_clear_logged_error_never_garbage(settings, caplog):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    shop_with_secrets()
    before = {column: raw(table, column) for table, column in COLUMNS}

    settings.FIELD_ENCRYPTION_KEYS = [OTHER_KEY]
    with caplog.at_level(logging.ERROR, logger="backoffice.encrypted"):
        with pytest.raises(SecretUnreadable) as error:
            Store.objects.get(slug="secretshop")

    assert str(error.value).startswith("fulfillment.Store.consumer_key cannot be decrypted with any key of "
                                       "FIELD_ENCRYPTION_KEYS: check that setting holds the key it was encrypted with")
    assert "fulfillment.Store.consumer_key cannot be decrypted with any key of FIELD_ENCRYPTION_KEYS" in caplog.text
    # Rotation cannot help either: it says which rows, and changes nothing.
    with pytest.raises(CommandError, match="5 stored secrets cannot be decrypted with any key"):
        call_command("rotate_secrets", stdout=(out := StringIO()))
    assert "fulfillment.Supplier.api_user: 0 of 1 re-encrypted with the first key, 1 unreadable (rows " in out.getvalue()
    assert {column: raw(table, column) for table, column in COLUMNS} == before


def test_plaintext_left_by_hand_is_read_as_it_is_reported_and_encrypted_by_rotation():
    store = shop_with_secrets()
    store_raw(Store.objects.all(), store.pk, "webhook_secret", "typed_in_by_sql")

    assert Store.objects.get(pk=store.pk).webhook_secret == "typed_in_by_sql"
    with pytest.raises(CommandError, match="1 stored secrets are not under the first key"):
        call_command("rotate_secrets", "--check", stdout=StringIO())
    call_command("rotate_secrets", stdout=StringIO())

    assert raw("fulfillment_store", "webhook_secret")[0].startswith(MARK)
    assert Store.objects.get(pk=store.pk).webhook_secret == "typed_in_by_sql"


def test_rotation_leaves_alone_a_secret_staff_saved_since_it_was_read(settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    store = shop_with_secrets()
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    [(pk, read)] = stored_values(Store.objects.all(), "consumer_secret")
    Store.objects.filter(pk=store.pk).update(consumer_secret="cs_saved_meanwhile")

    written = store_raw(Store.objects.all(), pk, "consumer_secret", "fernet:stale", expected=read)

    assert written == 0 and Store.objects.get(pk=store.pk).consumer_secret == "cs_saved_meanwhile"


def test_the_data_migration_encrypts_the_plaintext_rows_and_its_reverse_decrypts_them():
    shop_with_secrets()
    # Given the rows as the migration finds them: plaintext in every secret column
    for model_name, names in MIGRATION.ENCRYPTED.items():
        rows = apps.get_model("fulfillment", model_name)._base_manager.all()
        for name in names:
            for pk, stored in stored_values(rows, name):
                store_raw(rows, pk, name, getattr(rows.get(pk=pk), name))
    assert sorted(v for table, column in COLUMNS for v in raw(table, column)) == sorted(plaintexts())

    MIGRATION.encrypt_plaintext(apps, None)

    dump = "\n".join(" ".join(row) for row in raw_rows())
    assert not [secret for secret in plaintexts() if secret in dump]
    assert read_all() == EXPECTED
    tokens = {column: raw(table, column) for table, column in COLUMNS}
    MIGRATION.encrypt_plaintext(apps, None)  # run twice: what is encrypted stays as it is
    assert {column: raw(table, column) for table, column in COLUMNS} == tokens

    MIGRATION.decrypt_tokens(apps, None)

    assert sorted(v for table, column in COLUMNS for v in raw(table, column)) == sorted(plaintexts())
    assert read_all() == EXPECTED


def test_a_webhook_is_verified_against_the_encrypted_secret(client):
    store = shop_with_secrets()
    body = b'{"id": 1}'
    headers = {"X-WC-Webhook-Topic": "order.updated", "X-WC-Webhook-Delivery-ID": "d-secret"}

    refused = delivery_receive_for(slug=store.slug, body=body,
                                   headers={**headers, "X-WC-Webhook-Signature": signature_for(body, "wrong")})
    accepted = delivery_receive_for(slug=store.slug, body=body, headers={
        **headers, "X-WC-Webhook-Signature": signature_for(body, SECRETS["webhook_secret"])})

    assert (refused.status, accepted.status) == (401, 200)


def test_the_rest_client_signs_in_with_the_decrypted_keys(woo):
    store = StoreFactory(slug="woo", base_url=woo.url, consumer_key=woo.consumer_key,
                         consumer_secret=woo.consumer_secret)
    woo.add_orders([order_payload(woo_id=501)])
    assert woo.consumer_secret not in " ".join(raw("fulfillment_store", "consumer_secret"))

    order = WooClient.for_store(Store.objects.get(pk=store.pk)).get_order(501)

    assert order["id"] == 501

