from django.contrib.auth.management import create_permissions
from django.db import migrations

SCHEDULES = [
    # name, func, minutes
    ("Submit due orders and retry submissions", "fulfillment.tasks.production_tick", 1),
    ("Poll providers for shipments", "fulfillment.tasks.poll_provider_shipments", 15),
]


def forwards(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    for name, func, minutes in SCHEDULES:
        Schedule.objects.update_or_create(
            name=name, defaults={"func": func, "schedule_type": "I", "minutes": minutes, "repeats": -1}
        )
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    operations, _ = Group.objects.get_or_create(name="operations")
    operations.permissions.add(*Permission.objects.filter(
        content_type__app_label="fulfillment",
        codename__in=["submit_order", "view_submission", "view_provider"],
    ))
    for name in ("support", "finance"):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="fulfillment",
                                                         codename__in=["view_submission"]))


def backwards(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name__in=[s[0] for s in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [("fulfillment", "0010_production")]
    operations = [migrations.RunPython(forwards, backwards)]
