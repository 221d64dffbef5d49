"""Rights on the waitlist offers (front desk sees them) and on LLM wording (managers approve)."""

from django.db import migrations

from scheduling.migrations import _groups

FRONT_DESK = {"slotrelease": ["view"], "waitlistoffer": ["view"]}
MANAGER = {
    "slotrelease": ["view"],
    "waitlistoffer": ["view"],
    "messagevariant": ["view", "change"],
    "llmcall": ["view"],
    "purposeapproval": ["view", "add", "change"],
}


def forwards(apps, schema_editor):
    _groups.ensure_permissions(apps)
    _groups.grant(apps, "Front desk", "comms", FRONT_DESK)
    _groups.grant(apps, "Manager", "comms", MANAGER)


class Migration(migrations.Migration):
    dependencies = [("comms", "0005_release_per_freed_time")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
