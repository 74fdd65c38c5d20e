"""Substring search on customer name and email: trigram GIN indexes on PostgreSQL.

The admin's search runs UPPER(col) LIKE UPPER('%term%'); a b-tree cannot serve that, a trigram index can.
Other databases keep the b-tree indexes of 0001.
"""

from django.db import migrations

INDEXES = {
    "order_customer_name_trgm": "customer_name",
    "order_email_trgm": "customer_email",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, column in INDEXES.items():
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS {name} ON fulfillment_order USING gin (UPPER("{column}"::text) gin_trgm_ops)'
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("fulfillment", "0004_roles")]
    operations = [migrations.RunPython(create, drop)]
