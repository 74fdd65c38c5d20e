"""Every 5 minutes: orders whose issuing task was lost with a killed worker are queued again (invoice_sweep.py)."""

from django.db import migrations

SCHEDULE = "Issue invoices whose task was lost"


def forwards(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=SCHEDULE, defaults={"func": "accounting.tasks.issue_lost_invoices", "schedule_type": "I",
                                 "minutes": 5, "repeats": -1})


def backwards(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=SCHEDULE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounting", "0005_help_texts"),
        ("django_q", "0018_task_success_index"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
