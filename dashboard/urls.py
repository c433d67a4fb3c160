from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import IsAuthenticated

from accounts.views import ThrottledLoginView
from dashboard.api import not_found
from portal.views import home

handler404 = not_found

# The admin says what it administers (Django's default is "Django administration").
admin.site.site_header = _("KVM fleet administration")
admin.site.site_title = _("KVM fleet administration")
admin.site.index_title = _("Fleet data")

urlpatterns = [
    path("", home, name="home"),
    # Failed logins are counted per account and address; too many are refused for a while (accounts/).
    path("login/", ThrottledLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    # The API's description is for people who may use it: anonymous gets 403 (schema) or the login page (docs).
    path("api/schema/", SpectacularAPIView.as_view(permission_classes=[IsAuthenticated]), name="api-schema"),
    path(
        "api/docs/",
        login_required(SpectacularSwaggerView.as_view(url_name="api-schema", template_name="api_docs.html")),
        name="api-docs",
    ),
    path("api/v1/", include("vms.api.urls")),
    path("api/v1/", include("portal.api_urls")),
    path("api/v1/", include("accounts.api_urls")),
    path("", include("portal.urls")),
    path("", include("vms.urls")),
    path("", include("jobs.urls")),
]
