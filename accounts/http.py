"""Request types for views that only signed-in users reach.

`role_required` (web) and `RolePolicy` (API) turn anonymous requests away before the view runs,
so a view behind them annotates its request with one of these and reads `request.user` as a
`User`. They narrow types only: nothing here runs differently from `HttpRequest` and `Request`.
"""

from typing import TYPE_CHECKING

from django.http import HttpRequest
from rest_framework.request import Request

from accounts.models import User


class AuthenticatedHttpRequest(HttpRequest):
    user: User


if TYPE_CHECKING:

    class AuthenticatedRequest(Request):
        @property
        def user(self) -> User: ...
        @user.setter
        def user(self, value: User) -> None: ...

else:
    AuthenticatedRequest = Request
