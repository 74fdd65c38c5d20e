"""Accounting's part of the demo: the first demo shop books its completed orders (files under ACCOUNTING_EXPORT_DIR)."""

from accounting.models import ExportRule


def demo_export_rule(store, index):
    if index == 0:
        ExportRule.objects.get_or_create(store=store, defaults={"statuses": ["completed"]})
