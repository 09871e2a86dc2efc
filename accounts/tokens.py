"""One-time links for setting a password (invitations and admin-triggered resets).

The token is Django's password-reset token with its own salt: it hashes the user's current password
hash and last login, so it stops working as soon as it has been used, and after
`PASSWORD_RESET_TIMEOUT` seconds.
"""

from django.contrib.auth.tokens import PasswordResetTokenGenerator


class SetPasswordTokenGenerator(PasswordResetTokenGenerator):
    key_salt = "accounts.tokens.SetPasswordTokenGenerator"


set_password_token = SetPasswordTokenGenerator()
