"""Finance looks after the accounting exports; the nightly job exports whatever is still open."""

from datetime import datetime, time, timedelta, timezone

from django.contrib.auth.management import create_permissions
from django.db import migrations

FINANCE = ["view_exportrule", "change_exportrule", "view_accountingexport", "change_accountingexport"]
SCHEDULE = "Export open orders to accounting"
# 02:30 UTC: after the evening's orders were completed in European shops, before staff start in the morning.
NIGHTLY_AT = time(2, 30)


def forwards(apps, schema_editor):
    # Permissions are normally created after all migrations; the group needs them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    finance, _ = Group.objects.get_or_create(name="finance")
    finance.permissions.add(*Permission.objects.filter(content_type__app_label="accounting", codename__in=FINANCE))

    now = datetime.now(timezone.utc)
    next_run = datetime.combine(now.date(), NIGHTLY_AT, tzinfo=timezone.utc)
    if next_run <= now:
        next_run += timedelta(days=1)
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=SCHEDULE, defaults={"func": "accounting.tasks.run_open_exports", "schedule_type": "D", "repeats": -1,
                                 "next_run": next_run},
    )


def backwards(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=SCHEDULE).delete()
    finance = apps.get_model("auth", "Group").objects.filter(name="finance").first()
    if finance is not None:
        finance.permissions.remove(*apps.get_model("auth", "Permission").objects.filter(
            content_type__app_label="accounting", codename__in=FINANCE))


class Migration(migrations.Migration):
    dependencies = [
        ("accounting", "0001_initial"),
        ("fulfillment", "0004_roles"),
        ("django_q", "0018_task_success_index"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
