"""Indexes for the managers' dashboard (bench/README.dashboard.md has the measurements).

Answer(response, code, value_int) lets the top-box query read the answers of the period's
responses from the index alone (no heap visits), joined on the response's denormalised filters.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("surveys", "0002_standard_survey")]

    operations = [
        migrations.AddIndex(
            model_name="answer",
            index=models.Index(fields=["response", "code", "value_int"], name="answer_topbox_idx"),
        ),
    ]
