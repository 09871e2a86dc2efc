"""Sign-offs froze the patient's sex as its display label ("Female"); they now freeze the code
("female") and reports derive the label. This rewrites the labels already frozen.

The content does not change (each label names exactly one code), only its representation, so the
append-only rule is suspended for this rewrite alone: on PostgreSQL the trigger of migration 0005 is
disabled and re-enabled inside the migration's transaction.
"""

from django.db import migrations, models

# The labels as they stood when sign-offs stored them (patients.Patient.Sex), frozen here so that
# a later change of labels cannot change what this migration does.
LABEL_TO_CODE = {"Female": "female", "Male": "male", "Other": "other", "Not recorded": "unknown"}
CODE_TO_LABEL = {code: label for label, code in LABEL_TO_CODE.items()}
TRIGGER = "screening_signoff_append_only"


def rewrite_sex(apps, schema_editor, mapping):
    SignOff = apps.get_model("screening", "SignOff")
    changed = [
        sign_off
        for sign_off in SignOff.objects.only("pk", "patient_as_signed")
        if sign_off.patient_as_signed.get("sex") in mapping
    ]
    if not changed:
        return
    postgres = schema_editor.connection.vendor == "postgresql"
    if postgres:  # ALTER TABLE refuses while deferred checks of this transaction are pending
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        schema_editor.execute(f"ALTER TABLE screening_signoff DISABLE TRIGGER {TRIGGER}")
    for sign_off in changed:
        frozen = sign_off.patient_as_signed
        SignOff.objects.filter(pk=sign_off.pk).update(
            patient_as_signed={**frozen, "sex": mapping[frozen["sex"]]}
        )
    if postgres:
        schema_editor.execute(f"ALTER TABLE screening_signoff ENABLE TRIGGER {TRIGGER}")


def forwards(apps, schema_editor):
    rewrite_sex(apps, schema_editor, LABEL_TO_CODE)


def backwards(apps, schema_editor):
    rewrite_sex(apps, schema_editor, CODE_TO_LABEL)


class Migration(migrations.Migration):
    dependencies = [("screening", "0006_sign_off_patient_details")]
    operations = [
        migrations.AlterField(
            model_name="signoff",
            name="patient_as_signed",
            field=models.JSONField(
                default=dict,
                help_text="Name, MRN, date of birth (ISO) and sex (its code, not its label) as the "
                "report stated them when it was signed.",
                verbose_name="patient details at signing",
            ),
        ),
        migrations.RunPython(forwards, backwards),
    ]
