from django.urls import path

from accounts import staff_views as views

app_name = "staff"
urlpatterns = [
    path("users/", views.user_list, name="user_list"),
    path("users/new/", views.user_create_view, name="user_create"),
    path("users/<int:pk>/", views.user_detail, name="user_detail"),
    path("users/<int:pk>/deactivate/", views.user_deactivate_view, name="user_deactivate"),
    path("users/<int:pk>/reactivate/", views.user_reactivate_view, name="user_reactivate"),
    path("users/<int:pk>/invite/", views.user_invite_view, name="user_invite"),
    path(
        "users/<int:pk>/reset-password/",
        views.user_reset_password_view,
        name="user_reset_password",
    ),
    path("users/<int:pk>/tokens/", views.api_tokens_view, name="api_tokens"),
    path("tokens/<int:pk>/revoke/", views.api_token_revoke_view, name="api_token_revoke"),
    path("sites/", views.site_list_view, name="site_list"),
    path("sites/new/", views.site_create_view, name="site_create"),
    path("sites/<int:pk>/edit/", views.site_edit_view, name="site_edit"),
    path("sites/<int:pk>/deactivate/", views.site_deactivate_view, name="site_deactivate"),
    path("sites/<int:pk>/reactivate/", views.site_reactivate_view, name="site_reactivate"),
]
