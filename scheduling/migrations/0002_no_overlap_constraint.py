"""On PostgreSQL the database itself refuses overlapping bookings (btree_gist exclusion).

SQLite has no exclusion constraints; there the services' locked checks are the guard, and SQLite
serialises writers anyway.
"""

from django.db import migrations

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS btree_gist",
    """ALTER TABLE scheduling_appointment ADD CONSTRAINT appointment_provider_no_overlap
       EXCLUDE USING gist (provider_id WITH =, tstzrange(start, blocked_until, '[)') WITH &&)
       WHERE (status <> 'cancelled')""",
    """ALTER TABLE scheduling_appointment ADD CONSTRAINT appointment_patient_no_overlap
       EXCLUDE USING gist (patient_id WITH =, tstzrange(start, "end", '[)') WITH &&)
       WHERE (status <> 'cancelled')""",
]
BACKWARD = [
    "ALTER TABLE scheduling_appointment DROP CONSTRAINT IF EXISTS appointment_provider_no_overlap",
    "ALTER TABLE scheduling_appointment DROP CONSTRAINT IF EXISTS appointment_patient_no_overlap",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0001_initial")]
    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
