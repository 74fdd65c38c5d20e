from django.db import migrations

NAME = "Delete render versions superseded long ago"


def create(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=NAME, defaults={"func": "projects.tasks.prune_renders", "schedule_type": "D", "repeats": -1},
    )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("projects", "0006_projectevent_text"), ("django_q", "0018_task_success_index")]
    operations = [migrations.RunPython(create, remove)]
