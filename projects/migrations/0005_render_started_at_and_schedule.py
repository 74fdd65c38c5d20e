from django.db import migrations, models

SCHEDULE = ("Render versions left by a dead worker", "projects.tasks.rerun_stalled_renders", 10)


def add_schedule(apps, schema_editor):
    name, func, minutes = SCHEDULE
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=name, defaults={"func": func, "schedule_type": "I", "minutes": minutes, "repeats": -1})


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=SCHEDULE[0]).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('projects', '0004_reprocess_permission'),
        ('django_q', '0018_task_success_index'),
    ]

    operations = [
        migrations.AddField(
            model_name='render',
            name='started_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(add_schedule, remove_schedule),
    ]
