"""My Account: the customers' pages (not the admin)."""

from django.urls import path
from django.views.generic import RedirectView

from projects.views import account, my_projects

app_name = "account"
urlpatterns = [
    path("", RedirectView.as_view(pattern_name="account:projects", permanent=False)),
    path("signup/", account.signup, name="signup"),
    path("login/", account.LoginView.as_view(), name="login"),
    path("logout/", account.LogoutView.as_view(), name="logout"),
    path("confirm/<str:token>/", account.confirm_email, name="confirm_email"),
    path("password-reset/", account.PasswordResetView.as_view(), name="password_reset"),
    path("password-reset/sent/", account.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("reset/<uidb64>/<token>/", account.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("reset/done/", account.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("projects/", my_projects.project_list, name="projects"),
    path("projects/<str:ref>/", my_projects.project_detail, name="project"),
    path("projects/<str:ref>/save/", my_projects.project_save, name="project_save"),
    path("projects/<str:ref>/upload/", my_projects.project_upload, name="project_upload"),
    path("projects/<str:ref>/rename/", my_projects.project_rename_view, name="project_rename"),
    path("projects/<str:ref>/duplicate/", my_projects.project_duplicate_view, name="project_duplicate"),
    path("projects/<str:ref>/delete/", my_projects.project_delete_view, name="project_delete"),
    path("projects/<str:ref>/preview-state/", my_projects.project_preview_state, name="project_preview_state"),
    path("projects/<str:ref>/images/<int:asset_id>/", my_projects.asset_file, name="asset_file"),
    path("projects/<str:ref>/renders/<int:render_id>/pages/<int:page>/", my_projects.render_page,
         name="render_page"),
    path("projects/<str:ref>/renders/<int:render_id>/mockup/", my_projects.render_mockup, name="render_mockup"),
]
