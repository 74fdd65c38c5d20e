"""Indexes for the order list at a million orders (measured with bench/bench_order_list.py).

- status + created + id replaces status + created: the status tab reads in the list's order without a sort, and
  the tab counts (COUNT(id) GROUP BY status) become an index-only scan instead of a scan of the whole table.
- store + status + created + id: the store filter combined with a status tab, and a store's tab counts.
- UPPER(number): the search's "=number" is an iexact lookup; without it the whole OR of the search is a table scan.
- woo_id: a number searched as a WooCommerce id; the unique (store, woo_id) index cannot serve woo_id alone.

Plain CREATE INDEX: on PostgreSQL each takes a few seconds at a million orders, writes to orders wait meanwhile.
"""

import django.db.models.functions.text
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("fulfillment", "0008_verbose_names")]

    operations = [
        migrations.RemoveIndex(model_name="order", name="order_status_created_idx"),
        migrations.AddIndex(
            model_name="order",
            index=models.Index(fields=["status", "-created_at", "-id"], name="order_status_created_id_idx"),
        ),
        migrations.AddIndex(
            model_name="order",
            index=models.Index(fields=["store", "status", "-created_at", "-id"], name="order_store_status_idx"),
        ),
        migrations.AddIndex(
            model_name="order",
            index=models.Index(django.db.models.functions.text.Upper("number"), name="order_number_upper_idx"),
        ),
        migrations.AddIndex(
            model_name="order",
            index=models.Index(fields=["woo_id"], name="order_woo_id_idx"),
        ),
    ]
