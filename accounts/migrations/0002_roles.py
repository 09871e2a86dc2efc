"""Create the four role groups and give them their model permissions."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

# Frozen copy of accounts.roles.ROLE_PERMISSIONS as of this migration; later changes get new ones.
ROLE_PERMISSIONS = {
    "nurse": [
        "patients.view_patient",
        "patients.add_patient",
        "patients.change_patient",
        "screening.view_visit",
        "screening.add_visit",
        "screening.change_visit",
        "screening.view_fundusimage",
        "screening.add_fundusimage",
    ],
    "doctor": ["patients.view_patient", "screening.view_visit", "screening.view_fundusimage"],
    "admin": [
        "accounts.view_site",
        "accounts.add_site",
        "accounts.change_site",
        "accounts.view_user",
        "accounts.add_user",
        "accounts.change_user",
        "patients.view_patient",
        "screening.view_visit",
        "screening.view_fundusimage",
    ],
    "api_client": [
        "patients.view_patient",
        "patients.add_patient",
        "screening.view_visit",
        "screening.add_visit",
        "screening.view_fundusimage",
        "screening.add_fundusimage",
    ],
}


def create_roles(apps, schema_editor):
    for app_config in apps.get_app_configs():  # permissions normally appear only after migrate
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for role, names in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        for name in names:
            app_label, codename = name.split(".")
            group.permissions.add(
                permission_model.objects.get(content_type__app_label=app_label, codename=codename)
            )


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLE_PERMISSIONS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("patients", "0001_initial"),
        ("screening", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]
    operations = [migrations.RunPython(create_roles, remove_roles)]
