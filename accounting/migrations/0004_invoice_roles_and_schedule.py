"""Finance issues, corrects and exports invoices; support may look at them; a job exports what is due every 5 min."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLES = {
    "finance": ["view_invoice", "add_invoice", "change_invoice", "view_invoicerule", "change_invoicerule",
                "add_invoicerule", "view_invoiceseries", "add_invoiceseries", "change_invoiceseries",
                "view_invoiceproblem", "view_vatcheck"],
    "support": ["view_invoice"],
    "operations": ["view_invoice"],
}
SCHEDULE = "Export invoices that are due"


def forwards(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group, Permission = apps.get_model("auth", "Group"), apps.get_model("auth", "Permission")
    for name, codenames in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="accounting",
                                                         codename__in=codenames))
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=SCHEDULE, defaults={"func": "accounting.tasks.export_due_invoices", "schedule_type": "I",
                                 "minutes": 5, "repeats": -1})


def backwards(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=SCHEDULE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounting", "0003_invoices"),
        ("django_q", "0018_task_success_index"),
    ]
    operations = [migrations.RunPython(forwards, backwards)]
