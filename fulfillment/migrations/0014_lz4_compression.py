"""LZ4 instead of pglz for the large documents we keep (an order's raw JSON, a webhook's body), on PostgreSQL.

Every imported or updated order writes its raw JSON (3-4 kB): pglz compressing it was a large part of the
INSERT's time; lz4 compresses several times faster for a little less saving. Servers built without lz4 keep
pglz (the DO block swallows "compression method lz4 not supported"); other databases are untouched.
"""

from django.db import migrations

COLUMNS = [("fulfillment_order", "raw"), ("fulfillment_webhookdelivery", "body")]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, column in COLUMNS:
        schema_editor.execute(
            f"DO $$ BEGIN ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION lz4; "
            "EXCEPTION WHEN feature_not_supported THEN NULL; END $$"
        )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, column in COLUMNS:
        schema_editor.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION pglz")


class Migration(migrations.Migration):
    dependencies = [("fulfillment", "0013_status_counts_schedule")]
    operations = [migrations.RunPython(forwards, backwards)]
