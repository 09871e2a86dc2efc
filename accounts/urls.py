"""Self-service account pages: changing one's password and using a one-time set-password link."""

from django.urls import path

from accounts import views

app_name = "accounts"
urlpatterns = [
    path("password/", views.password_change_view, name="password_change"),
    path(
        "set-password/<uidb64>/<token>/",
        views.SetPasswordFromLinkView.as_view(),
        name="set_password",
    ),
]
