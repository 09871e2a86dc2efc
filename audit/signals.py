"""Sign-ins, sign-outs, failed sign-ins and lockouts go to the audit trail.

Django's auth signals are the only hook for these events (they happen inside Django's and
django-axes' views), so this is the one place the audit trail is written from receivers.
"""

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from accounts.models import User
from audit.services import audit_record

USERNAME_MAX_LENGTH = 150


@receiver(user_logged_in, dispatch_uid="audit_login")
def _logged_in(sender: type, request: HttpRequest | None, user: User, **kwargs: object) -> None:
    audit_record(actor=user, action="auth.login", obj=user, request=request)


@receiver(user_logged_out, dispatch_uid="audit_logout")
def _logged_out(
    sender: type, request: HttpRequest | None, user: User | None, **kwargs: object
) -> None:
    audit_record(actor=user, action="auth.logout", obj=user, request=request)


@receiver(user_login_failed, dispatch_uid="audit_login_failed")
def _login_failed(
    sender: type,
    credentials: dict[str, object],
    request: HttpRequest | None = None,
    **kwargs: object,
) -> None:
    # Django has already masked the password in `credentials`; only the username is kept.
    username = str(credentials.get("username", ""))[:USERNAME_MAX_LENGTH]
    audit_record(
        actor=None, action="auth.login_failed", changes={"username": username}, request=request
    )


@receiver(user_locked_out, dispatch_uid="audit_locked_out")
def _locked_out(
    sender: str, request: HttpRequest | None, username: str | None = None, **kwargs: object
) -> None:
    audit_record(
        actor=None,
        action="auth.locked_out",
        changes={"username": (username or "")[:USERNAME_MAX_LENGTH]},
        request=request,
    )
