from django.db import migrations

NAME = "Recount the order list's status tabs"


def create(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=NAME, defaults={"func": "fulfillment.tasks.refresh_status_counts", "schedule_type": "I", "minutes": 1,
                             "repeats": -1},
    )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("fulfillment", "0012_project_event_types")]
    operations = [migrations.RunPython(create, remove)]
