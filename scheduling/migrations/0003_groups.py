"""The "Front desk" and "Manager" groups with their permissions.

Permissions are normally created after all migrations; create them here first so the groups can
be filled on a fresh database. Later apps extend the groups in their own migrations.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

FRONT_DESK = {
    "patient": ["add", "change", "view"],
    "appointment": ["add", "change", "view"],
    "appointmentrequest": ["add", "change", "view", "delete"],
    "appointmentchange": ["view"],
    "provider": ["view"],
    "location": ["view"],
    "appointmenttype": ["view"],
    "specialty": ["view"],
    "workinghours": ["view"],
    "break": ["view"],
    "timeoff": ["view"],
    "clinicclosure": ["view"],
}
MANAGER_EXTRA = {
    "provider": ["add", "change"],
    "location": ["add", "change"],
    "appointmenttype": ["add", "change"],
    "specialty": ["add", "change"],
    "workinghours": ["add", "change", "delete"],
    "break": ["add", "change", "delete"],
    "timeoff": ["add", "change", "delete"],
    "clinicclosure": ["add", "change", "delete"],
}


def grant(apps, group_name: str, app_label: str, spec: dict[str, list[str]]) -> None:
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=group_name)
    codenames = [f"{action}_{model}" for model, actions in spec.items() for action in actions]
    perms = Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
    group.permissions.add(*perms)


def create_groups(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    grant(apps, "Front desk", "scheduling", FRONT_DESK)
    grant(apps, "Manager", "scheduling", FRONT_DESK)
    grant(apps, "Manager", "scheduling", MANAGER_EXTRA)


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0002_no_overlap_constraint"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]
