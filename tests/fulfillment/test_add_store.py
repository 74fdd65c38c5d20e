"""manage.py add_store: create or update a store from the command line, never printing a secret."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from fulfillment.models import Store

pytestmark = pytest.mark.django_db

KEY, SECRET, WEBHOOK_SECRET = "ck_5f1e0c9a8b7d6e5f4a3b2c1d", "cs_9a8b7c6d5e4f3a2b1c0d9e8f", "HookSecret2026xyz"


def add_store(*args, **options):
    """Run the command; (stdout, stderr)."""
    out, err = StringIO(), StringIO()
    call_command("add_store", *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def keys(**changes):
    options = {"url": "https://shop.example.com/", "consumer_key": KEY, "consumer_secret": SECRET,
               "webhook_secret": WEBHOOK_SECRET, **changes}
    return [f"--{name.replace('_', '-')}={value}" for name, value in options.items()]


def test_creates_a_store_and_prints_its_webhook_url_but_no_secret():
    # When
    out, err = add_store("myshop", *keys(), "--name=My shop", "--timezone=Europe/Amsterdam", "--currency=eur")

    # Then the store is there as given (the URL without its trailing slash, the currency upper case)
    store = Store.objects.get()
    assert (store.slug, store.name, store.base_url, store.timezone, store.currency) == (
        "myshop", "My shop", "https://shop.example.com", "Europe/Amsterdam", "EUR")
    assert (store.consumer_key, store.consumer_secret, store.webhook_secret) == (KEY, SECRET, WEBHOOK_SECRET)
    assert store.query_string_auth is False
    # and what is printed names the store and its webhook URL, nothing secret
    assert out == "Created store myshop (https://shop.example.com). Webhook URL: /webhooks/woocommerce/myshop/\n"
    assert err == ""


def test_a_new_store_takes_the_defaults_for_what_is_not_given():
    add_store("plain", *keys())

    store = Store.objects.get()
    assert (store.name, store.timezone, store.currency, store.query_string_auth) == ("plain", "UTC", "EUR", False)


def test_updates_an_existing_store_and_keeps_what_is_not_given():
    # Given a store
    add_store("myshop", *keys(), "--name=My shop", "--timezone=Europe/Amsterdam", "--currency=EUR")

    # When it is run again with new keys and a new URL, without name, timezone or currency
    out, err = add_store("myshop", *keys(url="https://www.shop.example.com", consumer_secret="cs_rotated_0000001111"))

    # Then the same store is updated, keeping its name, timezone and currency
    store = Store.objects.get()
    assert (store.base_url, store.consumer_secret) == ("https://www.shop.example.com", "cs_rotated_0000001111")
    assert (store.name, store.timezone, store.currency) == ("My shop", "Europe/Amsterdam", "EUR")
    assert out == ("Updated store myshop (https://www.shop.example.com). "
                   "Webhook URL: /webhooks/woocommerce/myshop/\n")
    assert "cs_rotated_0000001111" not in out + err


def test_query_string_auth_is_set_kept_and_unset():
    # When a store is created with --query-string-auth
    out, _ = add_store("strip", *keys(), "--query-string-auth")

    # Then it is set, and said
    assert Store.objects.get().query_string_auth is True
    assert out.endswith("Webhook URL: /webhooks/woocommerce/strip/ Keys sent in the query string.\n")

    # And an update without the option keeps it; --no-query-string-auth turns it off
    add_store("strip", *keys())
    assert Store.objects.get().query_string_auth is True
    add_store("strip", *keys(), "--no-query-string-auth")
    assert Store.objects.get().query_string_auth is False


@pytest.mark.parametrize(("args", "message"), [
    (keys(url="not a url"), "--url: Enter a valid URL."),
    (keys(webhook_secret="has spaces!"),
     "--webhook-secret: Use letters, digits, '-' and '_' only (WooCommerce cannot read a webhook secret back)."),
    ([*keys(), "--timezone=Mars/Olympus"], "--timezone: Mars/Olympus is not a known timezone (e.g. Europe/Amsterdam)."),
    ([*keys(), "--currency=EURO"], "--currency: Ensure this value has at most 3 characters (it has 4)."),
    (keys(consumer_secret=""), "--consumer-secret: This field cannot be blank."),
])
def test_invalid_values_are_refused_naming_the_option_and_nothing_is_saved(args, message):
    with pytest.raises(CommandError) as error:
        add_store("myshop", *args)

    assert str(error.value) == message
    assert Store.objects.count() == 0


def test_several_errors_are_given_at_once():
    with pytest.raises(CommandError) as error:
        add_store("myshop", *keys(url="ftp:/nope", webhook_secret="bad secret"), "--timezone=Nowhere")

    assert str(error.value) == (
        "--url: Enter a valid URL.; --webhook-secret: Use letters, digits, '-' and '_' only (WooCommerce cannot read "
        "a webhook secret back).; --timezone: Nowhere is not a known timezone (e.g. Europe/Amsterdam)."
    )


def test_a_refused_update_shows_no_secret_and_changes_nothing():
    # Given a store
    add_store("myshop", *keys(), "--name=My shop")

    # When an update with new secrets fails on another value
    with pytest.raises(CommandError) as error:
        add_store("myshop", *keys(consumer_key="ck_new_22223333", consumer_secret="cs_new_44445555",
                                  webhook_secret="new secret with spaces"))

    # Then the error names the option, not a secret, and the stored keys are the old ones
    assert str(error.value).startswith("--webhook-secret: Use letters, digits")
    for secret in ("ck_new_22223333", "cs_new_44445555", "new secret with spaces", KEY, SECRET):
        assert secret not in str(error.value)
    store = Store.objects.get()
    assert (store.consumer_key, store.consumer_secret, store.webhook_secret) == (KEY, SECRET, WEBHOOK_SECRET)


def test_the_keys_are_required():
    with pytest.raises(CommandError) as error:
        add_store("myshop", "--url=https://shop.example.com")

    assert str(error.value) == ("Error: the following arguments are required: --consumer-key, --consumer-secret, "
                                "--webhook-secret")
    assert Store.objects.count() == 0
