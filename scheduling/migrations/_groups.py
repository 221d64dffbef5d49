"""Shared by the data migrations that give the "Front desk" and "Manager" groups their rights.

Permissions are normally created after all migrations; `ensure_permissions` creates them first
so a fresh database can fill the groups.
"""

from django.contrib.auth.management import create_permissions


def ensure_permissions(apps) -> None:
    for app_config in apps.get_app_configs():
        original = getattr(app_config, "models_module", None)  # a module only when live
        app_config.models_module = original or True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = original


def grant(apps, group_name: str, app_label: str, spec: dict[str, list[str]]) -> None:
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=group_name)
    codenames = [f"{action}_{model}" for model, actions in spec.items() for action in actions]
    group.permissions.add(*Permission.objects.filter(content_type__app_label=app_label,
                                                     codename__in=codenames))
