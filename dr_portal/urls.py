from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from accounts.views import home

admin.site.site_header = "DR Portal administration"
admin.site.site_title = "DR Portal"


class FaviconView(RedirectView):
    """/favicon.ico, which browsers and tools ask for whatever the page links: the SVG icon."""

    permanent = True

    def get_redirect_url(self, *args: object, **kwargs: object) -> str:
        return static("favicon.svg")


urlpatterns = [
    path("", home, name="home"),
    path("favicon.ico", FaviconView.as_view(), name="favicon"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/", include("accounts.urls")),
    path("staff/audit/", include("audit.urls")),
    path("staff/", include("accounts.staff_urls")),
    path("patients/", include("patients.urls")),
    path("", include("screening.urls")),
    path("api/v1/", include("api.urls")),
    path("admin/", admin.site.urls),
]
handler404 = "api.exceptions.page_not_found"
handler500 = "api.exceptions.server_error"
