from django.db import migrations

SCHEDULES = [
    # name, func, minutes
    ("Reconcile stores with WooCommerce", "fulfillment.tasks.sync_all_stores", 5),
    ("Send due pushes to WooCommerce", "fulfillment.tasks.dispatch_due_pushes", 1),
]


def create(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    for name, func, minutes in SCHEDULES:
        Schedule.objects.update_or_create(
            name=name, defaults={"func": func, "schedule_type": "I", "minutes": minutes, "repeats": -1}
        )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name__in=[s[0] for s in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("fulfillment", "0001_initial"),
        ("django_q", "0018_task_success_index"),
    ]
    operations = [migrations.RunPython(create, remove)]
