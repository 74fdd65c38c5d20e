"""Creating and updating stores (the `add_store` command and the admin share this)."""

from django.db import transaction

from fulfillment.models import Store


def store_save(*, slug, base_url, consumer_key, consumer_secret, webhook_secret, name=None, timezone=None,
               currency=None, query_string_auth=None, language=None):
    """Create the store `slug` or update it; returns (store, created). Raises ValidationError.

    Settings given as None keep the stored value (a new store takes the default).
    """
    with transaction.atomic():
        store = Store.objects.select_for_update().filter(slug=slug).first()
        created = store is None
        store = store or Store(slug=slug)
        store.base_url = base_url.rstrip("/")
        store.consumer_key, store.consumer_secret, store.webhook_secret = consumer_key, consumer_secret, webhook_secret
        store.name = name or store.name or slug
        if timezone:
            store.timezone = timezone
        if currency:
            store.currency = currency.upper()
        if query_string_auth is not None:
            store.query_string_auth = query_string_auth
        if language:
            store.language = language
        store.full_clean()
        store.save()
    return store, created

