from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Users, roles and sites"

    def ready(self) -> None:
        # Migration 0002 creates the groups; this keeps them after a database flush (transactional
        # tests) and in step with ROLE_PERMISSIONS when it changes.
        post_migrate.connect(_sync_roles, sender=self, dispatch_uid="accounts-sync-roles")


def _sync_roles(sender: AppConfig, using: str = "default", **kwargs: object) -> None:
    from django.apps import apps
    from django.contrib.auth.management import create_permissions
    from django.contrib.auth.models import Group, Permission

    from accounts.roles import sync_role_groups

    # post_migrate reaches apps one by one; the roles need the permissions of the later ones too.
    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=using)
    sync_role_groups(Group, Permission, using=using)
