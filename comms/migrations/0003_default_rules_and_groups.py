"""The default reminder cadence (7 days, 48 hours, 2 hours) and comms rights for the groups."""

from django.db import migrations

from scheduling.migrations import _groups

RULES = [("7 days before", 7 * 24 * 60, True), ("48 hours before", 48 * 60, True),
         ("2 hours before", 2 * 60, False)]
FRONT_DESK = {"outboundmessage": ["view", "change"], "messageevent": ["view"],
              "inboundmessage": ["view", "change"], "channelconsent": ["view", "change", "add"],
              "consentevent": ["view"], "reminderrule": ["view"],
              "locationmessaging": ["view"], "workerheartbeat": ["view"]}
MANAGER_EXTRA = {"reminderrule": ["add", "change", "delete"],
                 "locationmessaging": ["add", "change", "delete"]}


def forwards(apps, schema_editor):
    ReminderRule = apps.get_model("comms", "ReminderRule")
    if not ReminderRule.objects.exists():
        for name, minutes, confirm in RULES:
            ReminderRule.objects.create(name=name, minutes_before=minutes,
                                        asks_to_confirm=confirm)
    _groups.ensure_permissions(apps)
    _groups.grant(apps, "Front desk", "comms", FRONT_DESK)
    _groups.grant(apps, "Manager", "comms", FRONT_DESK)
    _groups.grant(apps, "Manager", "comms", MANAGER_EXTRA)


class Migration(migrations.Migration):
    dependencies = [("comms", "0002_outbox_consent_rules_inbox"),
                    ("scheduling", "0003_groups")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
