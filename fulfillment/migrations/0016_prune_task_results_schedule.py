from django.db import migrations

NAME = "Prune old results of successful tasks"


def create(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=NAME, defaults={"func": "fulfillment.tasks.prune_task_results", "schedule_type": "D", "repeats": -1},
    )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("fulfillment", "0015_accounting_event_types"), ("django_q", "0018_task_success_index")]
    operations = [migrations.RunPython(create, remove)]
