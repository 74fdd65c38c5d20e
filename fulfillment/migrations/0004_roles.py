"""Staff roles: operations, support and finance, as Django groups with their permissions."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLES = {
    "operations": [
        "view_order", "change_order_status", "add_tracking", "add_order_note", "view_shipment", "view_refund",
        "view_storepush", "change_storepush", "view_webhookdelivery", "view_importrun", "add_importrun",
        "view_store",
    ],
    "support": [
        "view_order", "add_order_note", "change_order_address", "view_shipment", "view_refund", "view_storepush",
        "view_store",
    ],
    "finance": [
        "view_order", "refund_order", "export_orders", "view_refund", "view_shipment", "view_storepush",
        "view_store",
    ],
}


def create_roles(apps, schema_editor):
    # Permissions are normally created after all migrations; the groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="fulfillment", codename__in=codenames)
        )


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("fulfillment", "0003_order_desk"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(create_roles, remove_roles)]
