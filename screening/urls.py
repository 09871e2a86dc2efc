from django.urls import path

from screening import views

app_name = "screening"
urlpatterns = [
    path("patients/<int:patient_pk>/visits/new/", views.visit_create_view, name="visit_create"),
    path("visits/<int:pk>/", views.visit_detail, name="visit_detail"),
    path("visits/<int:pk>/images/", views.image_upload_view, name="image_upload"),
    path("visits/<int:pk>/images/live/", views.visit_images_live, name="visit_images_live"),
    path("staff/grading/", views.grading_dashboard, name="grading_dashboard"),
    path("images/<uuid:pk>/file/", views.image_file, {"variant": "file"}, name="image_file"),
    path("images/<uuid:pk>/thumb/", views.image_file, {"variant": "thumb"}, name="image_thumb"),
    path(
        "images/<uuid:pk>/heatmap/", views.image_file, {"variant": "heatmap"}, name="image_heatmap"
    ),
]
