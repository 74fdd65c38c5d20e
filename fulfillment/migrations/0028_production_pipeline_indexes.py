"""Indexes of the production pipeline (fulfillment.selectors.pipeline): the dashboard's counts and the order list's
"production" filter.

- order_in_production_idx: the orders every provider accepted that have not ended (submit status "submitted", status
  not completed/cancelled/refunded/failed/trash), by store and newest first. submit_status = 'submitted' alone is
  every order ever produced; this partial index holds the ones at the providers now.
- shipment_shipped_on_idx: the parcels of the last 30 days and their orders, from the index alone ("shipped").

"waiting" reads order_waiting_submission_idx (0017) and the live-submission constraint's partial index;
"submitted" the queued submissions of submission_due_idx. Plain CREATE INDEX, as 0009 and 0017: both indexes are
small (the one on orders partial), a million-row table is read for a second or two.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('fulfillment', '0027_fetch_concurrency_and_resume'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='order',
            index=models.Index(condition=models.Q(('submit_status', 'submitted'), models.Q(('status__in', ('completed', 'cancelled', 'refunded', 'failed', 'trash')), _negated=True)), fields=['store', '-created_at', '-id'], name='order_in_production_idx'),
        ),
        migrations.AddIndex(
            model_name='shipment',
            index=models.Index(fields=['shipped_on', 'order'], name='shipment_shipped_on_idx'),
        ),
    ]
