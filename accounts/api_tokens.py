"""API tokens: generating, hashing and checking them (the rows are `accounts.models.ApiToken`).

A token reads `drp_<prefix>_<secret>`. The prefix is public and finds the row; the secret has 256
bits of entropy, so a fast SHA-256 is enough to make a stolen database useless (no slow password
hash is needed for a random secret), and it is compared in constant time.
"""

import datetime
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.utils import timezone

from accounts.models import ApiToken

SCHEME = "drp"
LAST_USED_RESOLUTION = datetime.timedelta(minutes=1)  # at most one write per token per minute


@dataclass(frozen=True)
class NewSecret:
    plaintext: str
    prefix: str
    secret_hash: str


class TokenRefused(Exception):
    """The token is unknown, expired, revoked or belongs to a deactivated account."""


def new_secret() -> NewSecret:
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return NewSecret(f"{SCHEME}_{prefix}_{secret}", prefix, hash_secret(secret))


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_check(raw: str, *, now: datetime.datetime | None = None) -> ApiToken:
    """The live token `raw` stands for (its user and sites loaded); raise TokenRefused otherwise.

    Marks the token used (at most once a minute, so polling clients do not write on every request).
    """
    now = now or timezone.now()
    scheme, _, rest = raw.partition("_")
    prefix, _, secret = rest.partition("_")
    if scheme != SCHEME or not prefix or not secret:
        raise TokenRefused("Invalid API token.")
    token = (
        ApiToken.objects.select_related("user")
        .prefetch_related("sites")
        .filter(prefix=prefix)
        .first()
    )
    if token is None or not hmac.compare_digest(token.secret_hash, hash_secret(secret)):
        raise TokenRefused("Invalid API token.")
    if token.is_revoked:
        raise TokenRefused("This API token has been revoked. Ask an administrator for a new one.")
    if token.is_expired(now):
        raise TokenRefused(
            f"This API token expired at {token.expires_at:%Y-%m-%d %H:%M} UTC. "
            "Ask an administrator for a new one."
        )
    if not token.user.is_active:
        raise TokenRefused("The account this API token belongs to is deactivated.")
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def token_site_ids(token: ApiToken) -> list[int]:
    """The sites the token is limited to (empty: all of its user's sites)."""
    return [site.pk for site in token.sites.all()]
