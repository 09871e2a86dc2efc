"""Where a request came from, for the audit trail and sign-in throttling."""

from django.conf import settings
from django.http import HttpRequest

USER_AGENT_MAX_LENGTH = 300


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR, or with `DJANGO_TRUSTED_PROXY_COUNT` proxies in front,
    the address the nearest trusted proxy saw (X-Forwarded-For is spoofable left of that)."""
    proxies = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if proxies:
        forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [p for p in forwarded if p]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR") or None


def user_agent(request: HttpRequest) -> str:
    return request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_MAX_LENGTH]
