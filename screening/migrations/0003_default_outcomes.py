"""The default outcome table from the programme's clinical conventions (editable in admin)."""

from django.db import migrations

OUTCOMES = [
    ("0", "Routine rescreen in 12 months", False, 12, None),
    ("1", "Rescreen in 12 months (6 months if risk factors)", False, 12, None),
    ("2", "Refer to ophthalmology, routine (within ~13 weeks)", True, None, 13),
    ("3", "Refer to ophthalmology, soon (within ~4 weeks)", True, None, 4),
    ("4", "Refer to ophthalmology, urgent (within ~2 weeks)", True, None, 2),
    ("DME", "Refer to ophthalmology, routine at least (macular oedema)", True, None, 13),
    ("U", "Re-image, or refer for slit-lamp examination (ungradable)", True, None, None),
]


def add_outcomes(apps, schema_editor):
    rule = apps.get_model("screening", "OutcomeRule")
    for key, label, referral, recall, within in OUTCOMES:
        rule.objects.update_or_create(
            key=key,
            defaults={
                "label": label,
                "referral": referral,
                "recall_months": recall,
                "refer_within_weeks": within,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("screening", "0002_grading")]
    operations = [migrations.RunPython(add_outcomes, migrations.RunPython.noop)]
