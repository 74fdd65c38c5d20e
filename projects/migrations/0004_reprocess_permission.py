"""Support and operations may reprocess an order; support edits projects, operations look at them."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "support": ["reprocess_project", "view_project", "change_project", "view_render", "view_producttemplate"],
    "operations": ["reprocess_project", "view_project", "view_render", "view_producttemplate"],
}


def grant(apps, schema_editor):
    # Permissions are normally created after all migrations; the groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="projects", codename__in=codenames))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        for group in Group.objects.filter(name=name):
            group.permissions.remove(*Permission.objects.filter(content_type__app_label="projects",
                                                                codename__in=codenames))


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0003_render_versions_and_reprocess"),
        ("fulfillment", "0004_roles"),
    ]
    operations = [migrations.RunPython(grant, revoke)]
