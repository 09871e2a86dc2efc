from django.urls import path

from screening import batch_views, review_views, views

app_name = "screening"
urlpatterns = [
    path("patients/<int:patient_pk>/visits/new/", views.visit_create_view, name="visit_create"),
    path("visits/<int:pk>/", views.visit_detail, name="visit_detail"),
    path("visits/<int:pk>/images/", views.image_upload_view, name="image_upload"),
    path("visits/<int:pk>/images/batch/", batch_views.batch_upload_page, name="batch_upload"),
    path("visits/<int:pk>/images/batch/check/", batch_views.batch_check, name="batch_check"),
    path("visits/<int:pk>/images/batch/submit/", batch_views.batch_submit, name="batch_submit"),
    path("visits/<int:pk>/images/live/", views.visit_images_live, name="visit_images_live"),
    path("staff/grading/", views.grading_dashboard, name="grading_dashboard"),
    path("images/<uuid:pk>/file/", views.image_file, {"variant": "file"}, name="image_file"),
    path("images/<uuid:pk>/thumb/", views.image_file, {"variant": "thumb"}, name="image_thumb"),
    path(
        "images/<uuid:pk>/heatmap/", views.image_file, {"variant": "heatmap"}, name="image_heatmap"
    ),
    # Doctors' review, sign-off and reports (issue 5).
    path("review/", review_views.worklist, name="worklist"),
    path("review/dashboard/", review_views.dashboard, name="review_dashboard"),
    path("visits/<int:pk>/review/", review_views.review_page, name="review"),
    path("visits/<int:pk>/review/start/", review_views.review_start_view, name="review_start"),
    path("visits/<int:pk>/review/submit/", review_views.review_submit_view, name="review_submit"),
    path(
        "visits/<int:pk>/review/withdraw/",
        review_views.review_withdraw_view,
        name="review_withdraw",
    ),
    path("visits/<int:pk>/sign/", review_views.sign_off_view, name="sign_off"),
    path("visits/<int:pk>/addenda/new/", review_views.addendum_create_view, name="addendum_add"),
    path("visits/<int:pk>/report/", review_views.report_view, name="report"),
    path("visits/<int:pk>/report.pdf", review_views.report_pdf_view, name="report_pdf"),
    path("visits/<int:pk>/letter/", review_views.letter_view, name="letter"),
    path("visits/<int:pk>/letter.pdf", review_views.letter_pdf_view, name="letter_pdf"),
]
