"""How API requests say who they are: an API token (integrating systems) or the web session.

A token request's user is scoped to the sites the token is limited to (`limit_to_token_sites`),
so every selector and service, which all go through `accounts.roles.sites_for`, sees only those.
"""

from rest_framework import authentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from accounts.api_tokens import TokenRefused, token_check, token_site_ids
from accounts.models import ApiToken, User
from accounts.roles import limit_to_token_sites

KEYWORD = "Token"


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Token drp_<prefix>_<secret>`; 401 for unknown, expired or revoked tokens."""

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.lower().encode():
            return None
        if len(parts) != 2:
            raise AuthenticationFailed(
                "Send the token as 'Authorization: Token <token>'.", "bad_header"
            )
        try:
            token = token_check(parts[1].decode("ascii"))
        except (TokenRefused, UnicodeDecodeError) as refused:
            message = str(refused) if isinstance(refused, TokenRefused) else "Invalid API token."
            raise AuthenticationFailed(message, "token_refused") from None
        user = token.user
        limit_to_token_sites(user, token_site_ids(token))
        return user, token

    def authenticate_header(self, request: Request) -> str:
        return KEYWORD


class SessionAuthentication(authentication.SessionAuthentication):
    """The web application's session (nurses, doctors, admins); unsafe methods need CSRF."""
