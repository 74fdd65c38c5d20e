from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from django.urls import include, path
from django.views.generic import RedirectView

from backoffice import views

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("", include("fulfillment.urls")),
    path("i18n/setlang/", views.set_language, name="set_language"),
    path("admin/", admin.site.urls),
    path("account/", include("projects.urls.account")),
    path("", include("accounting.urls")),
    path("api/editor/v1/", include("projects.urls.editor_api")),
]

admin.site.site_header = _("Order back-office")
admin.site.site_title = _("Order back-office")
admin.site.index_title = _("Today")
