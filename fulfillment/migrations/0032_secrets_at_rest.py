"""The stores' REST keys and webhook secrets, the providers' webhook tokens and the suppliers' API keys encrypted at
rest (backoffice/encrypted.py): the columns become text and every plaintext value is encrypted with the first key of
FIELD_ENCRYPTION_KEYS; backwards, every value is decrypted again before the columns are narrowed."""

import django.core.validators
from django.db import migrations

import backoffice.encrypted
from backoffice.encrypted import decrypt, encrypt, is_encrypted, store_raw, stored_values

ENCRYPTED = {"Store": ("consumer_key", "consumer_secret", "webhook_secret"), "Provider": ("webhook_token",),
             "Supplier": ("api_user",)}


def _rewrite(apps, change):
    for model_name, names in ENCRYPTED.items():
        rows = apps.get_model("fulfillment", model_name)._base_manager.all()
        for name in names:
            for pk, stored in stored_values(rows, name):
                new = change(stored, f"fulfillment.{model_name}.{name} (row {pk})")
                if new != stored:
                    store_raw(rows, pk, name, new)


def encrypt_plaintext(apps, schema_editor):
    _rewrite(apps, lambda stored, label: stored if not stored or is_encrypted(stored) else encrypt(stored))


def decrypt_tokens(apps, schema_editor):
    _rewrite(apps, lambda stored, label: decrypt(stored, label=label))


class Migration(migrations.Migration):

    dependencies = [
        ('fulfillment', '0031_submission_requeue_backoff'),
    ]

    operations = [
        migrations.AlterField(
            model_name='provider',
            name='webhook_token',
            field=backoffice.encrypted.EncryptedCharField(blank=True, help_text="Secret part of this provider's webhook URL; empty: no webhook, shipments are polled.", max_length=100, verbose_name='webhook token'),
        ),
        migrations.AlterField(
            model_name='store',
            name='consumer_key',
            field=backoffice.encrypted.EncryptedCharField(max_length=200, verbose_name='REST consumer key'),
        ),
        migrations.AlterField(
            model_name='store',
            name='consumer_secret',
            field=backoffice.encrypted.EncryptedCharField(max_length=200, verbose_name='REST consumer secret'),
        ),
        migrations.AlterField(
            model_name='store',
            name='webhook_secret',
            field=backoffice.encrypted.EncryptedCharField(max_length=200, validators=[django.core.validators.RegexValidator('^[A-Za-z0-9_\\-]*$', "Use letters, digits, '-' and '_' only (WooCommerce cannot read a webhook secret back).")], verbose_name='webhook secret'),
        ),
        migrations.AlterField(
            model_name='supplier',
            name='api_user',
            field=backoffice.encrypted.EncryptedCharField(help_text='The API key the supplier gave: the user of HTTP Basic authentication.', max_length=200, verbose_name='API key (user)'),
        ),
        migrations.RunPython(encrypt_plaintext, decrypt_tokens, elidable=False),
    ]
