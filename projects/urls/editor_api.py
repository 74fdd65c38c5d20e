"""The editor-facing JSON API, version 1."""

from django.urls import path

from projects.views import editor_api

app_name = "editor_api"
urlpatterns = [
    path("projects/", editor_api.project_create_view, name="projects"),
    path("projects/<str:ref>/", editor_api.project_detail_view, name="project"),
    path("projects/<str:ref>/pages/", editor_api.project_pages_view, name="pages"),
    path("projects/<str:ref>/assets/", editor_api.project_asset_view, name="assets"),
    path("projects/<str:ref>/renders/", editor_api.project_render_view, name="renders"),
    path("projects/<str:ref>/renders/<int:render_id>/", editor_api.render_detail_view, name="render"),
    path("files/<str:token>/", editor_api.file_view, name="file"),
]
