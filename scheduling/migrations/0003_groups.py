"""The "Front desk" and "Manager" groups with their permissions.

Permissions are normally created after all migrations; create them here first so the groups can
be filled on a fresh database. Later apps extend the groups in their own migrations.
"""

from django.db import migrations

from scheduling.migrations import _groups

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


def create_groups(apps, schema_editor):
    _groups.ensure_permissions(apps)
    _groups.grant(apps, "Front desk", "scheduling", FRONT_DESK)
    _groups.grant(apps, "Manager", "scheduling", FRONT_DESK)
    _groups.grant(apps, "Manager", "scheduling", MANAGER_EXTRA)


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0002_no_overlap_constraint"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]
