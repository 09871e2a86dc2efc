"""The default outcome table from the programme's clinical conventions (editable in admin)."""

from django.db import migrations


def add_outcomes(apps, schema_editor):
    from screening.outcomes import install_default_outcomes

    install_default_outcomes(apps.get_model("screening", "OutcomeRule"))


class Migration(migrations.Migration):
    dependencies = [("screening", "0002_grading")]
    operations = [migrations.RunPython(add_outcomes, migrations.RunPython.noop)]
